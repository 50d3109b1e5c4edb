"""Logging in to the cockpit: POST/DELETE /v1/session, the session cookie, its expiry on the
API's clock, the throttle on failed logins, and the header that guards changes made with
the cookie (cross-site request forgery).

One real API (uvicorn in a thread, real SQLite file) for the module; each test logs in
at a time it sets (api.now) with its own users, so the tests do not depend on each other.
The expected messages and limits are written out from the contract (issue 10, part A),
not read from the code.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from api_testkit import DAY0, add_user, in_process_api
from pydantic import ValidationError

from cloud_api.sessions import SessionPolicy, set_session_cookie
from cloud_api.settings import ApiSettings

PASSWORD = "correct horse battery"
HOUR, DAY = 3600, 86400
HAZARD = {
    "site": "s1",
    "building": "b1",
    "location": "roof",
    "description": "loose railing",
    "severity": "low",
    "deadline": DAY0 + 86400,
}
CHANGE = {"X-Steward-Request": "1"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    with in_process_api(tmp_path_factory.mktemp("sessions")) as running:
        add_user(running.db, "lars", "viewer", PASSWORD)
        yield running


def login(api, name: str, password: str = PASSWORD) -> httpx.Response:
    """POST /v1/session; the shared client keeps no cookie afterwards (each test sends the
    cookie it means to, by hand)."""
    answer = api.client.post("/v1/session", json={"name": name, "password": password})
    api.client.cookies.clear()
    return answer


def cookie_of(answer: httpx.Response) -> str:
    jar = SimpleCookie()
    jar.load(answer.headers["set-cookie"])
    return jar["steward_session"].value


def session(cookie: str, change: bool = False) -> dict[str, str]:
    return {"Cookie": f"steward_session={cookie}", **(CHANGE if change else {})}


def sessions_of(db: Path, user: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT token_hash, created_at, last_seen FROM sessions WHERE user=?", (user,)
        ).fetchall()


def me(api, cookie: str) -> httpx.Response:
    return api.client.get("/v1/me", headers=session(cookie))


# ---------------------------------------------------------------------------- logging in


def test_login_answers_who_and_sets_a_strict_http_only_cookie(api) -> None:
    add_user(api.db, "lena", "operator", PASSWORD)
    api.now = DAY0
    answer = login(api, "lena")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "name": "lena",
        "role": "operator",
        "permissions": ["read", "alarms.act", "hazards.act", "passes.write", "control.write"],
    }
    header = answer.headers["set-cookie"]
    attributes = [part.strip() for part in header.split(";")]
    name, _, value = attributes[0].partition("=")
    assert name == "steward_session"
    assert len(value) == 43  # 32 random bytes, URL-safe base64 without padding: 256 bits
    assert "HttpOnly" in attributes and "SameSite=Strict" in attributes
    assert "Path=/" in attributes
    assert "Secure" not in attributes  # session_cookie_secure is off by default
    assert f"Max-Age={7 * DAY}" in attributes  # the absolute limit (session_max_days 7)

    # Only the cookie's SHA-256 is stored, with the login time.
    import hashlib

    stored = sessions_of(api.db, "lena")
    assert stored == [(hashlib.sha256(value.encode()).hexdigest(), DAY0, DAY0)]
    # grep in another process: opening the store's files in this one (the server's) would
    # drop the server's SQLite locks on them (POSIX locks are per process)
    files = [str(p) for p in api.db.parent.iterdir() if p.name.startswith(api.db.name)]
    searched = subprocess.run(["grep", "-F", "-q", "-a", value, *files], check=False)
    assert searched.returncode == 1  # 1: not found, 2: trouble

    # Another login is another session.
    assert cookie_of(login(api, "lena")) != value
    assert len(sessions_of(api.db, "lena")) == 2


def test_the_secure_flag_follows_the_setting() -> None:
    from starlette.responses import Response

    secure = SessionPolicy.of(ApiSettings(session_cookie_secure=True))
    response = Response()
    set_session_cookie(response, "abc", secure)
    assert "Secure" in [part.strip() for part in response.headers["set-cookie"].split(";")]


@pytest.mark.parametrize(
    ("name", "password"),
    [("lars", "not the password"), ("nobody-here", PASSWORD)],
    ids=["wrong password", "unknown user"],
)
def test_a_wrong_password_and_an_unknown_name_get_the_same_401(api, name, password) -> None:
    answer = login(api, name, password)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "wrong user name or password"}
    assert "set-cookie" not in answer.headers


def test_a_revoked_user_and_a_user_without_password_are_told_why(api) -> None:
    add_user(api.db, "rita", "admin", PASSWORD)
    add_user(api.db, "nopass", "viewer")
    with contextlib.closing(sqlite3.connect(api.db)) as conn, conn:
        conn.execute("UPDATE users SET revoked=1 WHERE name='rita'")
    revoked = login(api, "rita")
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "user 'rita' has been revoked: ask an admin"
    # ...but only to someone who knows the password
    assert login(api, "rita", "a guess at it").json()["detail"] == "wrong user name or password"
    none = login(api, "nopass", "whatever it is")
    assert none.status_code == 401
    assert none.json()["detail"] == (
        "user nopass has no password: an admin sets one with steward-api users password nopass"
    )


def test_a_malformed_login_is_a_422_naming_the_field(api) -> None:
    answer = api.client.post("/v1/session", json={"name": "lena"})
    assert answer.status_code == 422
    assert "password" in answer.text


def test_five_failures_within_five_minutes_lock_the_name_with_retry_after(api) -> None:
    add_user(api.db, "theo", "viewer", PASSWORD)
    add_user(api.db, "tina", "viewer", PASSWORD)
    start = DAY0 + 50 * DAY
    for i in range(5):  # one a minute: t, t+60 .. t+240, all within 5 minutes of t
        api.now = start + 60 * i
        assert login(api, "theo", f"guess {i}").status_code == 401
    api.now = start + 250
    locked = login(api, "theo")  # even with the right password
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "50"  # the first failure leaves the window at t+300
    assert "theo" in locked.json()["detail"] and "try again in 50 s" in locked.json()["detail"]
    assert login(api, "tina").status_code == 200  # another name is not locked

    api.now = start + 300  # the first failure is 5 minutes old: one more try
    assert login(api, "theo", "guess 5").status_code == 401
    api.now = start + 301
    assert login(api, "theo").headers["retry-after"] == "59"  # now the second failure, t+60
    api.now = start + 360
    assert login(api, "theo").status_code == 200
    for i in range(5):  # a success forgives the failures before it
        assert login(api, "theo", f"again {i}").status_code == 401
    assert login(api, "theo").status_code == 429


# ------------------------------------------------------------------ using the cookie


def test_the_cookie_reads_and_a_change_needs_the_header(api) -> None:
    add_user(api.db, "olaf", "operator", PASSWORD)
    add_user(api.db, "vicky", "viewer", PASSWORD)
    api.now = DAY0
    operator = cookie_of(login(api, "olaf"))
    viewer = cookie_of(login(api, "vicky"))

    assert me(api, operator).json()["name"] == "olaf"
    assert api.client.get("/v1/hazards", headers=session(viewer)).status_code == 200

    forged = api.client.post("/v1/hazards", json=HAZARD, headers=session(operator))
    assert forged.status_code == 403
    assert "X-Steward-Request: 1" in forged.json()["detail"]
    assert api.client.get("/v1/hazards", headers=session(operator)).json()["hazards"] == []

    made = api.client.post("/v1/hazards", json=HAZARD, headers=session(operator, change=True))
    assert made.status_code == 201, made.text
    hazards = api.client.get("/v1/hazards", headers=session(viewer)).json()["hazards"]
    assert [h["created_by"] for h in hazards] == ["olaf"]

    by_role = api.client.post("/v1/hazards", json=HAZARD, headers=session(viewer, change=True))
    assert by_role.status_code == 403
    assert "user 'vicky' has role viewer" in by_role.json()["detail"]


def test_a_bearer_token_wins_over_the_cookie(api) -> None:
    token = add_user(api.db, "bert", "viewer", PASSWORD)
    add_user(api.db, "ophelia", "operator", PASSWORD)
    api.now = DAY0
    operator = cookie_of(login(api, "ophelia"))
    both = {**session(operator, change=True), "Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/me", headers=both).json()["name"] == "bert"
    refused = api.client.post("/v1/hazards", json=HAZARD, headers=both)
    assert refused.status_code == 403 and "has role viewer" in refused.json()["detail"]
    # an unknown bearer token is not rescued by a good cookie
    bad = {**session(operator), "Authorization": "Bearer stw_made-up"}
    assert api.client.get("/v1/me", headers=bad).status_code == 401


def test_an_unknown_cookie_is_a_401_saying_to_log_in(api) -> None:
    answer = me(api, "made-up-session")
    assert answer.status_code == 401
    assert "log in again" in answer.json()["detail"]
    assert answer.headers["www-authenticate"] == "Bearer"


# ----------------------------------------------------------------------- logging out


def test_logout_ends_the_session_and_clears_the_cookie(api) -> None:
    add_user(api.db, "luis", "viewer", PASSWORD)
    api.now = DAY0
    cookie = cookie_of(login(api, "luis"))
    kept = cookie_of(login(api, "luis"))  # another browser of the same user

    forged = api.client.delete("/v1/session", headers=session(cookie))
    assert forged.status_code == 403 and "X-Steward-Request" in forged.json()["detail"]
    assert me(api, cookie).status_code == 200

    out = api.client.delete("/v1/session", headers=session(cookie, change=True))
    assert out.status_code == 204
    cleared = SimpleCookie()
    cleared.load(out.headers["set-cookie"])
    assert cleared["steward_session"].value in ("", '""')
    assert cleared["steward_session"]["max-age"] == "0"
    assert cleared["steward_session"]["path"] == "/"
    api.client.cookies.clear()

    assert me(api, cookie).status_code == 401
    assert me(api, kept).status_code == 200  # only this session ended
    assert len(sessions_of(api.db, "luis")) == 1
    again = api.client.delete("/v1/session", headers=session(cookie, change=True))
    assert again.status_code == 204  # idempotent
    assert api.client.delete("/v1/session").status_code == 204  # no cookie at all
    api.client.cookies.clear()


# ------------------------------------------------------------------------- expiry


def test_a_session_ends_after_twelve_idle_hours_and_use_restarts_the_wait(api) -> None:
    add_user(api.db, "ida", "viewer", PASSWORD)
    t0 = DAY0 + 10 * DAY
    api.now = t0
    cookie = cookie_of(login(api, "ida"))

    api.now = t0 + 30  # last_seen is written at most once a minute
    assert me(api, cookie).status_code == 200
    assert sessions_of(api.db, "ida")[0][2] == t0
    api.now = t0 + 61
    assert me(api, cookie).status_code == 200
    assert sessions_of(api.db, "ida")[0][2] == t0 + 61

    api.now = t0 + 61 + 12 * HOUR - 1  # just inside 12 h since its last use
    assert me(api, cookie).status_code == 200
    used = api.now
    api.now = used + 12 * HOUR - 1  # 24 h after login, but used 12 h - 1 s ago
    assert me(api, cookie).status_code == 200

    api.now += 12 * HOUR  # now unused for 12 h
    answer = me(api, cookie)
    assert answer.status_code == 401
    assert answer.json()["detail"] == "the session ended after 12 hours unused: log in again"
    assert sessions_of(api.db, "ida") == []  # deleted, not just refused
    api.now -= 12 * HOUR  # going back does not revive it
    assert me(api, cookie).status_code == 401


def test_a_session_ends_seven_days_after_login_however_much_it_is_used(api) -> None:
    add_user(api.db, "abe", "viewer", PASSWORD)
    t0 = DAY0 + 20 * DAY
    api.now = t0
    cookie = cookie_of(login(api, "abe"))
    while api.now + 10 * HOUR < t0 + 7 * DAY:
        api.now += 10 * HOUR
        assert me(api, cookie).status_code == 200, api.now - t0
    api.now = t0 + 7 * DAY - 1
    assert me(api, cookie).status_code == 200
    api.now = t0 + 7 * DAY
    answer = me(api, cookie)
    assert answer.status_code == 401
    assert answer.json()["detail"] == "the session ended 7 days after its login: log in again"


# --------------------------------------------------------- revoking and passwords (CLI)


def cli(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cloud_api.cli", *args, "--db", str(db)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_revoking_a_user_ends_their_sessions(api) -> None:
    add_user(api.db, "ron", "operator", PASSWORD)
    add_user(api.db, "rosa", "operator", PASSWORD)
    api.now = DAY0
    cookies = [cookie_of(login(api, "ron")) for _ in range(2)]
    rosa = cookie_of(login(api, "rosa"))
    revoked = cli(api.db, "users", "revoke", "ron")
    assert revoked.returncode == 0, revoked.stderr
    assert "2 sessions ended" in revoked.stderr
    assert sessions_of(api.db, "ron") == []
    for cookie in cookies:
        assert me(api, cookie).status_code == 401
    assert me(api, rosa).status_code == 200

    # The revoked flag alone (a store changed by other means) refuses the session too.
    with contextlib.closing(sqlite3.connect(api.db)) as conn, conn:
        conn.execute("UPDATE users SET revoked=1 WHERE name='rosa'")
    refused = me(api, rosa)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "user 'rosa' has been revoked: ask an admin"


def test_users_add_and_password_take_the_password_on_stdin(api) -> None:
    added = cli(api.db, "users", "add", "cleo", "--role", "viewer", "--password-stdin",
                stdin="first password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("stw_") and len(added.stdout.splitlines()) == 1
    assert api.client.get("/v1/me", headers=api.as_(token)).json()["name"] == "cleo"
    api.now = DAY0
    old_session = cookie_of(login(api, "cleo", "first password"))

    short = cli(api.db, "users", "password", "cleo", "--password-stdin", stdin="seven77\n")
    assert short.returncode == 1
    assert "at least 8 characters" in short.stderr and "nothing changed" in short.stderr
    no_tty = cli(api.db, "users", "password", "cleo", stdin="second password\n")
    assert no_tty.returncode == 1 and "--password-stdin" in no_tty.stderr
    nobody = cli(api.db, "users", "password", "nobody", "--password-stdin", stdin="x" * 9)
    assert nobody.returncode == 1 and "no user named 'nobody'" in nobody.stderr
    assert me(api, old_session).status_code == 200  # nothing changed so far

    changed = cli(api.db, "users", "password", "cleo", "--password-stdin",
                  stdin="second password\n")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert me(api, old_session).status_code == 401  # a new password ends the old sessions
    assert login(api, "cleo", "first password").status_code == 401
    assert login(api, "cleo", "second password").status_code == 200
    assert login(api, "cleo", "second password\n").status_code == 401  # the newline is no part

    bad_add = cli(api.db, "users", "add", "dora", "--role", "viewer", "--password-stdin",
                  stdin="short\n")  # fmt: skip
    assert bad_add.returncode == 1 and "at least 8 characters" in bad_add.stderr
    listing = cli(api.db, "users", "list")
    assert "dora" not in listing.stdout  # not added without a valid password
    cleo = next(line for line in listing.stdout.splitlines() if line.startswith("cleo"))
    assert cleo.split()[3] == "set"


# ----------------------------------------------------------------------- the settings


def test_session_settings_are_validated() -> None:
    assert (ApiSettings().session_idle_hours, ApiSettings().session_max_days) == (12, 7)
    with pytest.raises(ValidationError, match="session_idle_hours must be at most"):
        ApiSettings(session_idle_hours=200, session_max_days=7)
    with pytest.raises(ValidationError, match="session_max_days"):
        ApiSettings(session_max_days=0)
    with pytest.raises(ValidationError, match="session_idle_hours"):
        ApiSettings(session_idle_hours=-1)
