"""The client registry's admin API (scope ``identity:admin``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from services.kit.auth import Principal, require_scopes

from ..service import clients
from .dependencies import IdentityUnitOfWorkDep
from .schemas import CLIENT_ID, ClientCreate, ClientCreatedPublic, ClientPublic, ClientSecretPublic

router = APIRouter(prefix="/clients")
Admin = Annotated[Principal, require_scopes("identity:admin")]

# A client id in a path: the same rule, so text that names no client never reaches the database.
ClientId = Annotated[str, Path(pattern=CLIENT_ID)]


@router.get("", response_model=list[ClientPublic])
async def list_clients(uow: IdentityUnitOfWorkDep, _: Admin) -> list[ClientPublic]:
    return [ClientPublic.of(client) for client in await clients.list_clients(uow)]


@router.post("", status_code=201, response_model=ClientCreatedPublic)
async def create_client(body: ClientCreate, uow: IdentityUnitOfWorkDep, _: Admin) -> ClientCreatedPublic:
    client, secret = await clients.create_client(
        uow, client_id=body.client_id, name=body.name, kind=body.kind, grant_types=[g.value for g in body.grant_types],
        redirect_uris=body.redirect_uris, post_logout_redirect_uris=body.post_logout_redirect_uris,
        allowed_scopes=body.scopes, agencies=body.agencies, auth_method=body.token_endpoint_auth_method,
        jwks=body.jwks, backchannel_logout_uri=body.backchannel_logout_uri,
        backchannel_logout_session_required=body.backchannel_logout_session_required,
        require_pushed_authorization_requests=body.require_pushed_authorization_requests,
        dpop_bound_access_tokens=body.dpop_bound_access_tokens, fapi2=body.fapi2,
    )  # fmt: skip
    return ClientCreatedPublic(**ClientPublic.of(client).model_dump(), client_secret=secret)


@router.post("/{client_id}/secret", response_model=ClientSecretPublic, operation_id="rotateClientSecret")
async def rotate_secret(client_id: ClientId, uow: IdentityUnitOfWorkDep, _: Admin) -> ClientSecretPublic:
    secret = await clients.rotate_secret(uow, client_id, datetime.now(UTC))
    return ClientSecretPublic(client_id=client_id, client_secret=secret)


@router.delete("/{client_id}", status_code=204)
async def disable_client(client_id: ClientId, uow: IdentityUnitOfWorkDep, _: Admin) -> None:
    await clients.disable_client(uow, client_id, datetime.now(UTC))
