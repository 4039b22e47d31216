"""Queries are folded in Python, documents by PostgreSQL: the two must agree, letter by letter."""

from __future__ import annotations

import unicodedata

from sqlalchemy import text

from services.catalogue.adapters.search import fold, normalise_query
from services.kit.db import Database

VOWELS = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # ngang, huyền, sắc, hỏi, ngã, nặng


def vietnamese_letters() -> list[str]:
    lower = [unicodedata.normalize("NFC", v + t) for v in VOWELS for t in TONES] + ["đ", *"bcdghklmnpqrstvx"]
    return lower + [c.upper() for c in lower]


def test_every_vietnamese_letter_folds_to_its_plain_latin_letter() -> None:
    letters = vietnamese_letters()
    assert len(letters) == 2 * (12 * 6 + 17)
    assert all(len(fold(c)) == 1 and "a" <= fold(c) <= "z" for c in letters)
    assert fold("Đăng ký khai sinh") == "dang ky khai sinh"
    assert normalise_query("  Cấp GIẤY-phép: lái xe!! ").words == ("cap", "giay", "phep", "lai", "xe")


async def test_folding_agrees_with_the_databases_unaccent(catalogue_db: Database) -> None:
    letters = vietnamese_letters()
    async with catalogue_db.unit_of_work() as uow:
        rows = await uow.connection.execute(
            text("SELECT x.c, lower(unaccent(x.c)) AS folded FROM unnest(CAST(:cs AS text[])) AS x(c)"), {"cs": letters}
        )
        by_database = {row.c: row.folded for row in rows}
    assert len(by_database) == len(letters)
    disagree = {c: (fold(c), by_database[c]) for c in letters if fold(c) != by_database[c]}
    assert disagree == {}
