"""The SQL that makes the services' roles: no name or password can break out of it."""

from __future__ import annotations

import pytest

from dossierbus_shared.db.roles import development_passwords, script, service_statements


def test_the_service_role_gets_data_rights_only_and_the_owner_owns_the_schema() -> None:
    sql = "\n".join(service_statements("registry", password="p1", owner_password="p2", database="dossierbus"))

    assert 'CREATE SCHEMA IF NOT EXISTS "registry" AUTHORIZATION "registry_owner"' in sql
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "registry"' in sql
    assert "TRUNCATE" not in sql and "SUPERUSER NOCREATEDB NOCREATEROLE" in sql
    assert 'GRANT USAGE ON SCHEMA "registry" TO "registry"' in sql


@pytest.mark.parametrize("password", ["", "it's", "a b", "x;DROP", "ü"])
def test_a_password_that_would_need_quoting_is_refused(password: str) -> None:
    with pytest.raises(ValueError, match="password"):
        service_statements("intake", password=password, owner_password="ok", database="dossierbus")


@pytest.mark.parametrize("name", ["Intake", "in-take", 'x"; DROP', ""])
def test_a_name_that_is_not_plain_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="plain lower-case SQL name"):
        service_statements(name, password="ok", owner_password="ok", database="dossierbus")


def test_the_script_covers_every_service() -> None:
    sql = script("dossierbus", development_passwords())
    for role in ("intake", "registry", "routing", "notifications"):
        assert f'ROLE "{role}" WITH LOGIN' in sql and f'ROLE "{role}_owner" WITH LOGIN' in sql
