"""The caller's wallet: balance summary, statement, transfers; and the admins' mint."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response

from stratabase.api.deps import AdminUserDep, CurrentUserDep, CursorsDep, WriterUserDep
from stratabase.api.routes._params import DEFAULT, Cursor, Limit
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import PageOut
from stratabase.api.schemas.ledger import HistoryItemOut
from stratabase.ledger.service import LedgerService
from stratabase.schemas.ledger import CreditRequest, TransferCreate, TransferRead, WalletRead

router = api_router("/v1/wallet", tag="wallet")

_HISTORY = "wallet-history"


def get_ledger(request: Request) -> LedgerService:
    """The app's ledger, built on first use with the hooks in ``app.state.ledger_hooks``."""
    state = request.app.state
    ledger = getattr(state, "ledger", None)
    if ledger is None:
        ledger = LedgerService(state.db, getattr(state, "ledger_hooks", ()))
        state.ledger = ledger
    return ledger


LedgerDep = Annotated[LedgerService, Depends(get_ledger)]
#: Longest Idempotency-Key accepted: with its ``u<user id>:`` scope it fits the column (128).
IDEMPOTENCY_KEY_MAX = 100
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


def _transfer_out(transfer: Any, response: Response) -> TransferRead:
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
    codec: CursorsDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[HistoryItemOut]:
    """The statement, newest first, keyset-paged."""
    before = None
    if cursor is not None:
        (value,) = codec.decode(_HISTORY, cursor, 1)
        before = int(value) if isinstance(value, int) else None
    page = await ledger.history(principal.user_id, limit=limit, before=before)
    next_cursor = None if page.next_before is None else codec.encode(_HISTORY, [page.next_before])
    return PageOut[HistoryItemOut](
        items=[HistoryItemOut(**asdict(item)) for item in page.items],
        next_cursor=next_cursor,
        has_more=next_cursor is not None,
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
    reference = (
        None if body.reference_type is None else (body.reference_type, str(body.reference_id))
    )
    scoped_key = f"u{principal.user_id}:{key}"
    if body.to_user_id is not None:
        result = await ledger.transfer(
            principal.user_id,
            body.to_user_id,
            body.amount,
            reason=body.reason,
            reference=reference,
            key=scoped_key,
            metadata=body.metadata,
        )
    else:
        result = await ledger.transfer_to_account(
            principal.user_id,
            int(body.to_account_id or 0),
            body.amount,
            reason=body.reason,
            reference=reference,
            key=scoped_key,
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
    reference = (
        None if body.reference_type is None else (body.reference_type, str(body.reference_id))
    )
    result = await ledger.credit(
        body.user_id,
        body.amount,
        reason=body.reason,
        reference=reference,
        key=f"mint:{key}",
        metadata={**body.metadata, "minted_by": admin.user_id},
    )
    return _transfer_out(result, response)
