"""``python -m governance.cli``."""

from governance.cli import app

app()
