"""Edges and tokens through the real `steward-api` command and a real server."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from api_testkit import api_server, post_batch, simple_batch


def steward_api() -> str:
    beside_python = Path(sys.executable).with_name("steward-api")
    found = str(beside_python) if beside_python.exists() else shutil.which("steward-api")
    if found is None:
        pytest.fail("the steward-api console script is not installed (pip install -e .)")
    return found


def cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [steward_api(), *args, "--db", str(db)], capture_output=True, text=True, timeout=60
    )


def test_edges_add_prints_a_token_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "steward.sqlite"
    added = cli(db, "edges", "add", "town-hall", "--site", "civic-centre", "--building", "main")
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stw_")  # stdout: the token, nothing else
    token = lines[0]
    assert "never again" in added.stderr

    listing = cli(db, "edges", "list")
    assert "town-hall" in listing.stdout and "civic-centre" in listing.stdout
    as_json = orjson.loads(cli(db, "edges", "list", "--json").stdout)
    assert [e["name"] for e in as_json] == ["town-hall"]

    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(db.name))
    assert token.encode() not in files
    assert hashlib.sha256(token.encode()).hexdigest().encode() in files
    assert token not in listing.stdout and token not in str(as_json)

    again = cli(db, "edges", "add", "town-hall", "--site", "elsewhere", "--building", "main")
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = cli(db, "edges", "add", "town hall", "--site", "civic-centre", "--building", "main")
    assert bad.returncode != 0 and "edge name 'town hall'" in bad.stderr


def test_a_token_works_until_revoked_and_writes_only_its_site_and_building(
    tmp_path: Path,
) -> None:
    db = tmp_path / "steward.sqlite"
    token = cli(db, "edges", "add", "library", "--site", "s1", "--any-building").stdout.strip()
    annex = cli(db, "edges", "add", "annex", "--site", "s1", "--building", "b1").stdout.strip()
    with api_server(tmp_path, db=db) as api:
        with api.client(token) as client:
            assert post_batch(client, simple_batch(1, 3)).status_code == 200
            elsewhere = post_batch(client, simple_batch(4, 3, site="s9"))
            assert elsewhere.status_code == 403
            assert elsewhere.json()["detail"] == "edge library may only write site s1, not s9"

        with api.client(annex) as client:
            other_building = simple_batch(1, 2)
            other_building["building"] = "b2"
            refused = post_batch(client, other_building)
            assert refused.status_code == 403
            assert "may only write building b1 of site s1" in refused.json()["detail"]
            # its own device: library's m1 series belong to library
            assert post_batch(client, simple_batch(1, 2, device="m2")).status_code == 200

        revoked = cli(db, "edges", "revoke", "library")
        assert revoked.returncode == 0, revoked.stderr
        with api.client(token) as client:  # no restart needed
            answer = post_batch(client, simple_batch(4, 3))
        assert answer.status_code == 401
        assert "revoked" in answer.json()["detail"]

        unknown = cli(db, "edges", "revoke", "no-such-edge")
        assert unknown.returncode == 1 and "no edge named 'no-such-edge'" in unknown.stderr
        rows = {line.split()[0]: line for line in cli(db, "edges", "list").stdout.splitlines()}
        assert "revoked" in rows["library"] and "active" in rows["annex"]


def test_an_edge_writes_only_the_buildings_it_is_registered_for(tmp_path: Path) -> None:
    db = tmp_path / "steward.sqlite"
    bare = cli(db, "edges", "add", "kiosk", "--site", "s1")
    # No silent "any building": the operator names the buildings, or says any.
    assert bare.returncode == 2, bare.stdout
    assert "--building" in bare.stderr and "--any-building" in bare.stderr
    campus = cli(db, "edges", "add", "campus", "--site", "s1", "--building", "b1",
                 "--building", "b2")  # fmt: skip
    assert campus.returncode == 0, campus.stderr
    assert "buildings b1, b2" in campus.stderr
    roamer = cli(db, "edges", "add", "roamer", "--site", "s1", "--any-building")
    assert roamer.returncode == 0, roamer.stderr
    with api_server(tmp_path, db=db) as api:
        with api.client(campus.stdout.strip()) as client:
            for first, building in ((1, "b1"), (3, "b2"), (5, "b3")):
                batch = simple_batch(first, 2)
                batch["building"] = building
                answer = post_batch(client, batch)
                if building == "b3":
                    assert answer.status_code == 403
                    assert answer.json()["detail"] == (
                        "edge campus may only write buildings b1, b2 of site s1, not b3"
                    )
                else:
                    assert answer.status_code == 200, answer.text
        with api.client(roamer.stdout.strip()) as client:
            batch = simple_batch(1, 2)
            batch["building"] = "b3"
            assert post_batch(client, batch).status_code == 200
    rows = {line.split()[0]: line for line in cli(db, "edges", "list").stdout.splitlines()}
    assert " b1,b2 " in rows["campus"] and " * " in rows["roamer"]
    as_json = {e["name"]: e for e in orjson.loads(cli(db, "edges", "list", "--json").stdout)}
    assert as_json["campus"]["buildings"] == ["b1", "b2"]
    assert as_json["roamer"]["buildings"] is None
