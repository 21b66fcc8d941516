"""The policy decision point: the current policy bundle, decisions, and hot reload.

The current bundle and its decision cache live in one immutable ``_State`` that a reload swaps
in a single assignment, so a decision always sees one consistent policy version and the cache
can never serve an answer from another version. Any exception while deciding is a deny.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from governance.errors import InvalidPolicy
from governance.pdp.bundle import (
    TESTS_DIR,
    Fingerprint,
    PolicyBundle,
    analyse_policy_dir,
    fingerprint,
)
from governance.pdp.decision import AccessRequest, Decision, Effect
from governance.pdp.enforcer import Outcome
from governance.pdp.obligations import ObligationError
from governance.pii.types import UNKNOWN

log = logging.getLogger(__name__)

ClassificationLookup = Callable[[str], Mapping[str, str]]
"""Extra column classifications for a dataset (column → PII type), e.g. confirmed scans."""


@dataclass
class _State:
    bundle: PolicyBundle
    cache: dict[Any, Decision] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    at: datetime
    version: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class PolicyStatus:
    version: str
    loaded_at: datetime
    directory: str
    files: Mapping[str, str]
    rules: int
    fast_path: bool
    fast_path_disabled_reason: str | None
    warnings: tuple[str, ...]
    last_rejection: Rejection | None
    reloads: int


@dataclass(frozen=True)
class ReloadResult:
    changed: bool
    version: str
    errors: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.errors


def _freeze(value: Any) -> Any:
    """A hashable, type-preserving key for JSON-like values (True and 1 stay different)."""
    if isinstance(value, dict):
        return ("d", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("l", tuple(_freeze(v) for v in value))
    return (type(value).__name__, value)


class PolicyDecisionPoint:
    """Decides access requests against the current policy version."""

    def __init__(
        self,
        bundle: PolicyBundle,
        *,
        cache_size: int = 100_000,
        classifications: ClassificationLookup | None = None,
        fast_path: bool = True,
        source: Path | None = None,
        run_tests: bool = True,
    ) -> None:
        self._state = _State(bundle)
        self._fast_path = fast_path
        # the directory as configured (a symlink or a ConfigMap mount is followed per load)
        self._directory = source or bundle.directory
        self._fingerprint = fingerprint(self._directory)
        self._pending: tuple[Fingerprint, float] | None = None
        self._cache_size = cache_size
        self._classifications = classifications
        self._run_tests = run_tests
        self._reload_lock = threading.Lock()
        self._last_rejection: Rejection | None = None
        self._reloads = 0
        self._listeners: list[Callable[[PolicyBundle], None]] = []

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        *,
        cache_size: int = 100_000,
        classifications: ClassificationLookup | None = None,
        fast_path: bool = True,
        run_tests: bool = True,
    ) -> PolicyDecisionPoint:
        """Load the policy or raise ``InvalidPolicy``: the service refuses to start without one.

        With ``run_tests`` the stewards' test cases (``tests/*.yaml``) must pass too, as on
        every reload."""
        analysis = analyse_policy_dir(directory, fast_path=fast_path)
        if analysis.bundle is None:
            errors = [str(f) for f in analysis.errors]
            raise InvalidPolicy(f"policy does not load: {errors[0]}", errors)
        if run_tests:
            failures = policy_test_failures(analysis.bundle, fast_path=fast_path)
            if failures:
                raise InvalidPolicy(f"policy tests fail: {failures[0]}", failures)
        return cls(
            analysis.bundle,
            cache_size=cache_size,
            classifications=classifications,
            fast_path=fast_path,
            source=directory,
            run_tests=run_tests,
        )

    # ---- policy lifecycle --------------------------------------------------------------------

    @property
    def bundle(self) -> PolicyBundle:
        return self._state.bundle

    @property
    def version(self) -> str:
        return self._state.bundle.version

    @property
    def directory(self) -> Path:
        """The policy directory as configured (its snapshot is resolved on every load)."""
        return self._directory

    def on_reload(self, listener: Callable[[PolicyBundle], None]) -> None:
        self._listeners.append(listener)

    def use_classifications(self, lookup: ClassificationLookup | None) -> None:
        """Column classifications beyond the catalog (confirmed reviews); drops the cache."""
        self._classifications = lookup
        self.invalidate()

    def invalidate(self) -> None:
        """Drop cached decisions (classifications changed); the policy stays."""
        self._state = _State(self._state.bundle)

    def _reject(self, version: str, errors: tuple[str, ...]) -> ReloadResult:
        current = self._state.bundle.version
        self._last_rejection = Rejection(datetime.now(UTC), version, errors)
        log.error(
            "rejected policy edit (version %s): %d error(s); still serving %s; first: %s",
            version[:12] or "?",
            len(errors),
            current[:12],
            errors[0] if errors else "",
        )
        return ReloadResult(False, current, errors)

    def reload(self, *, force: bool = False) -> ReloadResult:
        """Validate the policy directory and swap it in; an invalid edit keeps the old policy.

        A candidate is served only if it loads, lints, can be evaluated, and passes the
        stewards' test cases; and only if no file changed while it was being read (a torn read
        is retried on the next look, not served)."""
        with self._reload_lock:
            current = self._state.bundle
            before = fingerprint(self._directory)
            try:
                analysis = analyse_policy_dir(self._directory, fast_path=self._fast_path)
                failures = (
                    policy_test_failures(analysis.bundle, fast_path=self._fast_path)
                    if analysis.bundle is not None and self._run_tests
                    else []
                )
            except Exception as exc:  # a reload must never take the service down
                log.exception("policy reload crashed; keeping version %s", current.version[:12])
                self._fingerprint = before
                return self._reject("", (f"reload failed: {type(exc).__name__}: {exc}",))
            if fingerprint(self._directory) != before:
                log.info("policy files changed while being read; will read them again")
                return ReloadResult(
                    False, current.version, ("the files changed while being read; retrying",)
                )
            self._fingerprint = before
            if analysis.bundle is None:
                return self._reject(analysis.version, tuple(str(f) for f in analysis.errors))
            if failures:
                return self._reject(analysis.version, tuple(failures))
            self._last_rejection = None  # the files in place are good again
            if analysis.bundle.version == current.version and not force:
                return ReloadResult(False, current.version)
            self._state = _State(analysis.bundle)
            self._reloads += 1
            log.info(
                "policy version %s now serving (was %s)",
                analysis.bundle.version[:12],
                current.version[:12],
            )
            for listener in self._listeners:
                try:
                    listener(analysis.bundle)
                except Exception:
                    log.exception("policy reload listener failed")
            return ReloadResult(True, analysis.bundle.version)

    def check_for_changes(
        self, settle_seconds: float = 0.0, *, now: float | None = None
    ) -> ReloadResult | None:
        """Reload once the files changed and then stayed unchanged for ``settle_seconds``.

        A steward's editor, a ``git pull`` or a copy writes files in several steps; reading in
        between would judge (and perhaps serve) half an edit."""
        current = fingerprint(self._directory)
        if current == self._fingerprint:
            self._pending = None
            return None
        moment = time.monotonic() if now is None else now
        if self._pending is None or self._pending[0] != current:
            self._pending = (current, moment)
            if settle_seconds > 0:
                return None
        elif moment - self._pending[1] < settle_seconds:
            return None
        self._pending = None
        return self.reload()

    def status(self) -> PolicyStatus:
        bundle = self._state.bundle
        return PolicyStatus(
            version=bundle.version,
            loaded_at=bundle.loaded_at,
            directory=str(self._directory),
            files=dict(bundle.files),
            rules=len(bundle.lines.rules),
            fast_path=bundle.fast is not None,
            fast_path_disabled_reason=bundle.fast_disabled_reason,
            warnings=tuple(str(w) for w in bundle.warnings if w.severity == "warning"),
            last_rejection=self._last_rejection,
            reloads=self._reloads,
        )

    # ---- decisions ---------------------------------------------------------------------------

    def decide(self, request: AccessRequest) -> Decision:
        """The decision for ``request``; never raises, and denies on any doubt."""
        state = self._state
        bundle = state.bundle
        try:
            ctx = request.casbin_context()
            key = None
            if self._cache_size:
                key = (
                    request.subject.id,
                    tuple(request.subject.roles),
                    request.resource.dataset,
                    None if request.resource.columns is None else tuple(request.resource.columns),
                    request.action,
                    request.purpose,
                    _freeze(ctx),
                )
                hit = state.cache.get(key)
                if hit is not None:
                    return hit
            decision = self._decide(bundle, request, ctx)
            if key is not None:
                if len(state.cache) >= self._cache_size:
                    state.cache.clear()
                state.cache[key] = decision
            return decision
        except Exception as exc:
            log.exception("error while deciding; denying")
            return _deny(bundle, f"denied (fail closed): internal error {type(exc).__name__}")

    def _decide(
        self, bundle: PolicyBundle, request: AccessRequest, ctx: dict[str, Any]
    ) -> Decision:
        sub = request.subject.id
        if not bundle.knows_subject(sub):
            return _deny(bundle, f"unknown subject {sub}: no role or rule in the policy names it")
        held = bundle.subject_roles(sub)
        for role in request.subject.roles:
            if role not in held:
                return _deny(bundle, f"subject {sub} does not hold {role}")
        outcome = bundle.enforce(
            *bundle.request_values(
                sub, request.resource.dataset, request.action, request.purpose, ctx
            )
        )
        if outcome.error is not None:
            return _deny(bundle, _error_reason(outcome))
        if not outcome.allowed:
            if outcome.rule_index >= 0:
                reason = f"denied by {bundle.describe_rule(outcome.rule_index)}"
                rule = bundle.rule(outcome.rule_index)
                return _deny(bundle, reason, rule)
            return _deny(
                bundle,
                f"no rule allows {sub} to {request.action} {request.resource.dataset} "
                f"for {request.purpose}",
            )
        granted = outcome.granted or ((outcome.rule_index,) if outcome.rule_index >= 0 else ())
        granting = {bundle.rule(i)[0] for i in granted}
        if request.subject.roles:
            session = set().union(*(bundle.subject_roles(r) for r in request.subject.roles))
            granting = {g for g in granting if g in session or g == sub}
            if not granting:
                return _deny(
                    bundle,
                    f"only roles not named in this request ({', '.join(request.subject.roles)}) "
                    "grant this access",
                )
        return self._allow(bundle, request, outcome, frozenset(granting))

    def _allow(
        self,
        bundle: PolicyBundle,
        request: AccessRequest,
        outcome: Outcome,
        granting: frozenset[str],
    ) -> Decision:
        dataset = request.resource.dataset
        info = bundle.catalog.get(dataset)
        known: dict[str, str] = dict(info.columns) if info else {}
        if self._classifications is not None:
            known.update(self._classifications(dataset))
        names = request.resource.columns if request.resource.columns is not None else list(known)
        columns = [(c, known.get(c, UNKNOWN)) for c in names]
        try:
            obligations, row_filter = bundle.obligations.resolve(
                granting=granting,
                request=request,
                columns=columns,
                dataset_match=bundle.dataset_matcher(dataset),
                known_columns=frozenset(known) if info else None,
            )
        except ObligationError as exc:
            return _deny(bundle, f"denied (fail closed): {exc}")
        rule_index = outcome.rule_index
        return Decision.model_construct(
            decision=Effect.allow,
            reason=f"allowed by {bundle.describe_rule(rule_index)}",
            matched_rule=bundle.rule(rule_index),
            obligations=obligations,
            row_filter=row_filter,
            policy_version=bundle.version,
            decision_id="",
        )


def _deny(bundle: PolicyBundle, reason: str, rule: list[str] | None = None) -> Decision:
    return Decision.model_construct(
        decision=Effect.deny,
        reason=reason,
        matched_rule=rule,
        obligations=[],
        row_filter=None,
        policy_version=bundle.version,
        decision_id="",
    )


def _error_reason(outcome: Outcome) -> str:
    error = outcome.error or ""
    if "AttributeDoesNotExist" in error or "AttributeMissing" in error:
        start = error.find("'")
        end = error.find("'", start + 1)
        attr = error[start + 1 : end] if start != -1 and end > start else "?"
        return f"denied (fail closed): a rule's condition needs request attribute '{attr}'"
    return f"denied (fail closed): a rule could not be evaluated ({error[:200]})"


def policy_test_failures(bundle: PolicyBundle, *, fast_path: bool = True) -> list[str]:
    """The stewards' test cases (``tests/*.yaml`` beside the policy) that a bundle fails.

    They run against the files alone (no stored classifications), so the verdict is a property
    of the candidate version. No test directory means no oracle: nothing fails."""
    from governance.pdp.policytests import run_cases

    tests = bundle.directory / TESTS_DIR
    if not tests.is_dir():
        return []
    candidate = PolicyDecisionPoint(bundle, cache_size=0, fast_path=fast_path, run_tests=False)
    return [
        f"{r.case.file}:{r.case.line}: policy test '{r.case.name}' fails: {r.message}"
        for r in run_cases(candidate, tests)
        if not r.passed
    ]
