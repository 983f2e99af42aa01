"""Benchmark suites behind ``stratabase bench SUITE``.

A suite is a module ``stratabase.bench.<suite>`` with ``async def run(ctx: BenchContext) ->
list[Result]``. Each result compares our figure with a reference measured in the same run
(``ratio`` = ours / reference), against the ``target`` ratio its issue asks for.

Suites branch on ``ctx.backend`` to pick the database and reference they measure (a
scratch file or server, a PostgreSQL-only rival): that is the experiment, not SQL spelling.
"""

from stratabase.bench.report import BenchContext, Result

__all__ = ["BenchContext", "Result"]
