"""`python -m include.cli api-key create|list|revoke`: the key printed once, only a salted hash stored."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from include import cli
from include.api import keys


@pytest.fixture
def keys_db(legacy_engine, app_env):
    with legacy_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES ('acct-k', 'k')"))
    return legacy_engine


def test_create_prints_the_key_once_and_stores_only_a_salted_hash(keys_db, capsys):
    assert cli.main(["api-key", "create", "--account", "acct-k", "--name", "portal"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    m = keys.KEY_RE.fullmatch(token)
    assert m and "shown once" in err and token not in err
    key_id, secret = m.groups()
    with keys_db.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM patient_pipeline.api_key WHERE key_id = :k"), {"k": key_id}).mappings().one()
        assert row["account_id"] == "acct-k" and row["is_admin"] is False and row["revoked_at"] is None
        assert bytes(row["secret_sha256"]) == hashlib.sha256(bytes(row["salt"]) + secret.encode()).digest()
        assert secret.encode() not in b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                                               for v in row.values())
        assert keys.verify(conn, token).key_id == key_id
        assert keys.verify(conn, token[:-1] + ("A" if token[-1] != "A" else "B")) is None

    assert cli.main(["api-key", "list"]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "portal" in listed and secret not in listed

    assert cli.main(["api-key", "revoke", key_id]) == 0
    assert "revoked" in capsys.readouterr().out
    with keys_db.connect() as conn:
        assert keys.verify(conn, token) is None


def test_admin_keys_say_so_and_unknown_accounts_or_ids_are_refused(keys_db, capsys):
    assert cli.main(["api-key", "create", "--account", "acct-k", "--name", "ops", "--admin"]) == 0
    assert "ADMIN key" in capsys.readouterr().err
    assert cli.main(["api-key", "create", "--account", "acct-nope", "--name", "x"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["api-key", "revoke", "000000000000"]) == 1
    assert "no API key" in capsys.readouterr().err
