"""Password hashing (argon2id with the settings' costs, off the event loop) and the policy."""

from __future__ import annotations

import asyncio

from ..adapters.accounts import PasswordHashing, password_hashing
from ..domain.passwords import PasswordPolicy
from ..settings import IdentitySettings


def hashing(settings: IdentitySettings) -> PasswordHashing:
    return password_hashing(
        settings.password_hash_time_cost, settings.password_hash_memory_kib, settings.password_hash_parallelism
    )


async def hash_password(settings: IdentitySettings, password: str) -> str:
    return await asyncio.to_thread(hashing(settings).hash, password)


async def verify_password(settings: IdentitySettings, stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; with ``stored`` None, burns the same time."""
    return await asyncio.to_thread(hashing(settings).verify, stored, password)


def policy(settings: IdentitySettings) -> PasswordPolicy:
    return PasswordPolicy(min_length=settings.password_min_length, max_length=settings.password_max_length)
