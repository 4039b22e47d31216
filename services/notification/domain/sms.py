"""Brand-name SMS text as Vietnamese carriers count and carry it. Pure Python.

- **Two encodings.** A text whose every character is in the GSM 03.38 alphabet goes as GSM-7:
  160 characters in one SMS, 153 in each part of a split one (the rest of each part is the
  concatenation header); a character of the extension table (``{ } [ ] ~ \\ | ^ €`` and form
  feed) is an escape plus the character, so it counts 2 and is never cut between two parts.
  Any other character makes the whole text UCS-2: 70 UTF-16 code units in one SMS, 67 per part,
  an emoji (a surrogate pair) counting 2 and never cut either.
- **Plain Latin.** Many brand-name routes take GSM-7 only, so Vietnamese goes without its
  diacritics (``Hồ sơ đã được tiếp nhận`` → ``Ho so da duoc tiep nhan``; ``Đ`` → ``D``, case
  kept) and other characters outside GSM-7 become their nearest plain form (typographic quotes
  and dashes, the ellipsis, non-breaking spaces) or ``?``.
- **Bounded length.** A text needing more than :data:`MAX_PARTS` parts is refused
  (:class:`SmsTooLong`): carriers bill each part, and a long message belongs in the inbox or an
  e-mail, with the SMS pointing to it.
- **The sender** (the brand name registered with the carriers) is 1–11 characters: ASCII
  letters, digits, space, ``.``, ``-`` and ``_``, with at least one letter (a sender of digits
  only reads as a phone number).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

MAX_PARTS = 4

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

# GSM 03.38's basic character set (the escape code itself left out) and its extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# Characters outside GSM-7 that have an obvious plain form (after diacritics are dropped).
_PLAIN = {
    "Đ": "D", "đ": "d", "Ð": "D", "ð": "d",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "´": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "«": '"', "»": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "·": ".", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\t": " ",
    "\u2116": "No", "×": "x", "÷": "/", "°": "o", "₫": "d", "©": "(c)", "®": "(R)", "™": "TM",
}  # fmt: skip

_SENDER = re.compile(r"[A-Za-z0-9 ._-]{1,11}")
_LETTER = re.compile(r"[A-Za-z]")


class SmsTextError(ValueError):
    """A text or sender that cannot go as a brand-name SMS. The message names counts and rules,
    never the text itself."""


class SmsTooLong(SmsTextError):
    def __init__(self, counted: SmsParts) -> None:
        super().__init__(
            f"The text makes {counted.parts} SMS parts ({counted.encoding}, {counted.characters} characters); "
            f"at most {MAX_PARTS} are sent."
        )
        self.counted = counted


@dataclass(frozen=True, slots=True)
class SmsParts:
    """How a text goes: its encoding, its length as the carrier counts it (septets for GSM-7,
    UTF-16 code units for UCS-2) and the number of billable parts."""

    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    parts: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _strip_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _plain_char(char: str) -> str:
    if char in GSM7_BASIC or char in GSM7_EXTENSION:
        return char
    if char in _PLAIN:
        return _PLAIN[char]
    category = unicodedata.category(char)
    if category in ("Cf", "Mn", "Me"):
        return ""
    if category in ("Cc", "Zl", "Zp", "Zs"):
        return " "
    folded = _strip_marks(unicodedata.normalize("NFKD", char))
    if folded and is_gsm7(folded):
        return folded
    return "?"


def plain_latin(text: str) -> str:
    """``text`` in GSM-7 without diacritics: Vietnamese folded to plain Latin letters (case kept,
    ``Đ``/``đ`` to ``D``/``d``), other characters to their plain form or ``?``."""
    composed = unicodedata.normalize("NFC", text)
    folded = "".join(_PLAIN.get(c, c) for c in composed)
    return "".join(_plain_char(c) for c in _strip_marks(folded))


def _split(units: list[int], single: int, per_part: int) -> int:
    """Parts for characters of ``units`` length each: one part when all fit in ``single``, else
    parts of ``per_part`` filled in order, a character never cut between two parts."""
    total = sum(units)
    if total <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > per_part:
            count, used = count + 1, 0
        used += size
    return count


def measure(text: str, *, unicode: bool = False) -> SmsParts:
    """Encoding, length and parts of ``text`` (as UCS-2 when ``unicode``, else in GSM-7 when it
    fits), without a limit on the parts."""
    if not unicode and is_gsm7(text):
        septets = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return SmsParts("GSM-7", sum(septets), _split(septets, GSM7_SINGLE, GSM7_PART))
    code_units = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SmsParts("UCS-2", sum(code_units), _split(code_units, UCS2_SINGLE, UCS2_PART))


def parts(text: str) -> SmsParts:
    """Encoding, length and parts of ``text``; :class:`SmsTextError` when it is empty and
    :class:`SmsTooLong` when it needs more than :data:`MAX_PARTS` parts."""
    if not text:
        raise SmsTextError("An SMS needs a text.")
    counted = measure(text)
    if counted.parts > MAX_PARTS:
        raise SmsTooLong(counted)
    return counted


def check_sender(sender: str) -> str:
    """``sender`` when it is a valid brand name; :class:`SmsTextError` naming the rule otherwise."""
    if not _SENDER.fullmatch(sender) or not _LETTER.search(sender):
        raise SmsTextError(
            "A brand name is 1-11 characters: ASCII letters, digits, space, '.', '-' or '_', with a letter."
        )
    return sender
