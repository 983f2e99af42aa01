"""``@cached``: cache an async read function by its arguments, keeping its signature.

The decorated function receives the cache as an argument (nothing global), and key and tags
are templates over the function's own parameters::

    @cached(POST, key="{post_id}", tags=["post:{post_id}"])
    async def post_page(db: Database, cache: Cache, post_id: int) -> PostPage:
        ...

Return values go through a Pydantic ``TypeAdapter`` of the return annotation: models,
dataclasses and lists of them are stored as JSON and rebuilt on a hit (a new object each
time). A ``session`` parameter, when present, is passed to ``get_or_load`` so reads inside
an open transaction are not stored.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from pydantic import TypeAdapter

from stratabase.cache.keys import Namespace
from stratabase.cache.protocol import Cache

P = ParamSpec("P")
R = TypeVar("R")


def cached(
    namespace: Namespace,
    *,
    key: str,
    tags: Sequence[str] = (),
    ttl: float | None = None,
    cache_arg: str = "cache",
    session_arg: str = "session",
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Cache the decorated coroutine function's result under ``namespace.key(key)``."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        signature = inspect.signature(fn)
        if cache_arg not in signature.parameters:
            raise TypeError(f"{fn.__qualname__} needs a {cache_arg!r} parameter to be @cached")
        adapter: list[TypeAdapter[Any]] = []

        def type_adapter() -> TypeAdapter[Any]:
            if not adapter:  # resolved on first call: forward references exist by then
                hints = typing.get_type_hints(fn)
                adapter.append(TypeAdapter(hints.get("return", Any)))
            return adapter[0]

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            cache: Cache = arguments[cache_arg]
            codec = type_adapter()

            async def load() -> Any:
                return codec.dump_python(await fn(*args, **kwargs), mode="json")

            raw = await cache.get_or_load(
                namespace.key(key.format_map(arguments)),
                load,
                ttl=ttl,
                tags=[tag.format_map(arguments) for tag in tags],
                session=arguments.get(session_arg),
            )
            return typing.cast(R, codec.validate_python(raw))

        return wrapper

    return decorate
