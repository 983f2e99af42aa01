"""Wallets with opening balances, created the way the ledger creates money.

Every user gets a wallet and one posted transfer treasury → user for its opening balance;
succeeded payments add a transfer from the payments clearing account, refunded ones add it
and its reversal. Each transfer has two entries (debit negative, credit positive, summing to
zero) whose ``balance_after`` is the account's running balance, and each account row holds
the final balance and earned/spent totals — exactly what replaying the entries gives. Only
the system accounts go negative.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stratabase.seed.context import DAY, Context, TableData

PROVIDERS = ("stripe", "paypal", "fawry")
PAYMENT_STATUSES = ("succeeded", "pending", "failed", "refunded", "canceled")
PRICES = (499, 999, 1999, 4999)
TRANSFER_COLUMNS = (
    "id", "debit_account_id", "credit_account_id", "amount", "currency", "status", "reason",
    "reference_type", "reference_id", "idempotency_key", "request_hash", "pending_id",
    "reverses_id", "linked_id", "expires_at", "metadata", "created_at",
)  # fmt: skip
ACCOUNT_COLUMNS = (
    "id", "kind", "user_id", "system_code", "currency", "balance", "pending_debits",
    "earned_total", "spent_total", "created_at", "updated_at",
)  # fmt: skip
PAYMENT_COLUMNS = (
    "id", "user_id", "provider", "external_id", "amount", "currency", "status",
    "credit_transfer_id", "metadata", "created_at", "updated_at",
)  # fmt: skip


@dataclass
class Account:
    """A ledger account being planned, with the totals the seed moved through it."""

    id: int
    user: int | None
    code: str | None
    balance: int = 0
    earned: int = 0
    spent: int = 0
    new: bool = True


@dataclass
class WalletPlan:
    """Every ledger row a seed writes, planned first so balances and entries agree."""

    accounts: list[Account] = field(default_factory=list)
    transfers: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    payments: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def system_updates(self) -> list[Account]:
        """Pre-existing system accounts (``--append``) whose totals this seed moved."""
        return [a for a in self.accounts if not a.new]


def plan_wallets(ctx: Context) -> WalletPlan:
    """Accounts, transfers, entries, payments and their events, the same for one seed."""
    rng = ctx.rng("wallets")
    rand = rng.random
    at, uid = ctx.clock.at, ctx.user_id
    plan = WalletPlan()
    next_account = ctx.start.offset("ledger_accounts")
    system: dict[str, Account] = {}
    for code in ("treasury", "payments_clearing"):
        if code in ctx.start.system_accounts:
            aid, balance = ctx.start.system_accounts[code]
            system[code] = Account(aid, None, code, balance=balance, new=False)
        else:
            next_account += 1
            system[code] = Account(next_account, None, code)
        plan.accounts.append(system[code])
    wallets: list[Account] = []
    for index in range(ctx.users):
        next_account += 1
        wallets.append(Account(next_account, index, None))
    plan.accounts.extend(wallets)

    tbase, ebase = ctx.start.offset("ledger_transfers"), ctx.start.offset("ledger_entries")
    span = 400 * DAY

    def transfer(
        debit: Account, credit: Account, amount: int, reason: str, when: int, **extra: Any
    ) -> int:
        tid = tbase + len(plan.transfers) + 1
        debit.balance -= amount
        debit.spent += amount
        credit.balance += amount
        credit.earned += amount
        stamp = at(when)
        plan.transfers.append((
            tid, debit.id, credit.id, amount, "TOK", "posted", reason,
            extra.get("ref_type"), extra.get("ref_id"), f"seed:{ctx.seed}:{tid}", None, None,
            extra.get("reverses"), tid, None, "{}", stamp,
        ))  # fmt: skip
        eid = ebase + len(plan.entries)
        plan.entries.append((eid + 1, tid, debit.id, -amount, debit.balance, stamp))
        plan.entries.append((eid + 2, tid, credit.id, amount, credit.balance, stamp))
        return tid

    def opened(index: int) -> int:
        return -span + (span * index) // max(ctx.users, 1) + 3600

    for index, wallet in enumerate(wallets):
        when = opened(index)
        amount = 100 + int(rand() * 4900)
        transfer(system["treasury"], wallet, amount, "opening balance", when)

    pbase = ctx.start.offset("payments")
    vbase = ctx.start.offset("payment_events")
    for j in range(max(len(PAYMENT_STATUSES), ctx.users // 10)):
        pid = pbase + j + 1
        user = int(rand() * ctx.users)
        status = PAYMENT_STATUSES[j] if j < len(PAYMENT_STATUSES) else (
            PAYMENT_STATUSES[int(rand() * len(PAYMENT_STATUSES))]
        )  # fmt: skip
        provider = PROVIDERS[int(rand() * len(PROVIDERS))]
        amount = PRICES[int(rand() * len(PRICES))]
        when = min(-2 * DAY, max(opened(user) + DAY, -int(rand() * 200 * DAY)))
        credit = None
        if status in ("succeeded", "refunded"):
            credit = transfer(
                system["payments_clearing"], wallets[user], amount, "token purchase", when,
                ref_type="payment", ref_id=str(pid),
            )  # fmt: skip
            if status == "refunded":
                transfer(
                    wallets[user], system["payments_clearing"], amount, "refund", when + DAY,
                    ref_type="payment", ref_id=str(pid), reverses=credit,
                )  # fmt: skip
        meta = f'{{"package":"{amount}-tokens"}}'
        plan.payments.append((
            pid, uid(user), provider, f"{provider}_{ctx.seed}_{pid}", amount, "USD", status,
            credit, meta, at(when), at(when + (DAY if status == "refunded" else 60)),
        ))  # fmt: skip
        plan.events.append((
            vbase + j + 1, provider, f"evt_{ctx.seed}_{pid}", f"payment.{status}", pid,
            f'{{"amount":{amount},"payment":{pid}}}', at(when + 30),
        ))  # fmt: skip
    return plan


def tables(ctx: Context, plan: WalletPlan) -> list[TableData]:
    """The plan as table data: new accounts, transfers, entries, payments and events."""
    at, uid = ctx.clock.at, ctx.user_id
    span = 400 * DAY

    def accounts() -> Iterator[tuple[Any, ...]]:
        for account in plan.accounts:
            if not account.new:
                continue
            if account.user is None:
                created = at(-span - DAY)
                kind, user, code = "system", None, account.code
            else:
                created = at(-span + (span * account.user) // max(ctx.users, 1))
                kind, user, code = "user", uid(account.user), None
            yield (
                account.id, kind, user, code, "TOK", account.balance, 0, account.earned,
                account.spent, created, created,
            )  # fmt: skip

    new_accounts = sum(1 for a in plan.accounts if a.new)
    return [
        TableData("ledger_accounts", ACCOUNT_COLUMNS, new_accounts, accounts()),
        TableData("ledger_transfers", TRANSFER_COLUMNS, len(plan.transfers), plan.transfers),
        TableData(
            "ledger_entries",
            ("id", "transfer_id", "account_id", "amount", "balance_after", "created_at"),
            len(plan.entries),
            plan.entries,
        ),
        TableData("payments", PAYMENT_COLUMNS, len(plan.payments), plan.payments),
        TableData(
            "payment_events",
            ("id", "provider", "event_id", "event_type", "payment_id", "payload", "received_at"),
            len(plan.events),
            plan.events,
        ),
    ]
