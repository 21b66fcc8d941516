"""Hot reload: a thread that notices edited policy files and asks the PDP to swap them in."""

from __future__ import annotations

import logging
import threading

from governance.pdp.engine import PolicyDecisionPoint

log = logging.getLogger(__name__)


class PolicyWatcher:
    """Polls the policy files' sizes and times; a change that has settled triggers a validated
    reload (see ``PolicyDecisionPoint.check_for_changes``)."""

    def __init__(self, pdp: PolicyDecisionPoint, interval: float, settle: float = 0.0) -> None:
        self._pdp = pdp
        self._interval = interval
        self._settle = settle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="policy-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._pdp.check_for_changes(self._settle)
            except Exception:
                log.exception("policy watcher failed; will look again")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
