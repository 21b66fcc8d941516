"""The ASGI app for uvicorn (``governance.api.main:app``), configured from the environment."""

from governance.api.app import create_app
from governance.cli import setup_logging
from governance.config import get_settings

setup_logging(get_settings().log_level)
app = create_app()
