"""Operator commands of the catalogue service: ``python -m services.catalogue generate``."""

from __future__ import annotations

import json
import time
from typing import Any

from services.kit.app import Command
from services.kit.db import Database

from ..service import generator
from ..service.unit_of_work import CatalogueUnitOfWork


def _generate_arguments(parser: Any) -> None:
    parser.add_argument("--procedures", type=int, default=7_000, help="how many procedures (default 7000)")
    parser.add_argument("--services", type=int, default=100_000, help="how many online services (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="the same seed makes the same catalogue")


async def _generate(db: Database, settings: Any, args: Any) -> int:
    plan = generator.Plan(procedures=args.procedures, services=args.services, seed=args.seed)
    started = time.monotonic()
    async with db.transaction() as uow:
        assert isinstance(uow, CatalogueUnitOfWork), "the catalogue's database makes catalogue units"
        made = await generator.generate(uow, settings, plan)
    counts = {k: v for k, v in vars(made).items() if k != "service_ids"}
    print(json.dumps({**counts, "seconds": round(time.monotonic() - started, 1)}))
    return 0


COMMANDS = [
    Command("generate", "fill the catalogue with a generated national-scale one (not in production)",
            _generate_arguments, _generate),
]  # fmt: skip
