"""Logging of the service and the CLI: one format, to the current stderr."""

from __future__ import annotations

import logging
import sys
from typing import Any


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now, not the one at set-up (which a test runner,
    or a daemonizing parent, may have closed since)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(level: str = "INFO") -> None:
    """Log at ``level`` to stderr; quiet the chatty libraries."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[_CurrentStderr()],
    )
    # pycasbin logs every request at INFO/WARNING; our audit trail is the record
    logging.getLogger("casbin").setLevel(logging.ERROR)
    # Presidio logs each analyzer build step at INFO, and warns about every recognizer of a
    # language the registry does not load (es, it, pl ...): noise on every start
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
