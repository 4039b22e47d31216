"""Amounts of money in events: whole Vietnamese dong, bounded so that every consumer can hold them.

The bound is 2^53 - 1 (9,007,199,254,740,991 VND). Below it an amount is exact as a JSON number
in any parser (a double holds it), fits PostgreSQL's ``bigint`` where the dossier and payment
services store fees and orders, and still fits a signed 64-bit integer when multiplied by 100
(VNPay's ``vnp_Amount`` counts hundredths of a dong). A total (a dossier's fees, a payment) has
the same bound, so the sum of the fees of one definition is bounded too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import Field

MAX_VND = 2**53 - 1

#: A whole, non-negative amount of VND that every consumer can store.
Vnd = Annotated[int, Field(ge=0, le=MAX_VND, description="VND, whole dong, at most 2^53 - 1")]


def total_within_bound(amounts: Iterable[int], what: str = "fees") -> None:
    """ValueError when ``amounts`` add up to more than :data:`MAX_VND` (a validator's check)."""
    total = sum(amounts)
    if total > MAX_VND:
        raise ValueError(f"the {what} add up to {total} VND; at most {MAX_VND} VND in all")
