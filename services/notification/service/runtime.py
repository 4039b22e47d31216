"""What the dispatcher talks to, made once per process from the settings: each channel's
providers (their connection pools) and identity's contacts API (with its short-lived copy)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ..adapters.contacts import ContactsConfig, IdentityContacts
from ..domain.delivery import Channel
from ..settings import NotificationSettings
from .dispatch import Providers


@dataclass(frozen=True)
class Dispatcher:
    providers: Providers
    contacts: IdentityContacts


_made: dict[int, Dispatcher] = {}


def dispatcher_of(settings: NotificationSettings) -> Dispatcher:
    """The process's dispatcher for ``settings`` (made at its first use)."""
    held = _made.get(id(settings))
    if held is None:
        providers = Providers({
            Channel.EMAIL: tuple(p.provider() for p in settings.email_providers),
            Channel.SMS: tuple(p.provider() for p in settings.sms_providers),
            Channel.PUSH: tuple(p.provider() for p in settings.push_providers),
        })  # fmt: skip
        contacts = IdentityContacts(
            ContactsConfig(identity_url=settings.identity_url, token_url=f"{settings.identity_url}/oauth2/token",
                           client_id=settings.contacts_client_id,
                           client_secret=settings.contacts_client_secret.get_secret_value(),
                           ttl_seconds=settings.contacts_cache_seconds),
            httpx.AsyncClient(timeout=10),
        )  # fmt: skip
        held = _made[id(settings)] = Dispatcher(providers, contacts)
    return held
