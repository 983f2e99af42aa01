"""The caller's wallet: balance summary, statement, transfers; and the admins' mint."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Response

from stratabase.api.deps import (
    AdminUserDep,
    CurrentUserDep,
    LedgerDep,
    WriterUserDep,
)
from stratabase.api.routes._params import DEFAULT, Cursor, Limit
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.ledger import HistoryItemOut
from stratabase.ledger.service import IDEMPOTENCY_KEY_MAX
from stratabase.ledger.values import Transfer
from stratabase.schemas.ledger import CreditRequest, TransferCreate, TransferRead, WalletRead

router = api_router("/v1/wallet", tag="wallet")

#: Required on every request that moves tokens; retries with the same key move them once.
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="a unique key per operation (e.g. a UUID); reuse it only to retry",
    ),
]

#: A retry with the same Idempotency-Key and body answers the original transfer with 200.
REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TransferRead,
        "description": "a retry of a key already used: the original transfer, unchanged "
        "(header `Idempotent-Replayed: true`)",
    }
}


def _reference(body: TransferCreate | CreditRequest) -> tuple[str, str] | None:
    """What the movement pays for, as the service takes it."""
    if body.reference_type is None:
        return None
    return (body.reference_type, str(body.reference_id))


def _transfer_out(transfer: Transfer, response: Response) -> TransferRead:
    """The transfer; a replay answers 200 (not 201) and says so in a header."""
    if transfer.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return TransferRead.model_validate(transfer)


@router.get("", response_model=WalletRead)
async def wallet(principal: CurrentUserDep, ledger: LedgerDep) -> WalletRead:
    """Balance, held, available, earned and spent."""
    return WalletRead.model_validate(await ledger.wallet(principal.user_id))


@router.get("/transactions", response_model=PageOut[HistoryItemOut])
async def transactions(
    principal: CurrentUserDep,
    ledger: LedgerDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[HistoryItemOut]:
    """The statement, newest first, keyset-paged."""
    page = await ledger.statement(principal, cursor=cursor, limit=limit)
    return PageOut[HistoryItemOut](
        items=[HistoryItemOut.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.post("/transfers", response_model=TransferRead, status_code=201, responses=REPLAYED)
async def transfer(
    body: TransferCreate,
    principal: WriterUserDep,
    ledger: LedgerDep,
    key: IdempotencyKey,
    response: Response,
) -> TransferRead:
    """Send tokens to a user (``to_user_id``) or to a user's wallet (``to_account_id``).

    403 when either user blocks the other; 422 when ``to_account_id`` is not another
    user's wallet (system accounts move only through their own operations).

    409 insufficient-funds moves nothing; 409 conflict means the key was used for another
    request; a retry with the same key and body answers 200 with the original transfer.
    """
    result = await ledger.send(
        principal,
        body.amount,
        key=key,
        to_user_id=body.to_user_id,
        to_account_id=body.to_account_id,
        reason=body.reason,
        reference=_reference(body),
        metadata=body.metadata,
    )
    return _transfer_out(result, response)


@router.post("/credits", response_model=TransferRead, status_code=201, responses=REPLAYED)
async def mint(
    body: CreditRequest,
    admin: AdminUserDep,
    ledger: LedgerDep,
    key: IdempotencyKey,
    response: Response,
) -> TransferRead:
    """Admins only: mint tokens from the treasury into a user's wallet."""
    result = await ledger.mint(
        admin,
        body.user_id,
        body.amount,
        key=key,
        reason=body.reason,
        reference=_reference(body),
        metadata=body.metadata,
    )
    return _transfer_out(result, response)
