"""Random ids: valid version-4 UUIDs, never repeated, not shared with a forked child."""

from __future__ import annotations

import os
import uuid

from services.kit.ids import new_id


def test_an_id_is_the_text_of_a_version_4_uuid() -> None:
    for _ in range(1000):
        text = new_id()
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat_across_many_pages_of_randomness() -> None:
    ids = [new_id() for _ in range(50_000)]  # about 200 refills of the pool
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    new_id()  # the pool now holds bytes the child would share if it were not emptied
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.close(read)
        os.write(write, ",".join(new_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 4096).decode().split(",")
    os.close(read)
    os.waitpid(pid, 0)
    parent = [new_id() for _ in range(10)]
    assert len(child) == 10 and not set(child) & set(parent)
