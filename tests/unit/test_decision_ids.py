"""Decision ids: random version 4 UUIDs, never repeated, not even by a forked child."""

from __future__ import annotations

import os
import uuid

import pytest

from governance.decisions import new_decision_id


def test_ids_are_version_4_uuids_and_unique() -> None:
    ids = [new_decision_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


# Python 3.12 warns about fork() in a process with threads; this child only writes to a pipe
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_decision_id()  # the pool holds unused random bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_decision_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert uuid.UUID(child).version == 4
    assert child != new_decision_id()
