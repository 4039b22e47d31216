"""Attached files: what a file really is, and the name it is stored and served under. Pure Python.

The rules:

1. **Content decides the kind, never the name or the declared type.** The portal accepts PDF,
   JPEG and PNG; :func:`sniff` tells them apart by their leading magic bytes (the caller passes
   the first :data:`SNIFF_BYTES` bytes). A text file named ``.pdf``, or a PNG sent as
   ``image/jpeg``, is what its bytes say: not a PDF, a PNG. :func:`inspect` reads a whole
   upload once: its kind (else :class:`UnsupportedFile`, a 415 in every service), its size
   (bounded: :class:`~services.kit.errors.PayloadTooLarge`) and its SHA-256.
2. **A file name is only a label.** It never chooses a path: :func:`safe_filename` keeps the
   base name after either kind of slash, drops control and invisible formatting characters
   (a right-to-left override can disguise an extension) and quotes (the name goes into a
   ``Content-Disposition`` header), normalises to NFC (so the same Vietnamese name typed on two
   keyboards is one name) and keeps at most 200 characters, the extension kept when cut. A name
   with nothing left, or only dots, becomes ``tep`` ("file") with the kind's extension.
"""

from __future__ import annotations

import hashlib
import unicodedata
from enum import StrEnum
from typing import BinaryIO

from .errors import DomainError, PayloadTooLarge

SNIFF_BYTES = 16
MAX_FILENAME_LENGTH = 200

_PDF = b"%PDF-"
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"

_QUOTES = frozenset("\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb")
_MAX_EXTENSION = 16  # a longer "extension" is not kept whole when a name is cut


class UnsupportedFile(DomainError):
    """An attachment that is not a PDF, JPEG or PNG file."""


class FileKind(StrEnum):
    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self]


_EXTENSIONS = {FileKind.PDF: ".pdf", FileKind.JPEG: ".jpg", FileKind.PNG: ".png"}


def sniff(head: bytes) -> FileKind | None:
    """The kind of a file from its first bytes (at least :data:`SNIFF_BYTES` of them, or the
    whole file if shorter); None when it is none of the accepted kinds."""
    if head.startswith(_PDF):
        return FileKind.PDF
    if head.startswith(_JPEG):
        return FileKind.JPEG
    if head.startswith(_PNG):
        return FileKind.PNG
    return None


def _kept(char: str) -> bool:
    # Category C: control (Cc), format (Cf: bidirectional overrides, zero-width), surrogate,
    # private use and unassigned code points.
    return char not in _QUOTES and not unicodedata.category(char).startswith("C")


def safe_filename(name: str | None, kind: FileKind) -> str:
    """A name safe to store and to send back for a file of ``kind`` whose client called it ``name``."""
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = unicodedata.normalize("NFC", "".join(char for char in text if _kept(char))).strip()
    if not text.strip("."):
        text = ""
    if len(text) > MAX_FILENAME_LENGTH:
        stem, dot, extension = text.rpartition(".")
        if dot and stem and len(extension) < _MAX_EXTENSION:
            suffix = dot + extension
            text = text[: MAX_FILENAME_LENGTH - len(suffix)].rstrip() + suffix
        else:
            text = text[:MAX_FILENAME_LENGTH].rstrip()
    return text or "tep" + kind.extension


def inspect(source: BinaryIO, max_bytes: int) -> tuple[FileKind, int, str]:
    """The file's kind by its content, size and SHA-256, reading it once (blocking: call it in a
    thread). :class:`UnsupportedFile` when it is none of the accepted kinds, ``PayloadTooLarge``
    past ``max_bytes``."""
    source.seek(0)
    head = source.read(SNIFF_BYTES)
    kind = sniff(head)
    if kind is None:
        raise UnsupportedFile("The file is not a PDF, JPEG or PNG (judged by its content, not its name or type).")
    digest, size = hashlib.sha256(head), len(head)
    while chunk := source.read(1024 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"An attachment may hold at most {max_bytes} bytes.")
        digest.update(chunk)
    if size > max_bytes:
        raise PayloadTooLarge(f"An attachment may hold at most {max_bytes} bytes.")
    return kind, size, digest.hexdigest()
