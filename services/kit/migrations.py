"""Alembic, driven from code: each service keeps its history in ``services/<name>/migrations``
and its ``env.py`` is one call to :func:`run_env`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from .db import async_url
from .tables import OUTBOX_NOTIFY_DDL, OUTBOX_NOTIFY_DROP, kit_metadata


def alembic_config(migrations: Path, database_url: str, metadata: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(migrations / "versions"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["target_metadata"] = metadata
    return cfg


def upgrade(migrations: Path, database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision``. Synchronous: call it from a thread inside a loop."""
    command.upgrade(alembic_config(migrations, database_url), revision)


def downgrade(migrations: Path, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(migrations, database_url), revision)


def run_env() -> None:
    """The body of every service's ``migrations/env.py``."""
    cfg = context.config
    url = async_url(cfg.attributes["database_url"])

    def run(connection: Any) -> None:
        context.configure(connection=connection, target_metadata=cfg.attributes.get("target_metadata"))
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            # Two migrators racing on one database serialise here instead of failing half-way.
            await conn.execute(text("SELECT pg_advisory_lock(4242)"))
            await conn.run_sync(run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(main())


class MigrationOps(Protocol):
    """What the kit's tables need of a migration's ``op``: the ``alembic.op`` module, which stands
    for the running migration's :class:`alembic.operations.Operations`."""

    def get_bind(self) -> Connection: ...

    def execute(self, sqltext: str) -> None: ...


def create_kit_tables_v1(op: MigrationOps) -> None:
    """The outbox and inbox as of version 1; called by each service's first migration."""
    bind = op.get_bind()
    kit_metadata.create_all(bind)
    for statement in OUTBOX_NOTIFY_DDL:
        op.execute(statement)


def drop_kit_tables_v1(op: MigrationOps) -> None:
    for statement in OUTBOX_NOTIFY_DROP:
        op.execute(statement)
    kit_metadata.drop_all(op.get_bind())
