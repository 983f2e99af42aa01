from __future__ import annotations

import pytest

from stratabase.db.monitor import normalise_sql


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT * FROM users WHERE email = 'a@b.c'", "SELECT * FROM users WHERE email = ?"),
        ("SELECT 1 FROM t WHERE id = $1 AND n > 42", "SELECT ? FROM t WHERE id = ? AND n > ?"),
        ("SELECT a\n   FROM t  WHERE x IN (?, ?, ?)", "SELECT a FROM t WHERE x IN (?, …)"),
        ("UPDATE t SET s = 'it''s' WHERE c2 = 3.5", "UPDATE t SET s = ? WHERE c2 = ?"),
    ],
)
def test_normalise_hides_values_keeps_shape(sql: str, shape: str) -> None:
    assert normalise_sql(sql) == shape
