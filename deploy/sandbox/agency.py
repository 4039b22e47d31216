"""The agency simulator: a development-only stand-in for a province's one-stop system, so the
whole loop runs locally with nothing faked inside the portal.

It receives the dossiers the portal delivers (``POST /in``, checking the portal's signature and
dropping repeats by ``X-Delivery-Id``), then works on each as an agency would: it pushes the
configured statuses back through the portal's real sync API, a few seconds apart, with a token
obtained by client credentials from the portal's issuer. It speaks the provinces' own format by
default (``/api/v1/sync/compat``, ``CapNhatTienDoHoSoMC`` progress entries with Vietnamese
field names and ``yyyyMMddHHmmss`` times in Hanoi), or the portal's JSON (``format=portal``).
A push answered 429 is tried again after the ``Retry-After`` the portal gives (seconds or an
HTTP date), at most ``retries`` times and never waiting longer than ``max_retry_after_seconds``
at once, as an agency system that keeps its work would. Besides the filing, the portal delivers
what the citizen does next (``X-Delivery-Kind``: ``supplement``, ``withdrawal``): the simulator
keeps them (``GET /received``) and works only on filings.
``GET /received`` lists what arrived. Command: ``python -m deploy.sandbox.agency``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI, HTTPException, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit import webhooks

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


class AgencySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_AGENCY_", extra="ignore")

    environment: str = Field(default="development", validation_alias="PORTAL_ENVIRONMENT")
    port: int = 8011
    agency_code: str = "000.00.01.H22"
    # The secret the portal signs deliveries with (registered with the agency's endpoint).
    secret: str = "development-agency-secret-0123456789abcdef"  # noqa: S105 - development only
    portal_url: str = "http://127.0.0.1:8000"
    client_id: str = "demo-province"
    client_secret: str = "demo-province-development-secret"  # noqa: S105 - the documented development client
    # What the agency does with each dossier: these national statuses, this many seconds apart.
    statuses: list[int] = Field(default_factory=lambda: [2, 4, 9, 10])
    step_seconds: float = Field(default=3.0, ge=0)
    format: Literal["compat", "portal"] = "compat"
    # A push answered 429 is tried again after Retry-After: this many times, waiting at most this long.
    retries: int = Field(default=5, ge=0, le=20)
    max_retry_after_seconds: float = Field(default=60.0, ge=0, le=600)


def retry_after(value: str | None, *, cap: float, now: datetime | None = None) -> float:
    """Seconds to wait for a ``Retry-After`` value (delay-seconds or an HTTP date), bounded by
    ``cap``; one second when the value is missing or unreadable."""
    if not value:
        return min(1.0, cap)
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), cap)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return min(1.0, cap)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, min((when - (now or datetime.now(UTC))).total_seconds(), cap))


class Simulator:
    def __init__(self, settings: AgencySettings, token_source: Callable[[], str] | None = None):
        self.settings = settings
        self.received: dict[str, dict[str, Any]] = {}  # delivery id -> dossier (filings)
        self.followups: list[dict[str, Any]] = []  # supplements and withdrawals, as delivered
        self.pushed: list[dict[str, Any]] = []
        self._token: tuple[str, float] | None = None
        self._token_source = token_source
        self.tasks: set[asyncio.Task[None]] = set()

    async def token(self, client: httpx.AsyncClient) -> str:
        if self._token_source is not None:
            return self._token_source()
        if self._token is None or self._token[1] < time.monotonic() + 30:
            grant = {"grant_type": "client_credentials"}
            credentials = (self.settings.client_id, self.settings.client_secret)
            answer = await client.post(f"{self.settings.portal_url}/oauth2/token", data=grant, auth=credentials)
            answer.raise_for_status()
            body = answer.json()
            self._token = (body["access_token"], time.monotonic() + float(body.get("expires_in", 300)))
        return self._token[0]

    def push(self, dossier: dict[str, Any], status: int) -> tuple[str, dict[str, Any]]:
        """The path and body of one status push, in this agency's format."""
        note = f"Sandbox: status {status}"
        now = datetime.now(UTC)
        if self.settings.format == "portal":
            record = {"dossier_code": dossier["code"], "agency_code": dossier["agency_code"], "status": status,
                      "occurred_at": now.isoformat(), "handler": "Sandbox agency", "note": note}  # fmt: skip
            return "/api/v1/sync/records", {"records": [record]}
        entry = {"MaHoSo": dossier["code"], "MaDonVi": dossier["agency_code"], "TrangThai": str(status),
                 "ThoiDiemXuLy": now.astimezone(HANOI).strftime("%Y%m%d%H%M%S"), "NguoiXuLy": "Cán bộ một cửa",
                 "PhongBanXuLy": "Bộ phận tiếp nhận và trả kết quả", "NoiDungXuLy": note}  # fmt: skip
        return "/api/v1/sync/compat", {"service": "CapNhatTienDoHoSoMC", "isUpdating": True, "data": [entry]}

    async def send(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
        """One push, tried again after ``Retry-After`` while the portal answers 429 (bounded)."""
        for attempt in range(self.settings.retries + 1):
            headers = {"Authorization": f"Bearer {await self.token(client)}"}
            answer = await client.post(f"{self.settings.portal_url}{path}", headers=headers, json=body)
            if answer.status_code != 429 or attempt == self.settings.retries:
                return answer
            wait = retry_after(answer.headers.get("retry-after"), cap=self.settings.max_retry_after_seconds)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def work_on(self, dossier: dict[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            for step, status in enumerate(self.settings.statuses):
                await asyncio.sleep(self.settings.step_seconds if step else self.settings.step_seconds / 2)
                path, body = self.push(dossier, status)
                answer = await self.send(client, path, body)
                outcome = answer.json()["results"][0]["outcome"] if answer.status_code == 200 else None
                self.pushed.append({"code": dossier["code"], "status": status, "answer": answer.status_code,
                                    "path": path, "outcome": outcome})  # fmt: skip


def create_app(settings: AgencySettings | None = None, token_source: Any | None = None) -> FastAPI:
    settings = settings or AgencySettings()
    if settings.environment == "production":
        raise RuntimeError("the agency simulator is for development only")
    simulator = Simulator(settings, token_source)
    app = FastAPI(title="Agency simulator (development only)")
    app.state.simulator = simulator

    @app.post("/in")
    async def take(request: Request) -> dict[str, str]:
        body = await request.body()
        try:
            webhooks.verify(request.headers.get("x-signature"), body, [settings.secret], now=int(time.time()))
        except webhooks.SignatureRefused as refused:
            raise HTTPException(401, f"signature refused: {refused.reason}") from refused
        delivery = request.headers.get("x-delivery-id", "")
        if delivery in simulator.received or any(f["delivery_id"] == delivery for f in simulator.followups):
            return {"result": "already received"}
        kind = request.headers.get("x-delivery-kind", "filing")
        if kind != "filing":  # a supplement or a withdrawal: kept for the official
            simulator.followups.append({"delivery_id": delivery, "kind": kind, "content": await request.json(),
                                        "dossier_id": request.headers.get("x-dossier-id")})  # fmt: skip
            return {"result": "received"}
        dossier = await request.json()
        simulator.received[delivery] = dossier
        task = asyncio.create_task(simulator.work_on(dossier))
        simulator.tasks.add(task)
        task.add_done_callback(simulator.tasks.discard)
        return {"result": "received"}

    @app.get("/received")
    async def received() -> dict[str, Any]:
        return {
            "dossiers": [d["code"] for d in simulator.received.values()],
            "pushed": simulator.pushed,
            "followups": [{"kind": f["kind"], "dossier_id": f["dossier_id"]} for f in simulator.followups],
        }

    return app


if __name__ == "__main__":
    from services.kit.http import serve_factory

    serve_factory("deploy.sandbox.agency:create_app", host="127.0.0.1", port=AgencySettings().port)
