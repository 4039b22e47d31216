"""QR codes as PNG images (segno): receipts' lookup codes, VietQR payment codes."""

from __future__ import annotations

import io

import segno


def png(text: str, *, scale: int) -> bytes:
    """A PNG of the QR code of ``text`` (error correction M, not raised; quiet zone of 4
    modules), each module ``scale`` pixels wide. ValueError when the text does not fit in a QR
    code or the scale is not a positive whole number."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"The scale is a whole number of pixels from 1, not {scale!r}.")
    code = segno.make_qr(text, error="m", boost_error=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
