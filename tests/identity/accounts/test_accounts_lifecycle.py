"""What the OpenID Connect side asks about accounts (userinfo claims, grantable scopes, whether
active), the development fixtures, and the sweep of inactive accounts — on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from services.identity.adapters.accounts import accounts, sent_messages
from services.identity.domain.accounts import AccountDisabled, NotAllowed
from services.identity.service import accounts as use_cases
from services.identity.service import inactivity
from services.identity.service import seed as seed_cases
from services.identity.service import sign_in as sign_in_cases
from services.identity.service.accounts import (
    SEED_ADMIN_ID,
    SEED_CITIZEN_ID,
    SEED_ENTERPRISE_ID,
    SEED_OFFICIAL_ID,
)
from services.kit.db import Database
from services.kit.errors import NotFound
from tests.identity.accounts.support import count, outbox_data, outbox_types
from tests.support.identity import identity_database

pytestmark = pytest.mark.integration

NOW = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
async def seeded(identity_db: Database, settings) -> Database:  # type: ignore[no-untyped-def]
    async with identity_db.transaction() as uow:
        await seed_cases.seed_accounts(uow, settings)
    return identity_db


# --- fixtures -----------------------------------------------------------------------------


async def test_the_fixtures_are_seeded_once(seeded, settings) -> None:
    async with seeded.transaction() as uow:
        await seed_cases.seed_accounts(uow, settings)
    assert await count(seeded, accounts) == 4
    assert await outbox_types(seeded) == ["identity.account.registered.v1"] * 4
    async with seeded.sessions() as session:
        rows = {r.id: r for r in await session.execute(select(accounts))}
    assert rows[SEED_ENTERPRISE_ID].legal_representative_id == SEED_CITIZEN_ID
    assert rows[SEED_OFFICIAL_ID].agencies == ["000.00.01.H22"]
    assert rows[SEED_OFFICIAL_ID].totp_secret and rows[SEED_ADMIN_ID].totp_secret
    assert "JBSWY3DP" not in rows[SEED_OFFICIAL_ID].totp_secret  # encrypted at rest
    assert all(r.status == "active" and r.password_hash.startswith("$argon2id$") for r in rows.values())


async def test_the_fixtures_are_refused_in_production(identity_db, settings) -> None:
    production = settings.model_copy(update={"environment": "production"})
    async with identity_db.transaction() as uow:
        with pytest.raises(NotAllowed):
            await seed_cases.seed_accounts(uow, production)


# --- the OpenID Connect side's questions --------------------------------------------------


async def test_userinfo_claims_follow_the_scopes(seeded) -> None:
    async with seeded.transaction() as uow:
        minimal = await use_cases.userinfo_claims(uow, SEED_CITIZEN_ID, frozenset({"openid"}))
        full = await use_cases.userinfo_claims(uow, SEED_CITIZEN_ID, frozenset({"openid", "profile", "phone", "email"}))
        official = await use_cases.userinfo_claims(uow, SEED_OFFICIAL_ID, frozenset({"openid", "profile"}))
    assert minimal == {"sub": SEED_CITIZEN_ID, "account_kind": "citizen"}
    updated_at = full.pop("updated_at")
    assert isinstance(updated_at, int) and updated_at > 1_700_000_000
    assert full == {
        "sub": SEED_CITIZEN_ID, "account_kind": "citizen", "name": "Nguyễn Văn An",
        "preferred_username": "001099012345", "birthdate": "1999-05-15", "phone_number": "+84912345678",
        "phone_number_verified": True, "email": "an.nguyen@example.vn", "email_verified": True,
    }  # fmt: skip
    assert official["agencies"] == ["000.00.01.H22"] and official["roles"] == ["dossier-processor"]
    assert official["preferred_username"] == "canbo.demo" and "birthdate" not in official


async def test_userinfo_of_an_unknown_or_locked_account_is_not_found(seeded) -> None:
    async with seeded.transaction() as uow:
        await uow.connection.execute(update(accounts).where(accounts.c.id == SEED_CITIZEN_ID).values(status="disabled"))
    async with seeded.transaction() as uow:
        for account_id in ("nobody", SEED_CITIZEN_ID):
            with pytest.raises(NotFound):
                await use_cases.userinfo_claims(uow, account_id, frozenset({"openid", "profile"}))


async def test_grantable_scopes_and_activity_by_account(seeded) -> None:
    async with seeded.transaction() as uow:
        scopes = {
            a: await use_cases.grantable_scopes(uow, a) for a in (SEED_CITIZEN_ID, SEED_OFFICIAL_ID, SEED_ADMIN_ID)
        }
        assert await use_cases.grantable_scopes(uow, "nobody") == frozenset()
        assert await use_cases.account_is_active(uow, SEED_ENTERPRISE_ID)
        assert not await use_cases.account_is_active(uow, "nobody")
        enterprise_row = accounts.c.id == SEED_ENTERPRISE_ID
        await uow.connection.execute(update(accounts).where(enterprise_row).values(status="locked"))
        assert not await use_cases.account_is_active(uow, SEED_ENTERPRISE_ID)
        assert await use_cases.grantable_scopes(uow, SEED_ENTERPRISE_ID) == frozenset()
        # A temporary lockout does not end sessions: the owner is not punished for someone's guesses.
        await uow.connection.execute(
            update(accounts).where(accounts.c.id == SEED_CITIZEN_ID).values(locked_until=NOW + timedelta(hours=1))
        )
        assert await use_cases.account_is_active(uow, SEED_CITIZEN_ID)
    assert scopes == {
        SEED_CITIZEN_ID: {"dossier:submit", "dossier:read", "payment:pay", "feedback:send", "notification:read"},
        SEED_OFFICIAL_ID: {
            "dossier:process",
            "dossier:read",
            "feedback:process",
            "catalogue:edit",
            "notification:read",
        },
        SEED_ADMIN_ID: {
            "catalogue:admin",
            "payment:admin",
            "sync:admin",
            "identity:admin",
            "dossier:read",
            "notification:templates",
        },
    }


# --- inactive accounts --------------------------------------------------------------------


async def sweep(db: Database, settings, now: datetime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with db.transaction() as uow:
        swept = await inactivity.sweep_inactive_accounts(uow, settings, now)
    return {"warned": swept.warned, "locked": swept.locked}


async def test_inactive_accounts_are_warned_twice_monthly_then_locked(seeded, settings) -> None:
    last_used = NOW - timedelta(days=731)
    async with seeded.transaction() as uow:
        await uow.connection.execute(update(accounts).values(last_activity_at=NOW))
        await uow.connection.execute(
            update(accounts)
            .where(accounts.c.id.in_([SEED_CITIZEN_ID, SEED_ENTERPRISE_ID]))
            .values(last_activity_at=last_used)
        )
    assert await sweep(seeded, settings, NOW) == {"warned": 2, "locked": 0}
    assert await sweep(seeded, settings, NOW + timedelta(days=10)) == {"warned": 0, "locked": 0}
    assert await sweep(seeded, settings, NOW + timedelta(days=30)) == {"warned": 2, "locked": 0}
    assert await sweep(seeded, settings, NOW + timedelta(days=45)) == {"warned": 0, "locked": 0}
    assert await sweep(seeded, settings, NOW + timedelta(days=60)) == {"warned": 0, "locked": 2}
    assert await sweep(seeded, settings, NOW + timedelta(days=90)) == {"warned": 0, "locked": 0}

    async with seeded.sessions() as session:
        messages = list(
            (
                await session.execute(
                    select(sent_messages.c.body)
                    .where(sent_messages.c.recipient == "+84912345678")
                    .order_by(sent_messages.c.id)
                )
            ).scalars()
        )
        statuses = {r.id: r.status for r in await session.execute(select(accounts.c.id, accounts.c.status))}
    # The citizen's own warnings and its enterprise's, both to the citizen's phone.
    assert len(messages) == 4 and all("will be locked on" in m for m in messages)
    assert "2030-03-16" in messages[0]  # two intervals after the first warning
    assert statuses[SEED_CITIZEN_ID] == statuses[SEED_ENTERPRISE_ID] == "locked"
    assert statuses[SEED_OFFICIAL_ID] == statuses[SEED_ADMIN_ID] == "active"
    locks = await outbox_data(seeded, "identity.account.locked.v1")
    assert sorted((e["account_id"], e["reason"]) for e in locks) == sorted(
        [(SEED_CITIZEN_ID, "inactivity"), (SEED_ENTERPRISE_ID, "inactivity")]
    )
    async with seeded.unit_of_work() as uow:
        with pytest.raises(AccountDisabled) as refused:
            await sign_in_cases.sign_in(
                uow, settings, login="001099012345", password="Citizen-Demo-2025", totp_code=None,
                client_ip="203.0.113.9", now=NOW + timedelta(days=91),
            )  # fmt: skip
    assert refused.value.extra["reason"] == "inactivity"


async def test_signing_in_ends_the_warnings(seeded, settings) -> None:
    async with seeded.transaction() as uow:
        await uow.connection.execute(update(accounts).values(last_activity_at=NOW))
        await uow.connection.execute(
            update(accounts).where(accounts.c.id == SEED_CITIZEN_ID).values(last_activity_at=NOW - timedelta(days=800))
        )
    assert await sweep(seeded, settings, NOW) == {"warned": 1, "locked": 0}
    async with seeded.transaction() as uow:
        await sign_in_cases.sign_in(
            uow, settings, login="0912345678", password="Citizen-Demo-2025", totp_code=None,
            client_ip="203.0.113.9", now=NOW + timedelta(days=1),
        )  # fmt: skip
    for days in (30, 60, 90):
        assert await sweep(seeded, settings, NOW + timedelta(days=days)) == {"warned": 0, "locked": 0}


async def test_the_inactivity_periods_come_from_the_settings(seeded, settings) -> None:
    quick = settings.model_copy(
        update={"inactive_warn_after_days": 10, "inactive_warnings": 1, "inactive_warning_interval_days": 2}
    )
    async with seeded.transaction() as uow:
        await uow.connection.execute(update(accounts).values(last_activity_at=NOW - timedelta(days=11)))
    assert await sweep(seeded, quick, NOW) == {"warned": 4, "locked": 0}
    assert await sweep(seeded, quick, NOW + timedelta(days=2)) == {"warned": 0, "locked": 4}


async def test_the_accounts_migration_goes_down_and_up_again(identity_db_url) -> None:
    import asyncio

    from services.identity.app import SERVICE
    from services.kit.migrations import downgrade, upgrade

    await asyncio.to_thread(downgrade, SERVICE.migrations, identity_db_url, "0001")
    db = identity_database(identity_db_url)
    try:
        async with db.sessions() as session:
            tables = set((await session.execute(select(text("tablename")).select_from(text("pg_tables")))).scalars())
        assert not tables & {"accounts", "one_time_codes", "sign_in_audit", "sent_messages"}
        await asyncio.to_thread(upgrade, SERVICE.migrations, identity_db_url)
        assert await count(db, accounts) == 0
    finally:
        await db.dispose()
