"""PostgreSQL fast path: transfers as one statement, with concurrent ones committed together.

Each call of ``sb_ledger_transfers`` (migrations 0002 and 0004; through its wrapper of 0011,
which appends the wallet events to the change feed's outbox) is one round trip and, in
autocommit, one transaction. Transfers submitted while others are in flight wait in a queue
and go out together in the next call (group commit, as TigerBeetle batches): the locks, the
commit and the client's own overhead are paid once per batch instead of once per transfer.
Each transfer still succeeds or is refused on its own: the function reports a code per item
and a refused item writes nothing. A lone transfer goes out at once, in a batch of one.

Two calls may be in flight at once, on two connections, when their batches lock no account
in common (see ``_take``): the database works on one batch while this process answers the
other's callers, so both cores work. Batches that share an account go one after the other,
as they would anyway behind the row locks, but whole.

A batch is one statement, so a value it cannot take (an id the driver cannot encode, a text
the database refuses) would fail every transfer in it. Such a failure splits the batch and
sends each half again (``_run``): the other callers' transfers go through and the transfer
at fault alone gets its own error, worded without the driver's text. Failures that say
nothing about the data (connection lost, server shutting down) still fail the batch.

A refusal under an idempotency key is recorded by the function itself and answered again
to a retry with that key (migration 0007, ``refusals.py``).

We talk to the driver directly (one prepared statement, no ORM) because at thousands of
transfers per second the client's overhead is what the database would wait for. For the same
reason a sender keeps its pooled connection while transfers keep coming, and gives it back
as soon as the queue is empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from stratabase.db.errors import PG_RETRYABLE
from stratabase.db.session import Database
from stratabase.enums import TransferStatus
from stratabase.exceptions import (
    DatabaseUnavailable,
    InvalidInput,
    InvariantViolation,
    NotFound,
    StratabaseError,
)
from stratabase.ledger import refusals
from stratabase.ledger.movements import Movement
from stratabase.ledger.values import Transfer

#: The batch function wrapped by migration 0011, which also appends the batch's wallet
#: events (``wallet.<kind>`` on each owner's ``me``) to the change feed's outbox, under its
#: commit-order lock, in the same transaction.
TRANSFERS_SQL = (
    "SELECT item, status, transfer_id, created_at, debit_user_id, credit_user_id"
    " FROM sb_ledger_transfers_announced($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],"
    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])"
)

#: Most transfers sent in one call.
MAX_BATCH = 64
#: Calls in flight at once per service. A second call goes out only with a batch that shares
#: no account with the one in flight (it would only wait for that batch's row locks): over
#: many wallets two half batches overlap the client's work with the database's and use
#: both cores; over a few hot wallets batches stay whole and go one at a time (measured
#: on 2 cores: a second call that shares accounts took hot wallets from ~1.8x to ~1.4x tpcb).
#: Never await a ledger write while holding a lock on a ledger account in another open
#: transaction: the batch would wait for that lock (until statement_timeout).
MAX_IN_FLIGHT = 2

Outcome = tuple[Transfer, tuple[int | None, int | None]]

logger = logging.getLogger("stratabase.ledger")

#: Serialization failure, deadlock, and the idempotency-key race described in ``_call``.
_RETRYABLE = PG_RETRYABLE | {"23505"}
#: SQLSTATE classes that say nothing about the batch's data (connection, resources, the
#: server's state, a cancelled statement): the whole batch fails, as any statement would.
_SYSTEM_CLASSES = frozenset({"08", "53", "54", "55", "57", "58", "XX"})
#: The batch function's arguments, in order: a value the driver cannot encode is named.
_ARGUMENTS = (
    "debit_account_id",
    "credit_account_id",
    "amount",
    "currency",
    "reason",
    "reference_type",
    "reference_id",
    "idempotency_key",
    "request_hash",
    "metadata",
    "kind",
)
_ARGUMENT = re.compile(r"query argument \$(\d+)")


class _Poisoned(Exception):
    """The statement failed for a reason one of its transfers may carry (a value the
    driver or the database cannot take): ``error`` is what that transfer is answered,
    ``cause`` the driver's own words, for the log only."""

    def __init__(self, error: StratabaseError, cause: str) -> None:
        super().__init__(error.message)
        self.error = error
        self.cause = cause


@dataclass
class _Request:
    movement: Movement
    key: str | None
    digest: str | None
    future: asyncio.Future[Outcome] = field(repr=False)
    #: The change feed's event kind (``wallet.<kind>``): transfer, credit, deduct…
    kind: str = "transfer"
    #: ``movement.metadata`` as the JSON text the call sends (encoded once per request).
    metadata_json: str | None = None


@dataclass(eq=False)
class _Flight:
    """A batch on its way: the accounts it locks, and when it is answered."""

    accounts: frozenset[int]
    landed: asyncio.Event = field(default_factory=asyncio.Event)


def _accounts(batch: list[_Request]) -> frozenset[int]:
    return frozenset(
        a for r in batch for a in (r.movement.debit_account_id, r.movement.credit_account_id)
    )


class TransferBatcher:
    """Queues transfers and sends them in batches, at most ``in_flight`` calls at once."""

    def __init__(
        self, db: Database, *, max_batch: int = MAX_BATCH, in_flight: int = MAX_IN_FLIGHT
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._queue: list[_Request] = []
        self._senders: set[asyncio.Task[None]] = set()
        self._flights: set[_Flight] = set()

    async def transfer(
        self,
        movement: Movement,
        *,
        key: str | None,
        digest: str | None,
        kind: str = "transfer",
    ) -> Outcome:
        """Queue one transfer for the next batch call; its result and the owners. The call
        also writes its ``wallet.<kind>`` change events (migration 0011)."""
        movement.check()
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(movement, key, digest, future, kind=kind))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._queue and len(self._senders) < self.in_flight:
            task = asyncio.get_running_loop().create_task(self._send())
            self._senders.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._senders.discard(task)
        self._dispatch()

    async def _take(self) -> tuple[list[_Request], _Flight]:
        """The next batch, oldest transfers first, now in flight; empty when none is queued.

        While another batch is in flight, this one goes out only if it shares no account
        with it; otherwise it waits for that batch to be answered and is taken again with
        what that batch's callers queued meanwhile. With nothing in flight and a call to
        spare, half the queue is taken when the halves share no account, so that another
        sender takes the rest at once.
        """
        while True:
            batch = self._live_head()
            accounts = _accounts(batch)
            blocking = next((f for f in self._flights if f.accounts & accounts), None)
            if blocking is None:
                break
            await blocking.landed.wait()
        if not self._flights and self.in_flight > 1 and len(batch) > 1:
            half, rest = batch[: (len(batch) + 1) // 2], batch[(len(batch) + 1) // 2 :]
            half_accounts = _accounts(half)
            if not half_accounts & _accounts(rest):
                batch, accounts = half, half_accounts
        del self._queue[: len(batch)]
        flight = _Flight(accounts)
        if batch:
            self._flights.add(flight)
        if self._queue:
            self._dispatch()
        return batch, flight

    def _live_head(self) -> list[_Request]:
        """The first ``max_batch`` queued requests whose callers still wait (a caller
        cancelled while queued gave up before anything was sent); only the head is read."""
        while True:
            head = self._queue[: self.max_batch]
            live = [r for r in head if not r.future.done()]
            if len(live) == len(head):
                return live
            self._queue[: len(head)] = live

    def _land(self, flight: _Flight) -> None:
        """The batch is answered (or failed): its accounts are free for the next one."""
        self._flights.discard(flight)
        flight.landed.set()

    async def _send(self) -> None:
        """Send batches over one connection until the queue is empty."""
        import asyncpg  # the PostgreSQL driver; imported here so SQLite installs need not load it

        batch, flight = await self._take()
        if not batch:
            return
        try:
            async with self.db.engine.connect() as connection:
                raw: Any = (await connection.get_raw_connection()).driver_connection
                while batch:
                    try:
                        await self._run(raw, batch)
                    except (OSError, asyncpg.InterfaceError) as exc:
                        await connection.invalidate()
                        raise DatabaseUnavailable(f"cannot reach the database: {exc}") from exc
                    finally:
                        # Landed after the answers: a sender waiting on this batch then
                        # takes what these callers queue next together with its own.
                        self._land(flight)
                    # The callers just answered queue their next transfers when they run,
                    # which is now: yield once, then send what they queued.
                    await asyncio.sleep(0)
                    batch, flight = await self._take()
        except BaseException as exc:
            self._land(flight)
            failure = _failure(exc)
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise

    async def _run(self, raw: Any, batch: list[_Request]) -> None:
        """Send the batch and answer its callers; a poison transfer fails alone.

        When the statement fails for a reason a transfer may carry (``_Poisoned``), the
        call was rolled back whole, so each half is sent again on its own: the transfers
        of other callers go through, and the one at fault is answered its own error
        (log2(batch) extra calls, only on the rare batch that holds one).
        """
        sendable: list[_Request] = []
        for request in batch:
            try:
                request.metadata_json = _metadata_json(request.movement)
            except (TypeError, ValueError):
                _fail(request, InvalidInput("metadata is not JSON", field="metadata"))
                continue
            sendable.append(request)
        if not sendable:
            return
        try:
            rows = await self._call(raw, sendable)
        except _Poisoned as poisoned:
            if len(sendable) == 1:
                logger.warning("transfer refused by the database: %s", poisoned.cause)
                _fail(sendable[0], poisoned.error)
                return
            middle = len(sendable) // 2
            await self._run(raw, sendable[:middle])
            await self._run(raw, sendable[middle:])
            return
        self._answer(sendable, rows)

    def _answer(self, batch: list[_Request], rows: list[Any]) -> None:
        for row in rows:
            request = batch[row["item"]]
            if request.future.done():  # the caller was cancelled; the outcome stands
                continue
            status = row["status"]
            if status in ("ok", "replayed"):
                request.future.set_result(_outcome(request, row))
            elif status[:5] in refusals.REFUSALS:  # a refusal, maybe one recorded earlier
                request.future.set_exception(refusals.error(status, request.movement, request.key))
            else:
                request.future.set_exception(
                    DatabaseUnavailable(f"transfer answered an unknown status {status!r}")
                )

    async def _call(self, raw: Any, batch: list[_Request]) -> list[Any]:
        """One statement for the batch, retried whole on deadlock or serialization failure.

        A unique violation is retried too: it means a concurrent twin committed one of the
        batch's idempotency keys after the set-based path checked them (migration 0004); the
        call was rolled back whole, and sent again it answers that item as a replay.
        """
        import asyncpg

        columns: list[list[Any]] = [[] for _ in range(len(_ARGUMENTS))]
        for request in batch:
            m = request.movement
            values = (
                m.debit_account_id,
                m.credit_account_id,
                m.amount,
                m.currency,
                m.reason,
                m.reference_type,
                m.reference_id,
                request.key,
                request.digest,
                request.metadata_json,
                request.kind,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        attempts = self.db.settings.transaction_retries + 1
        for attempt in range(attempts):
            try:
                return list(await raw.fetch(TRANSFERS_SQL, *columns))
            except asyncpg.PostgresError as exc:
                code = str(exc.sqlstate or "")
                if code in _RETRYABLE and attempt + 1 < attempts:
                    await asyncio.sleep(random.uniform(0, min(0.25, 0.005 * 2**attempt)))
                    continue
                cause = f"{type(exc).__name__} (SQLSTATE {code}): {exc}"
                if code[:2] in _SYSTEM_CLASSES or not code:
                    # The driver's text goes to the log; callers get the SQLSTATE only.
                    logger.error("transfer batch failed: %s", cause)
                    raise DatabaseUnavailable(f"transfer failed (SQLSTATE {code})") from exc
                raise _Poisoned(_data_error(exc, code), cause) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _metadata_json(movement: Movement) -> str | None:
    return json.dumps(movement.metadata) if movement.metadata else None


def _fail(request: _Request, error: StratabaseError) -> None:
    if not request.future.done():
        request.future.set_exception(error)


def _data_error(exc: Any, code: str) -> StratabaseError:
    """A domain error for a transfer the database (or the driver) could not take, worded
    without the driver's text (which may quote other callers' values)."""
    found = _ARGUMENT.search(str(exc))
    if found is not None and 1 <= int(found.group(1)) <= len(_ARGUMENTS):
        field = _ARGUMENTS[int(found.group(1)) - 1]
        return InvalidInput(f"{field} cannot be stored (out of range or malformed)", field=field)
    if code == "23503":
        return NotFound("a ledger account of this transfer does not exist", field="account_id")
    if code.startswith("23"):
        constraint = getattr(exc, "constraint_name", None) or "a ledger rule"
        return InvariantViolation(
            f"the transfer breaks {constraint} (SQLSTATE {code})", constraint=constraint
        )
    if code == "22001":
        return InvalidInput("a text value of this transfer is too long for its column")
    if code in {"22021", "22P05"}:
        return InvalidInput("a text value of this transfer holds a character that cannot be stored")
    return InvalidInput(f"the database cannot store this transfer (SQLSTATE {code})")


def _failure(exc: BaseException) -> StratabaseError:
    if isinstance(exc, StratabaseError):
        return exc
    if isinstance(exc, OSError | DBAPIError | PoolTimeout):
        return DatabaseUnavailable(f"cannot reach the database: {exc}")
    return DatabaseUnavailable(f"transfer failed: {type(exc).__name__}")


def _outcome(request: _Request, row: Any) -> Outcome:
    m = request.movement
    transfer = Transfer(
        id=row["transfer_id"],
        debit_account_id=m.debit_account_id,
        credit_account_id=m.credit_account_id,
        amount=m.amount,
        currency=m.currency,
        status=TransferStatus.POSTED,
        reason=m.reason,
        created_at=row["created_at"],
        reference_type=m.reference_type,
        reference_id=m.reference_id,
        idempotency_key=request.key,
        metadata=dict(m.metadata or {}),
        replayed=row["status"] == "replayed",
    )
    return transfer, (row["debit_user_id"], row["credit_user_id"])
