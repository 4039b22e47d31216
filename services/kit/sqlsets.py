"""Conditions on a set of values passed as arrays: one parameter per column, whatever the count.

``column.in_(values)`` expands to one parameter per value, so every batch size is another
statement text: SQLAlchemy renders it again and PostgreSQL parses and plans it again (asyncpg's
prepared statements are never reused). A batch path (a thousand status records at a time) sends
the values as arrays instead: ``column = ANY($1)``, and pairs as ``unnest($1, $2)``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY


def _array(column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[Any]:
    return bindparam(None, list(values), type_=ARRAY(column.type))


def in_array(column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """``column = ANY(:values)``."""
    return column == func.any(_array(column, values))


def pair_in_arrays(
    first: ColumnElement[Any], second: ColumnElement[Any], pairs: Collection[tuple[Any, Any]]
) -> ColumnElement[bool]:
    """``(first, second) IN (SELECT * FROM unnest(:firsts, :seconds))``."""
    firsts, seconds = zip(*pairs, strict=True) if pairs else ((), ())
    rows = func.unnest(_array(first, firsts), _array(second, seconds)).table_valued("a", "b").render_derived()
    return tuple_(first, second).in_(select(rows.c.a, rows.c.b))
