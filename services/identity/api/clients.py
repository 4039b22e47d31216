"""The client registry's admin API (scope ``identity:admin``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field

from services.kit.app import UnitOfWorkDep
from services.kit.auth import Principal, require_scopes
from services.kit.schemas import StrictModel

from ..domain.oauth import ClientKind, GrantType
from ..service import clients

router = APIRouter(prefix="/clients")
Admin = Annotated[Principal, require_scopes("identity:admin")]

CLIENT_ID = r"^[a-z0-9][a-z0-9._-]{2,63}$"
# A client id in a path: the same rule, so text that names no client never reaches the database.
ClientId = Annotated[str, Path(pattern=CLIENT_ID)]


class ClientCreate(StrictModel):
    client_id: str = Field(pattern=CLIENT_ID)
    name: str = Field(min_length=1, max_length=200)
    kind: ClientKind
    grant_types: list[GrantType] = Field(min_length=1, max_length=3)
    redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    agencies: list[str] = Field(default_factory=list, max_length=100)
    token_endpoint_auth_method: str | None = Field(default=None, max_length=40)
    jwks: dict[str, Any] | None = None


@router.get("")
async def list_clients(uow: UnitOfWorkDep, _: Admin) -> list[dict[str, Any]]:
    return await clients.list_clients(uow)


@router.post("", status_code=201)
async def create_client(body: ClientCreate, uow: UnitOfWorkDep, _: Admin) -> dict[str, Any]:
    client, secret = await clients.create_client(
        uow, client_id=body.client_id, name=body.name, kind=body.kind, grant_types=[g.value for g in body.grant_types],
        redirect_uris=body.redirect_uris, post_logout_redirect_uris=body.post_logout_redirect_uris,
        allowed_scopes=body.scopes, agencies=body.agencies, auth_method=body.token_endpoint_auth_method,
        jwks=body.jwks,
    )  # fmt: skip
    return {**client.public_view(), "client_secret": secret}


@router.post("/{client_id}/secret", operation_id="rotateClientSecret")
async def rotate_secret(client_id: ClientId, uow: UnitOfWorkDep, _: Admin) -> dict[str, str]:
    return {"client_id": client_id, "client_secret": await clients.rotate_secret(uow, client_id, datetime.now(UTC))}


@router.delete("/{client_id}", status_code=204)
async def disable_client(client_id: ClientId, uow: UnitOfWorkDep, _: Admin) -> None:
    await clients.disable_client(uow, client_id, datetime.now(UTC))
