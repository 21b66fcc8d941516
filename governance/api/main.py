"""The ASGI app for uvicorn (``governance.api.main:app``), configured from the environment."""

from governance.api.app import create_app
from governance.config import get_settings
from governance.logs import setup_logging

setup_logging(get_settings().log_level)
app = create_app()
