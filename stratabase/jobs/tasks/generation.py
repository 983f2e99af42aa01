"""What episode generation plugs in: the text generator and the token reserver.

:class:`OfflineGenerator` (the default) assembles an episode from the project's planning
notes and memories without any network; a real model implements :class:`EpisodeGenerator`.
:class:`LedgerReserver` holds the estimate on the owner's wallet through the token ledger's
two-phase transfers and posts what was spent; :class:`NoReserver` charges nothing (the daily
quota still applies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from stratabase.ledger.service import LedgerService
from stratabase.ledger.values import SystemAccount


@dataclass(frozen=True)
class EpisodeBrief:
    """What a generator gets: the project, the slot, open notes and memories."""

    project_id: int
    project_name: str
    description: str | None
    number: int
    scheduled_for: datetime
    notes: Sequence[str]
    memories: Sequence[dict[str, Any]]


@dataclass(frozen=True)
class EpisodeDraft:
    """What a generator returns: the episode and what it cost."""

    title: str
    summary: str
    blocks: list[dict[str, Any]]
    tokens_in: int = 0
    tokens_out: int = 0
    cost_minor: int = 0


class EpisodeGenerator(Protocol):
    """Writes an episode from its brief (offline by default, a model if configured)."""

    async def generate(self, brief: EpisodeBrief) -> EpisodeDraft:
        """Draft the episode ``brief`` describes."""


class OfflineGenerator:
    """The default generator: assembles an episode from notes and memories, no network."""

    async def generate(self, brief: EpisodeBrief) -> EpisodeDraft:
        """Headings, notes and memories as blocks; token counts by words."""
        blocks: list[dict[str, Any]] = [
            {"type": "heading", "text": f"{brief.project_name}: episode {brief.number}"}
        ]
        if brief.description:
            blocks.append({"type": "paragraph", "text": brief.description})
        if brief.notes:
            blocks.append({"type": "heading", "text": "From your notes"})
            blocks.append({"type": "list", "items": list(brief.notes)})
        for memory in brief.memories:
            text = memory.get("text") or memory.get("summary") or memory.get("content")
            if isinstance(text, str) and text.strip():
                blocks.append({"type": "paragraph", "text": text.strip()})
        words = sum(len(str(b.get("text", b.get("items", ""))).split()) for b in blocks)
        return EpisodeDraft(
            title=f"{brief.project_name} #{brief.number}",
            summary=(brief.notes[0] if brief.notes else brief.description or "")[:500],
            blocks=blocks,
            tokens_in=sum(len(note.split()) for note in brief.notes),
            tokens_out=words,
        )


class TokenReserver(Protocol):
    """Holds tokens while a generation runs, then charges what was spent."""

    async def hold(self, *, user_id: int, amount: int, reference: str) -> str | None:
        """Reserve ``amount`` for the user; an opaque hold id (None: nothing held)."""

    async def settle(self, hold: str | None, *, amount: int) -> None:
        """Charge ``amount`` of the hold (at most what was held), release the rest."""

    async def release(self, hold: str | None) -> None:
        """Give the whole hold back (the generation failed)."""


class NoReserver:
    """No wallet charge: the daily quota in ``token_usage_daily`` is the only limit."""

    async def hold(self, *, user_id: int, amount: int, reference: str) -> str | None:
        """Nothing is held."""
        return None

    async def settle(self, hold: str | None, *, amount: int) -> None:
        """Nothing to charge."""
        return None

    async def release(self, hold: str | None) -> None:
        """Nothing to release."""
        return None


class LedgerReserver:
    """Two-phase transfer on the ledger: hold on the owner's wallet, post to ``fees``."""

    def __init__(self, ledger: LedgerService) -> None:
        self.ledger = ledger

    async def hold(self, *, user_id: int, amount: int, reference: str) -> str | None:
        """A ledger hold on the user's wallet toward ``fees`` (idempotent per reference)."""
        debit = await self.ledger.wallet_account(user_id)
        credit = await self.ledger.system_account(SystemAccount.FEES)
        hold = await self.ledger.hold(
            debit,
            credit,
            amount,
            reason="episode generation",
            reference=("episode", reference),
            key=f"{reference}:hold",
        )
        return str(hold.id)

    async def settle(self, hold: str | None, *, amount: int) -> None:
        """Post what was spent (capped at the hold), or void the hold if nothing was."""
        if hold is None:
            return
        held = (await self.ledger.get_transfer(int(hold))).amount
        if amount <= 0:
            await self.ledger.void(int(hold))
        else:
            # Never more than was held: a generation that overran its estimate is capped.
            await self.ledger.post(int(hold), amount=min(amount, held), key=f"{hold}:post")

    async def release(self, hold: str | None) -> None:
        """Void the hold: the tokens are available again."""
        if hold is not None:
            await self.ledger.void(int(hold))
