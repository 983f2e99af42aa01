"""``stratabase cache stats`` and ``stratabase cache clear [NAMESPACE | --tag T]``.

With Redis configured these act on the shared cache: ``clear`` removes entries (SCAN +
UNLINK) or bumps tag versions, and running API processes drop their local copies through
the invalidation channel. In embedded mode the cache lives inside the server process, so
there is nothing shared to inspect or clear from another process.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from redis.exceptions import RedisError
from rich.table import Table

from stratabase.cache import Cache, CacheUnavailable, SmartCache, cache_health
from stratabase.cache.keys import NAMESPACES
from stratabase.cache.redis import RedisStore
from stratabase.cache.two_tier import TwoTierStore
from stratabase.cli.common import console, fail, root, run, settings_from
from stratabase.settings import Settings

if TYPE_CHECKING:
    from stratabase.app import Stratabase

app = typer.Typer(help="Inspect or clear the cache.", no_args_is_help=True)

EMBEDDED = (
    "embedded mode: the cache lives inside the server process (nothing shared here); "
    "`stratabase clean` tells a running server to flush it"
)
#: ``MEMORY USAGE`` is asked of at most this many keys; beyond, the total is extrapolated.
MEMORY_SAMPLE = 2_000
COUNTERS_NOTE = (
    "hits and misses are counted by each API process: see GET /health (checks.cache.totals)"
)
SERVER_NOTE = "whole Redis server: every tenant's keys and traffic, not only ours"


def _root(settings: Settings) -> AbstractAsyncContextManager[Stratabase]:
    """The composition root, with its cache left unbound: these commands look at the shared
    cache from outside and must neither read nor create the database to do so."""
    return root(settings, bind_cache=False)


def _redis(cache: Cache) -> RedisStore | None:
    """The shared Redis tier of ``cache``, or None in embedded mode."""
    store = cache.store if isinstance(cache, SmartCache) else None
    if isinstance(store, TwoTierStore):
        return store.remote
    return store if isinstance(store, RedisStore) else None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


async def _our_usage(redis: RedisStore, prefix: str) -> dict[str, Any]:
    """Keys under our prefix (entries, tag versions, locks) and the memory they take.

    Another tenant's keys on the same server are not ours to report; ``INFO`` cannot tell
    them apart, so memory is summed key by key (``MEMORY USAGE``), sampled past
    :data:`MEMORY_SAMPLE` keys."""
    keys = 0
    sampled: list[bytes] = []
    try:
        async for raw_key in redis.client.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
            keys += 1
            if len(sampled) < MEMORY_SAMPLE:
                sampled.append(raw_key)
        pipe = redis.client.pipeline(transaction=False)
        for key in sampled:
            pipe.memory_usage(key)
        sizes = [int(size or 0) for size in await pipe.execute()] if sampled else []
    except (RedisError, OSError, TimeoutError) as exc:
        raise CacheUnavailable(f"Redis: {exc}") from exc
    measured = sum(sizes)
    estimated = keys > len(sampled)
    memory = round(measured * keys / len(sampled)) if estimated else measured
    return {"keys": keys, "memory_bytes": memory, "memory_estimated": estimated}


async def _stats(settings: Settings) -> dict[str, Any]:
    async with _root(settings) as sb:
        cache = sb.cache
        report: dict[str, Any] = {"mode": cache.mode, "prefix": settings.redis_prefix}
        redis = _redis(cache)
        if redis is None:
            report["note"] = EMBEDDED
            return report
        report["health"] = await cache_health(cache)
        if report["health"].get("error"):
            return report
        report["entries"] = await redis.count_by_namespace()
        report["ours"] = await _our_usage(redis, settings.redis_prefix)
        report["counters"] = COUNTERS_NOTE
        report["server"] = {"scope": SERVER_NOTE, **await redis.server_info()}
        return report


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
    table.add_row("[bold]total[/]", f"{sum(report['entries'].values()):,}")
    console.print(table)
    ours = report["ours"]
    approx = "~" if ours["memory_estimated"] else ""
    console.print(
        f"ours (prefix {report['prefix']!r}): {ours['keys']:,} keys (entries, tag versions, "
        f"locks) using {approx}{_size(ours['memory_bytes'])}",
        highlight=False,
    )
    console.print(report["counters"], highlight=False)
    server = report["server"]
    hits, misses = server.get("keyspace_hits") or 0, server.get("keyspace_misses") or 0
    rate = f"{hits / (hits + misses):.1%}" if hits + misses else "n/a"
    console.print(
        f"Redis server {server.get('redis_version')} (all tenants, not only ours): "
        f"memory {server.get('used_memory_human')}, keyspace hit rate {rate} "
        f"({hits:,} hits, {misses:,} misses), evicted {server.get('evicted_keys')}",
        highlight=False,
    )


def _size(count: int) -> str:
    if count < 1024:
        return f"{count:,} B"
    scaled = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:,.1f} {unit}"


async def _clear(settings: Settings, namespace: str | None, tags: list[str]) -> str:
    async with _root(settings) as sb:
        cache = sb.cache
        if _redis(cache) is None:
            return EMBEDDED
        if tags:
            await cache.invalidate_tags(tags)
            return f"invalidated tag{'s' if len(tags) > 1 else ''} {', '.join(tags)}"
        removed = await cache.clear(namespace)
        return f"removed {removed:,} entries from {namespace or 'every namespace'}"


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
