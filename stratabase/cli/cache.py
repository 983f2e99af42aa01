"""``stratabase cache stats`` and ``stratabase cache clear [NAMESPACE | --tag T]``.

With Redis configured these act on the shared cache: ``clear`` removes entries (SCAN +
UNLINK) or bumps tag versions, and running API processes drop their local copies through
the invalidation channel. In embedded mode the cache lives inside the server process, so
there is nothing shared to inspect or clear from another process.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from stratabase.cache import SmartCache, build_cache, cache_health
from stratabase.cache.keys import NAMESPACES
from stratabase.cache.redis import RedisStore
from stratabase.cache.two_tier import TwoTierStore
from stratabase.cli.common import console, fail, run, settings_from
from stratabase.settings import Settings

app = typer.Typer(help="Inspect or clear the cache.", no_args_is_help=True)

EMBEDDED = (
    "embedded mode: the cache lives inside the server process (nothing shared here); "
    "`stratabase clean` tells a running server to flush it"
)


def _redis(cache: SmartCache) -> RedisStore | None:
    store = cache.store
    if isinstance(store, TwoTierStore):
        return store.remote
    return store if isinstance(store, RedisStore) else None


async def _stats(settings: Settings) -> dict[str, Any]:
    cache = build_cache(settings)
    try:
        report: dict[str, Any] = {"mode": cache.mode, "prefix": settings.redis_prefix}
        redis = _redis(cache)
        if redis is None:
            report["note"] = EMBEDDED
            return report
        report["health"] = await cache_health(cache)
        if report["health"].get("error"):
            return report
        report["entries"] = await redis.count_by_namespace()
        report["server"] = await redis.server_info()
        return report
    finally:
        await cache.close()


@app.command()
def stats(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Entries per namespace, Redis hit/miss counters and memory, cache health."""
    report = run(_stats(settings_from(ctx)))
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    if "note" in report:
        console.print(f"cache mode: {report['mode']} — {report['note']}")
        return
    health = report["health"]
    console.print(f"cache mode: {report['mode']}, status: {health['status']}")
    if health.get("error"):
        fail(str(health["error"]))
    table = Table(title=f"cache entries under prefix {report['prefix']!r}")
    table.add_column("namespace")
    table.add_column("entries", justify="right")
    for namespace, count in report["entries"].items():
        table.add_row(namespace, f"{count:,}")
    console.print(table)
    server = report["server"]
    hits, misses = server.get("keyspace_hits") or 0, server.get("keyspace_misses") or 0
    rate = f"{hits / (hits + misses):.1%}" if hits + misses else "n/a"
    console.print(
        f"Redis {server.get('redis_version')}: memory {server.get('used_memory_human')}, "
        f"keyspace hit rate {rate} ({hits:,} hits, {misses:,} misses), "
        f"evicted {server.get('evicted_keys')}"
    )


async def _clear(settings: Settings, namespace: str | None, tags: list[str]) -> str:
    cache = build_cache(settings)
    try:
        if _redis(cache) is None:
            return EMBEDDED
        if tags:
            await cache.invalidate_tags(tags)
            return f"invalidated tag{'s' if len(tags) > 1 else ''} {', '.join(tags)}"
        removed = await cache.clear(namespace)
        return f"removed {removed:,} entries from {namespace or 'every namespace'}"
    finally:
        await cache.close()


@app.command()
def clear(
    ctx: typer.Context,
    namespace: str | None = typer.Argument(
        None, help=f"One namespace ({', '.join(NAMESPACES)}); all when omitted."
    ),
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Invalidate this tag instead (repeatable)."),
    ] = None,
) -> None:
    """Remove a namespace's entries (all when omitted), or invalidate tags."""
    if namespace is not None and tag:
        fail("give a NAMESPACE or --tag, not both", 2)
    if namespace is not None and namespace not in NAMESPACES:
        fail(f"unknown namespace {namespace!r}; known: {', '.join(NAMESPACES)}", 2)
    console.print(run(_clear(settings_from(ctx), namespace, list(tag or []))))
