"""People's tokens through the real `steward-api users` command and a real server."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
from api_testkit import DAY0, add_user, api_server
from servers import free_port


def cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cloud_api.cli", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_users_add_list_revoke_and_what_the_token_then_reads(tmp_path: Path) -> None:
    db = tmp_path / "steward.sqlite"
    added = cli(db, "users", "add", "olga", "--role", "operator")
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stw_")  # stdout: the token, nothing else
    token = lines[0]
    assert "never again" in added.stderr

    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(db.name))
    assert token.encode() not in files
    assert hashlib.sha256(token.encode()).hexdigest().encode() in files

    listing = cli(db, "users", "list")
    assert "olga" in listing.stdout and "operator" in listing.stdout and "active" in listing.stdout
    assert token not in listing.stdout
    as_json = orjson.loads(cli(db, "users", "list", "--json").stdout)
    assert [(u["name"], u["role"], u["revoked"]) for u in as_json] == [("olga", "operator", False)]

    again = cli(db, "users", "add", "olga", "--role", "viewer")
    assert again.returncode == 1 and "already exists" in again.stderr
    bad_role = cli(db, "users", "add", "max", "--role", "superuser")
    assert bad_role.returncode == 2 and "superuser" in bad_role.stderr
    bad_name = cli(db, "users", "add", "two words", "--role", "viewer")
    assert bad_name.returncode != 0 and "user name" in bad_name.stderr

    with api_server(tmp_path, db=db) as api:
        with api.client(token) as client:
            assert client.get("/v1/series").status_code == 200
        assert cli(db, "users", "revoke", "olga").returncode == 0
        with api.client(token) as client:
            refused = client.get("/v1/series")
        assert refused.status_code == 401
        assert refused.json()["detail"] == "the token of user 'olga' has been revoked: ask an admin"
    assert "revoked" in cli(db, "users", "list").stdout
    missing = cli(db, "users", "revoke", "nobody")
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr


def test_users_hazards_and_passes_work_behind_the_influxdb_sink(tmp_path: Path) -> None:
    """With an InfluxDB sink configured (here one that is never reachable: the sink's
    trouble is only a metric) the store is an InfluxSink; the SQLite tables of users,
    hazards and passes are reached through its primary."""
    db = tmp_path / "steward.sqlite"
    operator = add_user(db, "olga", "operator")
    env = {"STEWARD_API_INFLUX_URL": f"http://127.0.0.1:{free_port()}"}
    with api_server(tmp_path, db=db, env=env) as api, api.client(operator) as client:
        assert client.get("/healthz").json()["store"] == "sqlite+influx"
        hazard = {
            "site": "s1",
            "building": "b1",
            "location": "roof",
            "description": "loose railing",
            "severity": "low",
            "deadline": DAY0,
        }
        assert client.post("/v1/hazards", json=hazard).status_code == 201
        assert [h["created_by"] for h in client.get("/v1/hazards").json()["hazards"]] == ["olga"]
        assert client.get("/v1/visitor-passes").json() == {"visitor_passes": []}
