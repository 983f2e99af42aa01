"""What the studio keeps in its process: the timeline, the slow statements, the last
``ledger verify`` verdict. One per app, on ``app.state.studio``.

Not a service of the composition root: none of it is a use case, it holds only what this
app's own HTTP hook measured (an app built twice on one root keeps two timelines). The
studio's routes read services from the root like every route.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stratabase.studio.overview import VerifyCache
from stratabase.studio.slowlog import SlowLog, slow_log
from stratabase.studio.timeline import Timeline


@dataclass
class StudioState:
    """The studio's in-process memory of one app."""

    timeline: Timeline = field(default_factory=Timeline)
    slow: SlowLog = field(default_factory=slow_log)
    verdicts: VerifyCache = field(default_factory=VerifyCache)


__all__ = ["StudioState"]
