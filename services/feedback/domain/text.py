"""What feedback text becomes when it is searched and when it is published. Pure Python.

1. **Search ignores diacritics and case.** :func:`fold` turns Vietnamese text into its bare
   letters (``Đăng ký khai sinh`` -> ``dang ky khai sinh``), for the text indexed and the words
   searched alike, so a search typed without diacritics finds text written with them.
2. **Nothing published is markup.** :func:`plain_text` keeps the text of what a person or an
   official wrote and drops every tag, and the whole content of ``script`` and ``style``
   elements; entities are decoded (``&lt;`` is ``<``, which a client shows as text).
3. **Nothing published names the sender.** :func:`redact` replaces identity numbers, tax
   codes, phone numbers, e-mail addresses and the sender's own name and contact details with
   ``[…]``: the decree publishes answers, not who asked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from html.parser import HTMLParser

REDACTED = "[…]"

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^0-9a-z]+")
# 9 or 12 digits (identity cards), 10 or 13 (tax codes, as 10 digits or 10-3), phone numbers
# (0 or +84 then 9-10 digits, spaced or dotted as people write them), e-mail addresses.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])(?:\+?84|0)(?:[\s.-]?\d){8,10}(?!\d)")
_NUMBER = re.compile(r"(?<!\d)\d{9}(?:\d{3})?(?:-\d{3})?(?!\d)|(?<!\d)\d{10}(?:\d{3})?(?!\d)")


def fold(text: str) -> str:
    """Lower-case letters and digits without diacritics, words separated by one space."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    return _NOT_WORD.sub(" ", bare).strip()


_BLOCKS = frozenset({"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skipping += 1
        elif tag in _BLOCKS or tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def plain_text(text: str) -> str:
    """``text`` without markup: tags dropped, scripts and styles dropped whole, entities decoded,
    blanks inside a line collapsed, at most one empty line in a row."""
    if "<" not in text and "&" not in text:
        parsed = text
    else:
        parser = _Text()
        parser.feed(text)
        parser.close()
        parsed = "".join(parser.parts)
    lines = [_SPACES.sub(" ", line).strip() for line in parsed.replace("\r\n", "\n").split("\n")]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()


def redact(text: str, personal: Iterable[str | None] = ()) -> str:
    """``text`` with personal identifiers and the given personal values (the sender's name,
    address, organisation) replaced by ``[…]``; matching ignores case."""
    text = _EMAIL.sub(REDACTED, text)
    text = _PHONE.sub(REDACTED, text)
    text = _NUMBER.sub(REDACTED, text)
    for value in sorted({v.strip() for v in personal if v and len(v.strip()) >= 3}, key=len, reverse=True):
        text = re.sub(re.escape(value), REDACTED, text, flags=re.IGNORECASE)
    return text
