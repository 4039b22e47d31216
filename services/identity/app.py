"""Composition root of the identity service: accounts and the OpenID Connect provider."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import PeriodicJob, ServiceSpec, build_app

from .adapters.tables import metadata
from .adapters.unit_of_work import SqlIdentityUnitOfWork
from .api.accounts import router as accounts_router
from .api.clients import router as clients_router
from .api.commands import COMMANDS
from .api.contacts import router as contacts_router
from .api.federation import close_eid_client
from .api.federation import root_router as eid_router
from .api.federation import router as eid_link_router
from .api.jobs import (
    backchannel_logout_job,
    deliver_messages_job,
    ensure_signing_key_at_start,
    seed_fixtures,
    sweep_inactive_job,
)
from .api.mandates import router as mandates_router
from .api.oidc import router as oidc_router
from .api.problems import PROBLEMS
from .settings import IdentitySettings

SERVICE = ServiceSpec(
    name="identity",
    title="Identity and single sign-on",
    settings_cls=IdentitySettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[accounts_router, clients_router, contacts_router, eid_link_router, mandates_router],
    # Served at the issuer's root (/.well-known, /oauth2), not under /api/v1/identity.
    root_routers=[oidc_router, eid_router],
    consumers=[],
    metadata=metadata,
    seed=seed_fixtures,
    on_startup=ensure_signing_key_at_start,
    on_shutdown=close_eid_client,
    commands=COMMANDS,
    problems=PROBLEMS,
    unit_of_work=SqlIdentityUnitOfWork,
    periodic=[
        PeriodicJob("inactive-accounts", 3600, sweep_inactive_job),
        PeriodicJob("deliver-messages", 2, deliver_messages_job),
        PeriodicJob(
            "backchannel-logout", lambda s: float(s.backchannel_every_seconds), backchannel_logout_job, exclusive=False
        ),
    ],
)


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
