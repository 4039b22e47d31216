"""Export the JSON Schema of every contract into ``contracts/schemas/``.

``python -m contracts.export`` writes them; ``--check`` fails when a file differs (the
test suite runs the same comparison).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from contracts.registry import ENVELOPES, EVENT_TYPES

SCHEMA_DIR = Path(__file__).parent / "schemas"


def rendered_schemas() -> dict[str, str]:
    """File name -> schema text, exactly as it must stand in the repository."""
    out: dict[str, str] = {}
    for name, model in {**ENVELOPES, **EVENT_TYPES}.items():
        schema = model.model_json_schema()
        schema["$id"] = f"urn:portal:contracts:{name}"
        out[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def drift() -> list[str]:
    """Names of schema files that are missing, stale or no longer backed by a model."""
    wanted = rendered_schemas()
    have = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    return sorted({n for n in wanted if have.get(n) != wanted[n]} | (have.keys() - wanted.keys()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = drift()
        for name in stale:
            print(f"contract schema out of date: {name}", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for gone in set(p.name for p in SCHEMA_DIR.glob("*.json")) - rendered_schemas().keys():
        (SCHEMA_DIR / gone).unlink()
    for name, text in rendered_schemas().items():
        (SCHEMA_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
