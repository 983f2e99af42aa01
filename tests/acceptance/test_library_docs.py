"""docs/library.md's example, executed as written on both backends: the page cannot drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parents[2] / "docs" / "library.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 1, "the page holds one runnable example"
    return str(blocks[0])


async def test_the_library_page_example_runs_as_written(empty_database_url: str) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_example(), str(PAGE), "exec"), namespace)
    result = await namespace["main"](empty_database_url)
    assert result == {"balance": 70, "refusal": "insufficient-funds", "job_queue": "default"}
