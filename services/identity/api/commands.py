"""Operator commands of the identity service: ``python -m services.identity rotate-keys`` and
``python -m services.identity clients create|list|rotate-secret|disable``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from services.kit.app import Command
from services.kit.db import Database

from ..adapters.unit_of_work import transaction
from ..domain.oauth import ClientKind
from ..service import clients, keys
from .schemas import ClientCreatedPublic, ClientPublic


def _rotate_arguments(parser: Any) -> None:
    parser.add_argument("--now", action="store_true", help="sign with the new key at once (emergency)")


async def _rotate(db: Database, settings: Any, args: Any) -> int:
    now = datetime.now(UTC)
    async with transaction(db) as uow:
        kid = await (keys.create_key(uow, settings, now) if args.now else keys.rotate(uow, settings, now))
    print(json.dumps({"kid": kid, "published": True, "signs_from": "now" if args.now else "after the publish delay"}))
    return 0


def _clients_arguments(parser: Any) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="register a client; prints its secret once")
    create.add_argument("client_id")
    create.add_argument("--name", required=True)
    create.add_argument("--kind", choices=[k.value for k in ClientKind], required=True)
    create.add_argument("--grant", action="append", dest="grants", required=True)
    create.add_argument("--redirect-uri", action="append", default=[])
    create.add_argument("--post-logout-redirect-uri", action="append", default=[])
    create.add_argument("--scope", action="append", default=[])
    create.add_argument("--agency", action="append", default=[])
    create.add_argument("--auth-method", choices=clients.AUTH_METHODS)
    create.add_argument("--jwks-file", help="public keys for private_key_jwt (JSON)")
    sub.add_parser("list", help="list clients")
    for name in ("rotate-secret", "disable"):
        sub.add_parser(name).add_argument("client_id")


async def _clients(db: Database, settings: Any, args: Any) -> int:
    now = datetime.now(UTC)
    async with transaction(db) as uow:
        if args.action == "list":
            out: Any = [ClientPublic.of(client).model_dump(mode="json") for client in await clients.list_clients(uow)]
        elif args.action == "create":
            jwks = json.loads(open(args.jwks_file).read()) if args.jwks_file else None  # noqa: SIM115, ASYNC230
            client, secret = await clients.create_client(
                uow, client_id=args.client_id, name=args.name, kind=ClientKind(args.kind), grant_types=args.grants,
                redirect_uris=args.redirect_uri, post_logout_redirect_uris=args.post_logout_redirect_uri,
                allowed_scopes=args.scope, agencies=args.agency, auth_method=args.auth_method, jwks=jwks,
            )  # fmt: skip
            out = ClientCreatedPublic(**ClientPublic.of(client).model_dump(), client_secret=secret).model_dump(
                mode="json"
            )
        elif args.action == "rotate-secret":
            out = {"client_id": args.client_id, "client_secret": await clients.rotate_secret(uow, args.client_id, now)}
        else:
            await clients.disable_client(uow, args.client_id, now)
            out = {"client_id": args.client_id, "disabled": True}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


COMMANDS = [
    Command("rotate-keys", "publish a new signing key (it signs after the publish delay)", _rotate_arguments, _rotate),
    Command("clients", "manage OAuth clients", _clients_arguments, _clients),
]
