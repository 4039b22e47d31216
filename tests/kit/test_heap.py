"""A process settles its heap once it has started: what start-up left alive is frozen out of the
garbage collector's walks. Each case runs in a process of its own (freezing is per process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_heap_is_frozen_once_and_later_objects_stay_collectable() -> None:
    out = run("""
        import gc
        from services.kit.heap import settle_heap
        before = gc.get_freeze_count()
        settle_heap()
        frozen = gc.get_freeze_count()
        later = [[i] for i in range(1000)]
        settle_heap()
        print(before, frozen > 0, gc.get_freeze_count() == frozen)
    """)
    assert out == "0 True True"


def test_a_service_settles_its_heap_when_it_has_started() -> None:
    out = run("""
        import gc
        from pathlib import Path
        from starlette.testclient import TestClient
        from services.kit.app import ServiceSpec, build_app
        from services.kit.settings import ServiceSettings
        spec = ServiceSpec(name="things", title="Things", settings_cls=ServiceSettings, migrations=Path("."),
                           routers=[])
        app = build_app(spec, ServiceSettings(log_json=False))
        print(gc.get_freeze_count() == 0, end=" ")
        with TestClient(app):
            print(gc.get_freeze_count() > 10_000)
    """)
    assert out == "True True"
