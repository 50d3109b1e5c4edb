"""Passwords: the stored form the contract fixes (scrypt n=2**14 r=8 p=1, a 16-byte random
salt, "scrypt$n$r$p$salt_b64$hash_b64"), checked by recomputing with hashlib directly; and
the password column added to a store from before passwords."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sqlite3
from pathlib import Path

import pytest

from cloud_api.auth import hash_token
from cloud_api.passwords import BadPasswordError, hash_password, verify_password
from cloud_api.store import sqlite_users
from cloud_api.store.sqlite import SqliteStore


def test_the_stored_form_is_scrypt_with_its_parameters_and_a_random_salt() -> None:
    stored = hash_password("correct horse")
    scheme, n, r, p, salt_b64, hash_b64 = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    salt, digest = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
    assert len(salt) == 16
    again = hashlib.scrypt(b"correct horse", salt=salt, n=2**14, r=8, p=1, dklen=len(digest))
    assert again == digest
    assert hash_password("correct horse").split("$")[4] != salt_b64  # a new salt each time


def test_verify_accepts_the_password_only() -> None:
    stored = hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horse ", stored)
    assert not verify_password("Correct horse", stored)
    for broken in ("", "scrypt$1$2", "bcrypt$16384$8$1$AAAA$AAAA", stored[:-8] + "!!!!!!!!"):
        assert not verify_password("correct horse", broken)


def test_a_password_has_at_least_eight_characters() -> None:
    with pytest.raises(BadPasswordError, match="at least 8 characters"):
        hash_password("1234567")
    assert verify_password("12345678", hash_password("12345678"))


def test_a_store_from_before_passwords_gains_the_column_and_keeps_its_users(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(  # the users table as it was before passwords
            "CREATE TABLE users(name TEXT PRIMARY KEY, role TEXT NOT NULL,"
            " token_hash TEXT NOT NULL UNIQUE, revoked INTEGER NOT NULL DEFAULT 0,"
            " created_at REAL NOT NULL)"
        )
        conn.execute("INSERT INTO users VALUES('olga', 'operator', ?, 0, 1.0)", (hash_token("t"),))
    store = SqliteStore(db)
    try:
        with store.reading() as conn:
            assert sqlite_users.user_by_token_hash(conn, hash_token("t")) == sqlite_users.UserRow(
                "olga", "operator", False, 1.0, has_password=False
            )
            login = sqlite_users.login_row(conn, "olga")
            assert login is not None and login.password_hash is None
        with store.writing() as conn:
            assert sqlite_users.set_password(conn, "olga", hash_password("correct horse"))
        with store.reading() as conn:
            login = sqlite_users.login_row(conn, "olga")
        assert login is not None and verify_password("correct horse", login.password_hash or "")
    finally:
        store.close()
    SqliteStore(db).close()  # opening it again changes nothing
    with contextlib.closing(sqlite3.connect(db)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(users)")]
        assert columns.count("password_hash") == 1
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
