"""``stratabase ledger …``: reconcile the books, release overdue holds, inspect and mint."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from stratabase.cache.announce import announced
from stratabase.cache.keys import tag_user
from stratabase.cli.common import console, fail, root, run, settings_from
from stratabase.ledger.service import LedgerService
from stratabase.settings import Settings

T = TypeVar("T")

ledger_app = typer.Typer(
    name="ledger", help="The token ledger: verify, expire holds, balances.", no_args_is_help=True
)


async def _with_ledger(settings: Settings, work: Callable[[LedgerService], Awaitable[T]]) -> T:
    async with root(settings) as sb:
        return await work(sb.ledger)


@ledger_app.command()
def verify(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recheck every invariant; exit 1 with the first violation."""
    report = run(_with_ledger(settings_from(ctx), lambda ledger: ledger.verify()))
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, **report.counts, "violations": report.violations}))
    if not report.ok:
        more = len(report.violations) - 1
        fail(report.violations[0] + (f" (and {more} more)" if more else ""))
    if not as_json:
        counts = report.counts
        console.print(
            f"ledger ok: {counts['accounts']} accounts, {counts['transfers']} transfers,"
            f" {counts['entries']} entries"
        )


@ledger_app.command("expire-holds")
def expire_holds(
    ctx: typer.Context,
    limit: int = typer.Option(500, min=1, max=100_000, help="Most holds to release."),
) -> None:
    """Release holds past their expiry (run it from cron or a job)."""
    count = run(_with_ledger(settings_from(ctx), lambda ledger: ledger.expire_holds(limit=limit)))
    console.print(f"expired {count} hold(s)")


@ledger_app.command()
def balance(
    ctx: typer.Context,
    user: int = typer.Option(..., "--user", min=1, help="User id."),
    currency: str = typer.Option("TOK", help="Wallet currency."),
) -> None:
    """Print a user's wallet: balance, held, available, earned, spent."""
    wallet = run(_with_ledger(settings_from(ctx), lambda ledger: ledger.wallet(user, currency)))
    typer.echo(
        json.dumps(
            {
                "account_id": wallet.id,
                "user_id": wallet.user_id,
                "currency": wallet.currency,
                "balance": wallet.balance,
                "pending": wallet.pending,
                "available": wallet.available,
                "earned_total": wallet.earned_total,
                "spent_total": wallet.spent_total,
            }
        )
    )


@ledger_app.command()
def mint(
    ctx: typer.Context,
    user: int = typer.Option(..., "--user", min=1, help="User id."),
    amount: int = typer.Option(..., min=1, help="Tokens (minor units)."),
    reason: str = typer.Option(..., help="Why; kept on the transfer."),
    key: str | None = typer.Option(None, help="Idempotency key: rerunning mints once."),
) -> None:
    """Credit a user's wallet from the treasury."""
    if not reason.strip():
        fail("--reason must not be empty", 2)
    transfer = run(
        _with_ledger(
            settings_from(ctx),
            lambda ledger: announced(
                ledger.db,
                ledger.credit(user, amount, reason=reason, key=key),
                tags=[tag_user(user)],
            ),
        )
    )
    state = "already minted by" if transfer.replayed else "minted as"
    console.print(f"{amount} {transfer.currency} {state} transfer {transfer.id}")
