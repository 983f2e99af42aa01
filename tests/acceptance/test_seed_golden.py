"""The seed generator's output is pinned: the same rows, to the byte, as the checked-in digest.

The golden digest (``tests/golden/seed_small.sha256``) was made in another process with
PYTHONHASHSEED=0; here the seed runs in a subprocess with a different hash seed, on both
backends, so neither hash randomisation, the process nor the backend may change a row.
A change to the generated data fails here until ``scripts/golden-seed`` rewrites the file.
"""

from __future__ import annotations

import pytest

from tests.golden import seed_digest


@pytest.mark.timeout(900)  # a migration-free seed, but on a busy machine minutes
async def test_seeded_rows_match_the_golden_digest(database_url: str) -> None:
    seed_digest.seed(database_url, hash_seed="4242", migrate=False)  # the fixture migrated it
    assert await seed_digest.digest(database_url) == seed_digest.golden()
