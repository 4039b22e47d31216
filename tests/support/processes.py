"""The portal's own processes, started as a deployment starts them (``python -m ...`` with an
environment), for tests that need them whole: their command line, their settings from the
environment, their tracer and metrics, one process each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ROOT

# Variables of the test process that must not leak into the portal's processes.
_LEAKY_PREFIXES = ("OTEL_", "KAFKA_", "PORTAL_", "GATEWAY_", "IDENTITY_", "CATALOGUE_", "DOSSIER_", "PAYMENT_", "SYNC_")


def portal_env(**variables: str) -> dict[str, str]:
    """The test process's environment without any portal or OpenTelemetry setting, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES)}
    return {**env, "PYTHONPATH": str(ROOT), "PORTAL_ENVIRONMENT": "test", "PORTAL_LOG_JSON": "true", **variables}


def run(argv: list[str], env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m <argv>`` to its end."""
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=dict(env), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@contextmanager
def process(argv: list[str], env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m <argv>`` running until the block ends; SIGTERM then (SIGKILL after 20 s)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, env=dict(env), stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, status: int = 200, timeout: float = 60) -> None:
    """Until ``url`` answers ``status`` (the process must stay up meanwhile)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args} exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        try:
            last = httpx.get(url, timeout=3).status_code
            if last == status:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} answered {last}, not {status}, within {timeout}s:\n{log.read_text()[-3000:]}")
