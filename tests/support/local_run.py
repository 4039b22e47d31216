"""``make run``'s launcher driven as a person uses it, for ``tests/e2e/test_demo_journey.py``:
started on free ports with its own data directory, waited for until the gateway is ready, stopped
with SIGTERM (every process within 10 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from deploy.local.components import postgres_bin
from services.kit.kafka import SERVICE_NAMES
from tests.conftest import ROOT


def launch(
    data_dir: Path, ports: dict[str, int], log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PORTAL_DATA_DIR": str(data_dir), **(extra_env or {})}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("PORTAL_DATABASE_URL", None)
    env["PORTAL_POSTGRES_PORT"] = str(ports["postgres"])
    env["PORTAL_KAFKA_PORT"] = str(ports["kafka"])
    env["GATEWAY_PORT"] = str(ports["gateway"])
    env["SANDBOX_BANK_PORT"] = str(ports["sandbox_bank"])
    env["SANDBOX_AGENCY_PORT"] = str(ports["sandbox_agency"])
    # No quiet hours for SMS: the journey's messages go whatever the hour the suite runs at.
    env["NOTIFICATION_QUIET_START"] = env["NOTIFICATION_QUIET_END"] = "00:00"
    for name, variable in (("mailbox_smtp", "SANDBOX_MAILBOX_SMTP_PORT"), ("mailbox_http", "SANDBOX_MAILBOX_HTTP_PORT"),
                           ("messaging", "SANDBOX_MESSAGING_PORT"), ("eid", "SANDBOX_EID_PORT")):  # fmt: skip
        if name in ports:
            env[variable] = str(ports[name])
    for name in SERVICE_NAMES:
        env[f"{name.upper()}_PORT"] = str(ports[name])
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "deploy.local.run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_ready(proc: subprocess.Popen, gateway: str, log: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"launcher exited early:\n{log.read_text()[-3000:]}"
        try:
            response = httpx.get(f"{gateway}/readyz", timeout=3)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready in {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> tuple[float, list[psutil.Process]]:
    family = psutil.Process(proc.pid).children(recursive=True)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    elapsed = time.monotonic() - started
    _, alive = psutil.wait_procs(family, timeout=2)
    return elapsed, alive


def psql(ports: dict[str, int], sql: str) -> str:
    url = f"postgresql://postgres@127.0.0.1:{ports['postgres']}/portal_dossier"
    result = subprocess.run(
        [str(postgres_bin() / "psql"), url, "-Atc", sql], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def when_up(url: str, timeout: float = 30) -> httpx.Response:
    """A sandbox's answer once it serves: sandboxes are not behind the gateway's readiness."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=3)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return httpx.get(url, timeout=3)


def eid_signing_key(ports: dict[str, int]) -> str:
    eid = f"http://127.0.0.1:{ports['eid']}"
    meta = when_up(f"{eid}/.well-known/openid-configuration").json()
    assert meta["issuer"] == eid
    [key] = httpx.get(meta["jwks_uri"], timeout=3).json()["keys"]
    return str(key["kid"])


def signs_in_through_the_sandbox_eid(gateway: str) -> str:
    """A citizen's sign-in through the sandbox e-ID, as make run wires them (its development
    password and OTP, docs/eid-sandbox.md): the portal's callback sends the browser on with a code."""
    from tests.identity.oidc.conftest import REDIRECT, authorize_params, pkce
    from tests.sandbox_eid.conftest import read_form

    with httpx.Client(timeout=10) as browser:
        started = browser.get(f"{gateway}/oauth2/eid/start", params=authorize_params(pkce()[1]))
        assert started.status_code == 303, started.text
        page = browser.get(started.headers["location"])
        form = read_form(page.text)
        fields = form.hidden | {"person": "binh", "password": "eid-sandbox", "otp": "123456"}
        back = browser.post(httpx.URL(started.headers["location"]).join(form.action), data=fields)
        assert back.headers["location"].startswith(f"{gateway}/oauth2/eid/callback?"), back.text
        done = browser.get(back.headers["location"])
    assert done.status_code == 200 and f'href="{REDIRECT}?code=' in done.text, done.text
    return done.text


def assert_stops_cleanly(proc: subprocess.Popen) -> None:
    elapsed, alive = stop(proc)
    assert proc.returncode == 0
    assert elapsed < 10, f"stopping took {elapsed:.1f}s"
    assert alive == [], f"left behind: {[p.pid for p in alive]}"
