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
        ("WITH moved AS (DELETE FROM t RETURNING n) SELECT n FROM moved", "other"),
        ("SET LOCAL lock_timeout = '1s'", "other"),
        ("", "other"),
    ],
)
def test_statement_kind_is_its_first_keyword(statement: str, kind: str) -> None:
    assert statement_kind(statement) == kind
