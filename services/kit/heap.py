"""The process's heap after start-up, settled once.

A service process imports some 150,000 objects that live as long as it does (modules, pydantic
and SQLAlchemy schemas, compiled statements). Python's cyclic garbage collector walks all of them
at every full collection, and a busy process (a batch of 500 status records makes thousands of
events and rows) runs one often: measured, a fifth to a third of the time it took to build a
batch's events went to collections. Frozen after start-up, they are left out of every collection
(they are never garbage); what the process makes afterwards is collected as before.
"""

from __future__ import annotations

import gc

_settled = False


def settle_heap() -> None:
    """Collect once, then freeze what is alive (once per process; later calls do nothing, so a
    process running several apps, as the tests do, freezes only what its first start left)."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
