"""Encryption at rest of the private keys services keep (identity's token keys, payment's
receipt keys): Fernet under a key derived from the service's key-encryption setting."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet


def fernet(key_encryption_key: str) -> Fernet:
    """The cipher for private keys. An empty key (development and tests only; production
    refuses it) derives a fixed development key."""
    raw = key_encryption_key or "development-only-key-encryption-key"
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()))
