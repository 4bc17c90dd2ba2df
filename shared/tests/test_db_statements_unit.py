"""A statement's kind, as `dossierbus_db_statements_total` labels it."""

from __future__ import annotations

import pytest

from dossierbus_shared.db.statements import statement_kind


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SELECT 1", "select"),
        ("\n  insert into t values (1)", "insert"),
        ("(SELECT 1) UNION (SELECT 2)", "select"),
        ("UPDATE t SET n = 1", "update"),
        ("DELETE FROM t", "delete"),
        ("WITH moved AS (DELETE FROM t RETURNING n) SELECT n FROM moved", "delete"),
        ('WITH w0 AS (INSERT INTO "t" (n) SELECT 1), w1 AS (UPDATE u SET n = 2) SELECT 1', "insert"),
        ("WITH RECURSIVE found AS (SELECT 1) SELECT * FROM found", "other"),
        ("WITH claimed AS (SELECT n FROM t FOR UPDATE) UPDATE t SET n = 1", "other"),
        ("SET LOCAL lock_timeout = '1s'", "other"),
        ("", "other"),
    ],
)
def test_statement_kind_is_its_first_keyword_or_its_first_writing_cte(statement: str, kind: str) -> None:
    assert statement_kind(statement) == kind
