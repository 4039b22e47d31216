"""Operator commands of the sync service: ``python -m services.sync deliveries failing``,
``deliveries show ID`` and ``deliveries redeliver --agency CODE | --delivery ID`` — the same use
cases as the operators' API (``/deliveries/failing``, ``/deliveries/{id}``, ``.../redeliver``),
for when the API is not at hand (docs/runbook.md)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from services.kit.app import Command
from services.kit.db import Database
from services.kit.errors import NotFound
from services.kit.problems import problem_for

from ..service import outbound
from ..service.unit_of_work import sync_unit
from .schemas import DeliveryPublic, FailingAgencyPublic, FailingPublic, RedeliveryPublic


def _arguments(parser: Any) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("failing", help="agencies whose deliveries fail or are dead, with counts")
    sub.add_parser("show", help="one delivery and its attempts").add_argument("delivery_id", type=int)
    redeliver = sub.add_parser("redeliver", help="dead deliveries pending again at once (attempts counted anew)")
    which = redeliver.add_mutually_exclusive_group(required=True)
    which.add_argument("--agency", help="every dead delivery to this agency (its code)")
    which.add_argument("--delivery", type=int, help="this dead delivery (its id)")


async def _run(db: Database, _settings: Any, args: Any) -> int:
    out: BaseModel
    async with db.transaction() as unit:
        uow = sync_unit(unit)
        try:
            if args.action == "failing":
                out = FailingPublic(agencies=[FailingAgencyPublic.from_agency(a) for a in await outbound.failing(uow)])
            elif args.action == "show":
                out = DeliveryPublic.from_history(await outbound.delivery_detail(uow, args.delivery_id))
            else:
                count = await outbound.redeliver(uow, delivery_id=args.delivery, agency_code=args.agency)
                out = RedeliveryPublic(redelivering=count)
        except NotFound as exc:
            print(json.dumps({"error": exc.detail or problem_for(exc).title}))
            return 1
    print(json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 0


COMMANDS = [Command("deliveries", "watch and redeliver dossier deliveries to agencies' systems", _arguments, _run)]
