"""Signed checkpoints of the audit chains, kept outside the database they protect.

A chain kept only inside its own database cannot prove that its tail was not cut: whoever can
delete rows can also move the head back. So every ``every_records`` records or ``every_seconds``
seconds the service signs the heads of all chains (chain, position, hash), tied together by a
Merkle root (RFC 6962 hashing, as certificate transparency logs do), with Ed25519, and appends
the checkpoint to one or more *anchor sinks*: an append-only file (by default under ``var/``
beside the database, better on another volume) and/or an HTTP witness (any URL that accepts a
POST). Verification then checks the database against every checkpoint: fewer records than
anchored, or a different hash at an anchored position, fails.

What it protects and what not is in the README's threat model: records after the latest
checkpoint are covered only by their MAC, and whoever controls both the database and every sink
can still rewrite history.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from governance.audit.chain import AuditLog, ChainHead
from governance.signing import PublicKey, Signer, canonical, verify
from governance.timestamps import iso

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = "governance.audit.checkpoint"


# ---- Merkle root over the chain heads (RFC 6962 §2.1) -----------------------------------------


def _leaf(head: Mapping[str, Any]) -> bytes:
    data = canonical({"chain": head["chain"], "seq": head["seq"], "hash": head["hash"]})
    return hashlib.sha256(b"\x00" + data).digest()


def _root(nodes: Sequence[bytes]) -> bytes:
    if len(nodes) == 1:
        return nodes[0]
    split = 1
    while split * 2 < len(nodes):
        split *= 2
    return hashlib.sha256(b"\x01" + _root(nodes[:split]) + _root(nodes[split:])).digest()


def merkle_root(heads: Sequence[Mapping[str, Any]]) -> str:
    """The root over the heads, sorted by chain; the empty tree is SHA-256 of nothing."""
    if not heads:
        return hashlib.sha256(b"").hexdigest()
    ordered = sorted(heads, key=lambda h: str(h["chain"]))
    return _root([_leaf(h) for h in ordered]).hex()


# ---- checkpoints --------------------------------------------------------------------------------


def build_checkpoint(heads: Sequence[ChainHead], signer: Signer, at: datetime) -> dict[str, Any]:
    chains = [{"chain": h.chain, "seq": h.seq, "hash": h.hash} for h in heads]
    body: dict[str, Any] = {
        "type": CHECKPOINT_TYPE,
        "version": 1,
        "at": iso(at),
        "chains": chains,
        "records": sum(h.seq for h in heads),
        "root": merkle_root(chains),
    }
    key_id, signature = signer.sign(body)
    return {**body, "kid": key_id, "signature": signature}


def checkpoint_problem(checkpoint: Any, keys: Mapping[str, PublicKey]) -> str | None:
    """Why a checkpoint cannot be trusted, or None when its signature and root hold."""
    if not isinstance(checkpoint, dict) or checkpoint.get("type") != CHECKPOINT_TYPE:
        return "not a checkpoint"
    body = {k: v for k, v in checkpoint.items() if k not in ("kid", "signature")}
    if not verify(keys, str(checkpoint.get("kid")), body, str(checkpoint.get("signature"))):
        return f"its signature does not verify (key {checkpoint.get('kid')!r})"
    chains = checkpoint.get("chains")
    if not isinstance(chains, list) or merkle_root(chains) != checkpoint.get("root"):
        return "its Merkle root does not match its chain heads"
    return None


@dataclass(frozen=True)
class StoredCheckpoint:
    source: str  # file:line, for messages
    checkpoint: dict[str, Any]


def read_checkpoint_file(path: Path) -> list[StoredCheckpoint]:
    """Every line of an anchor file; a line that is not JSON is kept as a bad checkpoint."""
    out: list[StoredCheckpoint] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = {"unreadable": True}
            out.append(StoredCheckpoint(f"{path.name}:{number}", value))
    return out


# ---- sinks --------------------------------------------------------------------------------------


class AnchorSink(Protocol):
    name: str

    def append(self, checkpoint: dict[str, Any]) -> None:
        """Store the checkpoint durably, or raise."""


class FileAnchorSink:
    """An append-only JSON-lines file: one write per checkpoint, fsynced, under an exclusive
    lock (several workers share it); a worker skips a checkpoint identical to the last line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path}"

    def append(self, checkpoint: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(checkpoint, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _last_line(self.path)
            if last is not None and last.get("chains") == checkpoint["chains"]:
                return  # another worker anchored these very heads
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[StoredCheckpoint]:
        return read_checkpoint_file(self.path) if self.path.exists() else []


def _last_line(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 65536))
            lines = [x for x in handle.read().splitlines() if x.strip()]
    except OSError:
        return None
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class HttpAnchorSink:
    """A witness elsewhere: each checkpoint is POSTed as JSON; any 2xx is an acknowledgement."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.name = f"http:{url}"
        self._timeout = timeout

    def append(self, checkpoint: dict[str, Any]) -> None:
        response = httpx.post(self.url, json=checkpoint, timeout=self._timeout)
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"the witness answered {response.status_code}")


# ---- the checkpointer ---------------------------------------------------------------------------


class Checkpointer:
    """Signs the chain heads and appends them to every sink, on a timer or after N records."""

    def __init__(
        self,
        audit: AuditLog,
        signer: Signer,
        sinks: Iterable[AnchorSink],
        *,
        every_records: int = 1000,
        every_seconds: float = 30.0,
    ) -> None:
        self._audit = audit
        self._signer = signer
        self._sinks = list(sinks)
        self._every_records = every_records
        self._every_seconds = every_seconds
        self._anchored: dict[str, tuple[int, str]] = {}  # per sink: what it last acknowledged
        self._pending = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: dict[str, Any] | None = None
        self.last_error: str | None = None

    @property
    def sinks(self) -> list[AnchorSink]:
        return list(self._sinks)

    def note_appended(self, count: int) -> None:
        """Called after a commit: every ``every_records`` records trigger a checkpoint."""
        with self._lock:
            self._pending += count
            due = self._pending >= self._every_records
        if due:
            self._wake.set()

    def checkpoint_now(self) -> dict[str, Any] | None:
        """Anchor the current heads in every sink that has not anchored them yet."""
        heads = [h for h in self._audit.heads() if h.seq > 0]
        if not heads:
            return None
        with self._lock:
            self._pending = 0
        key = (sum(h.seq for h in heads), merkle_root([h.__dict__ for h in heads]))
        checkpoint: dict[str, Any] | None = None
        for sink in self._sinks:
            if self._anchored.get(sink.name) == key:
                continue
            checkpoint = checkpoint or build_checkpoint(heads, self._signer, datetime.now(UTC))
            try:
                sink.append(checkpoint)
            except Exception as exc:  # a sink down: keep the others, retry next time
                self.last_error = f"{sink.name}: {type(exc).__name__}: {exc}"
                log.error("audit checkpoint not anchored in %s: %s", sink.name, self.last_error)
                continue
            self._anchored[sink.name] = key
        if checkpoint is not None:
            self.last = checkpoint
        return checkpoint

    def start(self) -> None:
        if self._thread is None and self._sinks:
            self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._every_seconds)
            self._wake.clear()
            try:
                self.checkpoint_now()
            except Exception:  # the database may be down: try again next round
                log.exception("audit checkpoint failed")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.checkpoint_now()  # anchor what this process wrote before it goes
        except Exception:
            log.exception("final audit checkpoint failed")
