"""Verification of the audit trail: every chain, every record, every anchored checkpoint.

Two ways in, one procedure:

* online (``AuditLog``, the database, with the audit key): links, hashes, MACs, heads;
* offline (an export file, no database, no audit key): links and hashes of format-2 records,
  which anyone can recompute. What needs the key (the MACs, format-1 records' content) is
  skipped and said so.

Both then check every checkpoint: its Ed25519 signature against the published keys, its Merkle
root, and that each chain still holds the anchored hash at the anchored position. A chain that is
shorter than anchored (a cut tail, a wipe) or differs there (a rewrite) fails.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.audit.chain import (
    FORMAT_HMAC,
    GENESIS,
    AuditLog,
    ChainHead,
    export_row,
    hashed_fields,
    hmac_hash,
    mac_of,
    public_hash,
)
from governance.audit.checkpoints import StoredCheckpoint, checkpoint_problem
from governance.signing import PublicKey

EXPORT_TYPE = "governance.audit.export"


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    chains: int = 0
    first_broken_seq: int | None = None
    broken_chain: str | None = None
    broken_chain_seq: int | None = None
    problem: str = ""
    checkpoints: int = 0
    latest_checkpoint_at: str | None = None
    unanchored: int = 0
    content_checked: bool = True
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        if not self.ok:
            where = (
                f"{self.broken_chain}#{self.broken_chain_seq}"
                if self.broken_chain is not None
                else "the trail"
            )
            return f"audit trail broken at {where}: {self.problem}"
        anchor = (
            f"; {self.checkpoints} checkpoint(s), the latest at {self.latest_checkpoint_at}, "
            f"{self.unanchored} record(s) after it"
            if self.checkpoints
            else "; no checkpoint"
        )
        return (
            f"audit trail intact: {self.checked} record(s) in {self.chains} chain(s) verified"
            + anchor
        )


class _Broken(Exception):
    def __init__(self, chain: str | None, chain_seq: int | None, seq: int | None, problem: str):
        super().__init__(problem)
        self.chain, self.chain_seq, self.seq, self.problem = chain, chain_seq, seq, problem


RecordSource = Callable[[str], Iterable[Any]]


def _get(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def _walk_chain(
    chain: str,
    records: Iterable[Any],
    key: bytes | None,
    anchors: Mapping[int, tuple[str, str]],
) -> tuple[int, str, int]:
    """Check one chain; returns (records, last hash, content-unchecked count)."""
    expected, prev, unchecked = 1, GENESIS, 0
    for record in records:
        position = int(_get(record, "chain_seq"))
        seq = int(_get(record, "seq"))
        if position != expected:
            raise _Broken(
                chain,
                expected,
                None,
                f"record {chain}#{expected} is missing (the next stored one is #{position})",
            )
        if _get(record, "prev_hash") != prev:
            raise _Broken(
                chain,
                position,
                seq,
                "its link to the previous record does not match (deleted or reordered)",
            )
        fields = hashed_fields(record)
        digest = str(_get(record, "hash"))
        if int(_get(record, "hash_format")) == FORMAT_HMAC:
            if key is None:
                unchecked += 1
            elif not hmac.compare_digest(hmac_hash(key, prev, fields), digest):
                raise _Broken(chain, position, seq, "its content does not match its hash (edited)")
        else:
            if not hmac.compare_digest(public_hash(prev, fields), digest):
                raise _Broken(chain, position, seq, "its content does not match its hash (edited)")
            if key is not None and not hmac.compare_digest(
                mac_of(key, digest), str(_get(record, "mac"))
            ):
                raise _Broken(
                    chain,
                    position,
                    seq,
                    "its MAC does not verify: the chain was recomputed without the audit key",
                )
        anchored = anchors.get(position)
        if anchored is not None and anchored[0] != digest:
            raise _Broken(
                chain,
                position,
                seq,
                f"it differs from the hash anchored by checkpoint {anchored[1]} (rewritten)",
            )
        prev = digest
        expected += 1
    return expected - 1, prev, unchecked


def verify_trail(
    chains: Iterable[str],
    records_of: RecordSource,
    heads: Mapping[str, ChainHead] | None,
    checkpoints: Iterable[StoredCheckpoint],
    keys: Mapping[str, PublicKey] | None,
    key: bytes | None,
) -> Verification:
    """The whole procedure over any source of chains and records (database or export)."""
    anchors: dict[str, dict[int, tuple[str, str]]] = {}
    needed: dict[str, tuple[int, str]] = {}  # per chain: the furthest anchored position
    count = 0
    latest: str | None = None
    latest_records: dict[str, int] = {}
    for stored in checkpoints:
        cp = stored.checkpoint
        if keys is None:
            raise _Broken(None, None, None, "checkpoints need the public signing keys to verify")
        problem = checkpoint_problem(cp, keys)
        if problem is not None:
            return Verification(False, 0, problem=f"checkpoint {stored.source}: {problem}")
        count += 1
        if latest is None or str(cp["at"]) >= latest:
            latest = str(cp["at"])
            latest_records = {str(h["chain"]): int(h["seq"]) for h in cp["chains"]}
        for head in cp["chains"]:
            chain, position = str(head["chain"]), int(head["seq"])
            known = anchors.setdefault(chain, {}).get(position)
            if known is not None and known[0] != head["hash"]:
                return Verification(
                    False,
                    0,
                    problem=f"checkpoints {known[1]} and {stored.source} anchor two different "
                    f"hashes at {chain}#{position}",
                )
            anchors[chain][position] = (str(head["hash"]), stored.source)
            if position > needed.get(chain, (0, ""))[0]:
                needed[chain] = (position, stored.source)
    names = sorted(set(chains) | set(needed))
    checked = unanchored = unchecked = 0
    try:
        for chain in names:
            length, last, skipped = _walk_chain(
                chain, records_of(chain), key, anchors.get(chain, {})
            )
            checked += length
            unchecked += skipped
            furthest = needed.get(chain)
            if furthest is not None and length < furthest[0]:
                raise _Broken(
                    chain,
                    length + 1,
                    None,
                    f"checkpoint {furthest[1]} anchored {furthest[0]} record(s) in this chain "
                    f"but only {length} remain (a cut tail or a wipe)",
                )
            if heads is not None:
                head = heads.get(chain)
                head_seq = head.seq if head else 0
                head_hash = head.hash if head else GENESIS
                if head_seq != length or (length and head_hash != last):
                    raise _Broken(
                        chain,
                        min(head_seq, length) + 1,
                        None,
                        f"the chain head says {head_seq} record(s) but {length} verify "
                        "(records removed from the end, or the head was edited)",
                    )
            unanchored += max(0, length - latest_records.get(chain, 0))
    except _Broken as broken:
        return Verification(
            False,
            checked,
            len(names),
            broken.seq,
            broken.chain,
            broken.chain_seq,
            broken.problem,
            count,
            latest,
        )
    warnings: list[str] = []
    if not count and checked:
        warnings.append("no checkpoint found: a cut tail or a wipe would not be detected")
    if unchecked:
        warnings.append(
            f"{unchecked} record(s) from before partitioned chains were checked by their links "
            "only; their content needs the audit key"
        )
    if key is None and checked:
        warnings.append(
            "without the audit key, records after the latest checkpoint are checked by their "
            "hashes only (anyone could have recomputed them)"
        )
    return Verification(
        True,
        checked,
        len(names),
        checkpoints=count,
        latest_checkpoint_at=latest,
        unanchored=unanchored,
        content_checked=unchecked == 0,
        warnings=tuple(warnings),
    )


def verify_database(
    audit: AuditLog,
    checkpoints: Iterable[StoredCheckpoint],
    keys: Mapping[str, PublicKey] | None,
    *,
    use_key: bool = True,
) -> Verification:
    """Online: the database itself, with the audit key."""
    heads = {h.chain: h for h in audit.heads()}
    try:
        return verify_trail(
            audit.chains(),
            audit.chain_records,
            heads,
            checkpoints,
            keys,
            audit.key if use_key else None,
        )
    except _Broken as broken:
        return Verification(False, 0, problem=broken.problem)


# ---- export files (for offline verification) ---------------------------------------------------


def write_export(audit: AuditLog, path: Path) -> int:
    """Every record, chain by chain, as JSON lines after a header with the chain heads."""
    heads = audit.heads()
    written = 0
    with path.open("w", encoding="utf-8") as out:
        header = {
            "type": EXPORT_TYPE,
            "version": 1,
            "heads": [{"chain": h.chain, "seq": h.seq, "hash": h.hash} for h in heads],
        }
        out.write(json.dumps(header, sort_keys=True) + "\n")
        for chain in audit.chains():
            for record in audit.chain_records(chain):
                out.write(json.dumps(export_row(record), sort_keys=True, ensure_ascii=False))
                out.write("\n")
                written += 1
    return written


class ExportError(ValueError):
    pass


def read_export(path: Path) -> tuple[dict[str, ChainHead], dict[str, list[dict[str, Any]]]]:
    heads: dict[str, ChainHead] = {}
    chains: dict[str, list[dict[str, Any]]] = {}
    with path.open(encoding="utf-8") as handle:
        lines: Iterator[str] = iter(handle)
        try:
            header = json.loads(next(lines))
        except (StopIteration, ValueError) as exc:
            raise ExportError(f"{path} is not an audit export") from exc
        if not isinstance(header, dict) or header.get("type") != EXPORT_TYPE:
            raise ExportError(f"{path} is not an audit export")
        for h in header.get("heads", []):
            heads[str(h["chain"])] = ChainHead(str(h["chain"]), int(h["seq"]), str(h["hash"]))
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ExportError(f"{path}:{number} is not JSON") from exc
            chains.setdefault(str(row["chain"]), []).append(row)
    for rows in chains.values():
        rows.sort(key=lambda r: int(r["chain_seq"]))
    return heads, chains


def verify_export(
    path: Path, checkpoints: Iterable[StoredCheckpoint], keys: Mapping[str, PublicKey]
) -> Verification:
    """Offline: an export file, the anchor file and the public keys; no database, no key."""
    heads, chains = read_export(path)
    try:
        return verify_trail(
            chains, lambda chain: chains.get(chain, []), heads, checkpoints, keys, None
        )
    except _Broken as broken:
        return Verification(False, 0, problem=broken.problem)
