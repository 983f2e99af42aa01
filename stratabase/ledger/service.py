"""Ledger use cases: credit, deduct, transfer, linked batches, reversals, balances.

Each use case owns its transaction. On PostgreSQL a plain transfer is one statement (see
``postgres.py``); everything else, and everything on SQLite, is a short transaction of
conditional statements (``movements.py``). Committed changes are announced to the hooks
the service was built with (cache invalidation, change feed) and only then.

Holds (two-phase transfers) live in ``holds.py`` and share this class's plumbing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase import audit
from stratabase.audit import audit_after
from stratabase.auth.principal import Principal
from stratabase.changes import emit
from stratabase.db.session import Database, after_commit
from stratabase.enums import TransferStatus
from stratabase.exceptions import AlreadyExists, Conflict, InvalidInput, PermissionDenied
from stratabase.ledger import accounts, movements, parties, postgres, queries, refusals
from stratabase.ledger import verify as verification
from stratabase.ledger.holds import HoldOperations
from stratabase.ledger.movements import Movement, find_by_key, move, replay
from stratabase.ledger.values import (
    DEFAULT_CURRENCY,
    HistoryItem,
    HistoryPage,
    SystemAccount,
    Transfer,
    Wallet,
    WalletChange,
    WalletHook,
    request_hash,
)
from stratabase.pagination import CursorCodec, Page

logger = logging.getLogger("stratabase.ledger")

T = TypeVar("T")

#: The kind signed into statement cursors: a cursor of another list is refused.
HISTORY_CURSOR = "wallet-history"
#: Most movements one linked batch may carry.
MAX_LINKED = 100

Reference = tuple[str, str]
#: Longest caller idempotency key: with its ``u<user id>:`` scope it fits the column (128).
IDEMPOTENCY_KEY_MAX = 100


def sender_key(user_id: int, key: str) -> str:
    """A user's idempotency key as stored: scoped to the user, so keys never collide."""
    return f"u{user_id}:{key}"


def _reference(reference: Reference | None) -> dict[str, str | None]:
    if reference is None:
        return {"reference_type": None, "reference_id": None}
    kind, ident = reference
    return {"reference_type": kind, "reference_id": str(ident)}


def _fingerprint(movement: Movement) -> dict[str, Any]:
    # vars(), not dataclasses.asdict(): asdict deep-copies, a cost paid on every transfer.
    return dict(vars(movement))


class LedgerService(HoldOperations):
    """The token ledger. Build one per app with the Database and the hooks to notify."""

    def __init__(
        self,
        db: Database,
        hooks: Iterable[WalletHook] = (),
        *,
        cursors: CursorCodec | None = None,
    ) -> None:
        self.db = db
        self.hooks: list[WalletHook] = list(hooks)
        #: Signs statement cursors (by default with the database settings' secret key).
        self.cursors = cursors or CursorCodec(db.settings.secret_key.get_secret_value())
        self._system_ids: dict[tuple[str, str], int] = {}
        self._batcher: postgres.TransferBatcher | None = None

    # --- plumbing shared with holds.py and payments.py ---------------------------------

    def announce(
        self,
        session: AsyncSession | None,
        kind: str,
        transfer_ids: Sequence[int],
        account_ids: Iterable[int],
        user_ids: Iterable[int | None],
    ) -> Awaitable[None] | None:
        """Tell the hooks after commit (``session``) or now (an autocommitted statement)."""
        change = WalletChange(
            kind=kind,
            transfer_ids=tuple(transfer_ids),
            account_ids=tuple(sorted(set(account_ids))),
            user_ids=tuple(sorted({u for u in user_ids if u is not None})),
        )
        if session is not None:
            emit.wallet_changed(session, change)  # the change feed's outbox, same transaction
            for hook in self.hooks:
                after_commit(session, partial(hook, change))
            return None
        return self._run_hooks(change)

    async def _run_hooks_now(
        self,
        kind: str,
        transfer_ids: Sequence[int],
        account_ids: Iterable[int],
        user_ids: Iterable[int | None],
    ) -> None:
        outcome = self.announce(None, kind, transfer_ids, account_ids, user_ids)
        if outcome is not None:
            await outcome

    async def _run_hooks(self, change: WalletChange) -> None:
        for hook in self.hooks:
            try:
                outcome = hook(change)
                if outcome is not None:
                    await outcome
            except Exception:  # committed already: a hook must not turn success into failure
                logger.exception("ledger hook %r failed", hook)

    async def idempotent(
        self, work: Callable[[AsyncSession], Awaitable[T]], key: str | None, digest: str | None
    ) -> T | Transfer:
        """Run ``work``; if a concurrent twin won the key, answer as its retry would."""
        try:
            return await self.db.transaction(work)
        except AlreadyExists as exc:
            if key is None or exc.constraint != movements.IDEMPOTENCY_CONSTRAINT:
                raise
        async with self.db.session() as session:
            row = await find_by_key(session, key)
        assert row is not None, "the unique key refused us, so its row exists"
        return replay(row, digest or "")

    async def system_account(
        self, code: SystemAccount | str, currency: str = DEFAULT_CURRENCY
    ) -> int:
        """A system account's id (cached: they are created once and never change)."""
        cache_key = (str(code), currency)
        found = self._system_ids.get(cache_key)
        if found is None:
            found = await self.db.transaction(
                lambda session: accounts.system_account_id(session, code, currency)
            )
            self._system_ids[cache_key] = found
        return found

    async def wallet_account(self, user_id: int, currency: str = DEFAULT_CURRENCY) -> int:
        """A user's wallet id, created on first use."""
        async with self.db.session() as session:
            found = await accounts.find_wallet(session, user_id, currency)
        if found is not None:
            return found
        return await self.db.transaction(
            lambda session: accounts.wallet_id(session, user_id, currency)
        )

    # --- movements ----------------------------------------------------------------------

    async def transfer_accounts(
        self,
        debit_account_id: int,
        credit_account_id: int,
        amount: int,
        *,
        reason: str = "",
        currency: str = DEFAULT_CURRENCY,
        reference: Reference | None = None,
        key: str | None = None,
        metadata: dict[str, Any] | None = None,
        kind: str = "transfer",
    ) -> Transfer:
        """Move ``amount`` between two accounts; InsufficientFunds leaves nothing written.

        The primitive under every operation, system ones included: it applies no rule about
        who may pay whom. A user's transfer goes through ``transfer`` or
        ``transfer_to_account``, which refuse blocks and system accounts.
        """
        movement = Movement(
            debit_account_id,
            credit_account_id,
            amount,
            currency,
            reason,
            metadata=metadata,
            **_reference(reference),
        )
        movement.check()
        digest = request_hash("transfer", _fingerprint(movement)) if key else None
        # A different algorithm: PostgreSQL batches concurrent transfers in one function call.
        if self.db.backend == "postgres":
            if self._batcher is None:
                self._batcher = postgres.TransferBatcher(self.db)
            result, owners = await self._batcher.transfer(
                movement, key=key, digest=digest, kind=kind
            )
            if not result.replayed:
                accounts_touched = [debit_account_id, credit_account_id]
                await self._run_hooks_now(kind, [result.id], accounts_touched, owners)
            return result

        async def work(session: AsyncSession) -> Transfer | refusals.Refused:
            if key is not None and (row := await find_by_key(session, key)) is not None:
                return replay(row, digest or "")
            outcome = await refusals.attempt(
                session,
                key,
                digest or "",
                lambda: move(session, movement, key=key, request_hash=digest),
                self.db.translator.translate,
            )
            if isinstance(outcome, refusals.Refused):
                return outcome
            result, owners = outcome
            self.announce(session, kind, [result.id], [debit_account_id, credit_account_id], owners)
            return result

        outcome = await self.idempotent(work, key, digest)
        if isinstance(outcome, refusals.Refused):
            raise refusals.error(outcome.code, movement, key)
        return outcome

    async def credit(
        self,
        user_id: int,
        amount: int,
        *,
        reason: str,
        source: SystemAccount = SystemAccount.TREASURY,
        currency: str = DEFAULT_CURRENCY,
        reference: Reference | None = None,
        key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """Mint into a user's wallet: the system account ``source`` is debited."""
        debit = await self.system_account(source, currency)
        credit = await self.wallet_account(user_id, currency)
        return await self.transfer_accounts(
            debit,
            credit,
            amount,
            reason=reason,
            currency=currency,
            reference=reference,
            key=key,
            metadata=metadata,
            kind="credit",
        )

    async def deduct(
        self,
        user_id: int,
        amount: int,
        *,
        reason: str,
        reference: Reference | None = None,
        to: SystemAccount = SystemAccount.FEES,
        currency: str = DEFAULT_CURRENCY,
        key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """Spend from a user's wallet on something (``reference``): the seeds'
        ``atomicTokenOperation(userId, 'deduct', amount, reason)``, without its race."""
        debit = await self.wallet_account(user_id, currency)
        credit = await self.system_account(to, currency)
        return await self.transfer_accounts(
            debit,
            credit,
            amount,
            reason=reason,
            currency=currency,
            reference=reference,
            key=key,
            metadata=metadata,
            kind="deduct",
        )

    async def transfer(
        self,
        from_user_id: int,
        to_user_id: int,
        amount: int,
        *,
        reason: str = "",
        currency: str = DEFAULT_CURRENCY,
        reference: Reference | None = None,
        key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """User to user (the seeds' ``transferBalance``); refused (403) when either user
        blocks the other."""
        if from_user_id == to_user_id:
            raise InvalidInput("cannot transfer to yourself", field="to_user_id")
        async with self.db.session() as session:
            # A key with an outcome answers it (a replay) even if a block came since.
            if key is None or not await refusals.key_used(session, key):
                await parties.require_no_block(session, from_user_id, to_user_id)
        debit = await self.wallet_account(from_user_id, currency)
        credit = await self.wallet_account(to_user_id, currency)
        return await self.transfer_accounts(
            debit,
            credit,
            amount,
            reason=reason,
            currency=currency,
            reference=reference,
            key=key,
            metadata=metadata,
        )

    async def transfer_to_account(
        self,
        from_user_id: int,
        to_account_id: int,
        amount: int,
        *,
        reason: str = "",
        reference: Reference | None = None,
        key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """User to another user's wallet, named by its account id (as statements show it).

        Only a user's wallet may be named: system accounts move through their own
        operations (``credit``, ``deduct``, payments), never by a user's transfer.
        """
        async with self.db.session() as session:
            owner, currency = await parties.recipient_of(session, to_account_id, from_user_id)
            if key is None or not await refusals.key_used(session, key):
                await parties.require_no_block(session, from_user_id, owner, field="to_account_id")
        debit = await self.wallet_account(from_user_id, currency)
        return await self.transfer_accounts(
            debit,
            to_account_id,
            amount,
            reason=reason,
            currency=currency,
            reference=reference,
            key=key,
            metadata=metadata,
        )

    async def send(
        self,
        principal: Principal,
        amount: int,
        *,
        key: str,
        to_user_id: int | None = None,
        to_account_id: int | None = None,
        reason: str = "",
        reference: Reference | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """A signed-in user's transfer to a user or to a user's wallet (exactly one).

        ``key`` is the caller's idempotency key; it is scoped to the sender
        (``u<user id>:<key>``), so two users' keys never collide.
        """
        principal.require_writer()
        if (to_user_id is None) == (to_account_id is None):
            raise InvalidInput(
                "give exactly one of to_user_id and to_account_id", field="to_user_id"
            )
        if not key or len(key) > IDEMPOTENCY_KEY_MAX:
            raise InvalidInput(
                f"the idempotency key must have 1 to {IDEMPOTENCY_KEY_MAX} characters",
                field="Idempotency-Key",
            )
        scoped = sender_key(principal.user_id, key)
        if to_user_id is not None:
            return await self.transfer(
                principal.user_id,
                to_user_id,
                amount,
                reason=reason,
                reference=reference,
                key=scoped,
                metadata=metadata,
            )
        return await self.transfer_to_account(
            principal.user_id,
            int(to_account_id or 0),
            amount,
            reason=reason,
            reference=reference,
            key=scoped,
            metadata=metadata,
        )

    async def mint(
        self,
        admin: Principal,
        user_id: int,
        amount: int,
        *,
        key: str,
        reason: str,
        reference: Reference | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """An admin mints from the treasury; the key is scoped to mints (``mint:<key>``) and
        the transfer's metadata records who minted."""
        if not admin.is_admin:
            raise PermissionDenied("administrators only")
        minted = await self.credit(
            user_id,
            amount,
            reason=reason,
            reference=reference,
            key=f"mint:{key}",
            metadata={**(metadata or {}), "minted_by": admin.user_id},
        )
        await audit_after(
            self.db,
            admin.user_id,
            "wallet.minted",
            "ledger_transfer",
            minted.id,
            {"user_id": [None, user_id], "amount": [None, amount], "key": [None, key]},
        )
        return minted

    async def transfer_linked(
        self, batch: Sequence[Movement], *, key: str | None = None
    ) -> list[Transfer]:
        """Several movements, all or nothing; they share the first one's id as ``linked_id``.

        With ``key``, movement *i* is stored under ``key#i``; a retry returns the batch.
        """
        if not 1 <= len(batch) <= MAX_LINKED:
            raise InvalidInput(f"a linked batch holds 1 to {MAX_LINKED} movements", field="batch")
        for movement in batch:
            movement.check()
        digest = (
            request_hash("linked", {"batch": [_fingerprint(m) for m in batch]}) if key else None
        )

        touched = {m.debit_account_id for m in batch} | {m.credit_account_id for m in batch}

        async def run(session: AsyncSession, position: list[int]) -> list[Transfer]:
            results: list[Transfer] = []
            owners: list[int | None] = []
            for index, movement in enumerate(batch):
                position[0] = index
                linked_id = results[0].id if results else None
                result, pair = await move(
                    session,
                    movement,
                    key=None if key is None else f"{key}#{index}",
                    request_hash=digest,
                    extra={"linked_id": linked_id},
                )
                if linked_id is None:
                    await session.execute(
                        update(movements.transfers)
                        .where(movements.transfers.c.id == result.id)
                        .values(linked_id=result.id)
                    )
                    result = dataclasses.replace(result, linked_id=result.id)
                results.append(result)
                owners.extend(pair)
            self.announce(session, "linked", [t.id for t in results], touched, owners)
            return results

        async def work(session: AsyncSession) -> list[Transfer] | refusals.Refused:
            # Locked first: a duplicate waits here, then sees the first one's outcome.
            await movements.lock_accounts(session, touched)
            if key is not None and (row := await find_by_key(session, f"{key}#0")) is not None:
                replay(row, digest or "")
                return [
                    dataclasses.replace(t, replayed=True)
                    for t in await queries.linked(session, row.id)
                ]
            position = [0]
            return await refusals.attempt(
                session,
                None if key is None else f"{key}#0",
                digest or "",
                lambda: run(session, position),
                self.db.translator.translate,
                which=lambda: position[0],
            )

        try:
            outcome = await self.db.transaction(work)
        except AlreadyExists as exc:
            if key is None or exc.constraint != movements.IDEMPOTENCY_CONSTRAINT:
                raise
            outcome = await self.db.transaction(work)  # the twin committed: a replay now
        if isinstance(outcome, refusals.Refused):
            refused = batch[refusals.refused_index(outcome.code)]
            raise refusals.error(outcome.code, refused, key)
        return outcome

    async def reverse(
        self, transfer_id: int, *, reason: str = "reversal", key: str | None = None
    ) -> Transfer:
        """Undo a posted movement with the opposite movement (entries are never edited)."""
        digest = request_hash("reverse", {"transfer_id": transfer_id, "reason": reason})

        made: list[Movement] = []

        async def work(session: AsyncSession) -> Transfer | refusals.Refused:
            # Locked first: a duplicate waits here, then sees the first one's outcome.
            original = await movements.lock_transfer(session, transfer_id)
            if key is not None and (row := await find_by_key(session, key)) is not None:
                return replay(row, digest)
            movement = Movement(
                original.credit_account_id,
                original.debit_account_id,
                original.amount,
                original.currency,
                reason,
                original.reference_type,
                original.reference_id,
            )
            made.append(movement)

            async def run() -> tuple[Transfer, tuple[int | None, int | None]]:
                if original.status != TransferStatus.POSTED or original.expires_at is not None:
                    raise Conflict(
                        f"transfer {transfer_id} is not a posted movement and cannot be reversed"
                    )
                existing = await session.execute(
                    select(movements.transfers.c.id).where(
                        movements.transfers.c.reverses_id == transfer_id
                    )
                )
                if (reversal := existing.scalar_one_or_none()) is not None:
                    raise Conflict(f"transfer {transfer_id} was already reversed by {reversal}")
                return await move(
                    session,
                    movement,
                    key=key,
                    request_hash=digest,
                    extra={"reverses_id": transfer_id},
                )

            outcome = await refusals.attempt(
                session, key, digest, run, self.db.translator.translate
            )
            if isinstance(outcome, refusals.Refused):
                return outcome
            result, owners = outcome
            accounts_touched = [original.debit_account_id, original.credit_account_id]
            self.announce(session, "reverse", [result.id], accounts_touched, owners)
            audit.record(
                session,
                None,
                "wallet.reversed",
                "ledger_transfer",
                transfer_id,
                {"reversal": [None, result.id], "reason": [None, reason]},
            )
            return result

        try:
            reversed_ = await self.idempotent(work, key, digest)
        except AlreadyExists as exc:
            if exc.constraint != movements.REVERSAL_CONSTRAINT:
                raise
            raise Conflict(f"transfer {transfer_id} was already reversed") from exc
        if isinstance(reversed_, refusals.Refused):
            raise refusals.error(reversed_.code, made[-1], key)
        return reversed_

    # --- reads --------------------------------------------------------------------------

    async def wallet(self, user_id: int, currency: str = DEFAULT_CURRENCY) -> Wallet:
        """Balance, held, available, earned and spent: the wallet summary."""
        account_id = await self.wallet_account(user_id, currency)
        async with self.db.session() as session:
            return await queries.wallet(session, account_id)

    async def balance(self, user_id: int, currency: str = DEFAULT_CURRENCY) -> int:
        """A user's wallet balance (held funds included: see ``wallet().available``)."""
        return (await self.wallet(user_id, currency)).balance

    async def account(self, account_id: int) -> Wallet:
        """Any account's balances by id (system accounts too): operators' read."""
        async with self.db.session() as session:
            return await queries.wallet(session, account_id)

    async def history(
        self,
        user_id: int,
        *,
        limit: int = 50,
        before: int | None = None,
        currency: str = DEFAULT_CURRENCY,
    ) -> HistoryPage:
        """A user's statement, newest first, keyset-paged by ``next_before``."""
        account_id = await self.wallet_account(user_id, currency)
        async with self.db.session() as session:
            return await queries.history(session, account_id, limit=limit, before=before)

    async def statement(
        self, principal: Principal, *, cursor: str | None = None, limit: int = 50
    ) -> Page[HistoryItem]:
        """The caller's statement, newest first; pass ``next_cursor`` back as ``cursor`` for
        the next (older) page. An altered cursor, or another list's, is InvalidInput."""
        before = None
        if cursor is not None:
            (value,) = self.cursors.decode(HISTORY_CURSOR, cursor, 1)
            before = int(value) if isinstance(value, int) else None
        page = await self.history(principal.user_id, limit=limit, before=before)
        after = page.next_before
        return Page(
            page.items, None if after is None else self.cursors.encode(HISTORY_CURSOR, [after])
        )

    async def verify(self, *, limit: int = 20) -> verification.Report:
        """Recheck every invariant that spans rows on one snapshot (``ledger verify``);
        at most ``limit`` violations are listed."""
        return await verification.verify(self.db, limit=limit)

    async def get_transfer(self, transfer_id: int) -> Transfer:
        """One transfer or hold by id; NotFound naming ``transfer_id``."""
        async with self.db.session() as session:
            return await queries.transfer(session, transfer_id)
