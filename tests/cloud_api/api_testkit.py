"""Helpers for the central API's tests: batches on the wire, a real server, the store file."""

from __future__ import annotations

import contextlib
import gzip
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from pydantic import TypeAdapter
from servers import free_port, running

from cloud_api.auth import hash_token, new_token
from cloud_api.store.base import EdgeIdentity
from cloud_api.store.sqlite import SqliteStore
from edge.model import IngestBatch

batch_adapter: TypeAdapter = TypeAdapter(IngestBatch)

DAY0 = 1699920000  # 2023-11-14T00:00:00Z, a multiple of 86,400: a UTC day starts here


def point(name: str, value: object, **extra: object) -> dict:
    return {"point": name, "value": value, **extra}


def record(seq: int, ts: float, device: str, points: Sequence[dict], **extra: object) -> dict:
    return {"seq": seq, "ts": ts, "device": device, "points": list(points), **extra}


def reading_batch(
    records: Sequence[dict], site: str = "s1", building: str = "b1", **extra: object
) -> dict:
    return {
        "site": site,
        "building": building,
        "lane": "readings",
        "records": list(records),
        **extra,
    }


def simple_batch(
    first_seq: int, count: int, site: str = "s1", device: str = "m1", t0: float = DAY0
) -> dict:
    """`count` records from seq `first_seq`, one a minute, each a counter and a gauge."""
    records = [
        record(
            seq,
            t0 + 60 * seq,
            device,
            [
                point("energy", 1000.0 + seq, unit="kWh", kind="counter"),
                point("power", 10.0 + seq % 7, unit="kW"),
            ],
            tags={"kind": "meter"},
        )
        for seq in range(first_seq, first_seq + count)
    ]
    return reading_batch(records, site=site)


def parse(batch: dict):
    """A wire dict as the API sees it after validation."""
    return batch_adapter.validate_json(orjson.dumps(batch))


def register_edge(db: Path, name: str, site: str, building: str | None = None) -> str:
    """Register an edge straight in the store file; its token."""
    token = new_token()
    store = SqliteStore(db)
    try:
        store.add_edge(EdgeIdentity(name, site, building), hash_token(token))
    finally:
        store.close()
    return token


def add_user(db: Path, name: str, role: str, password: str | None = None) -> str:
    """Add a user straight in the store file (with a password for the cockpit's login
    when given); their token."""
    from cloud_api.passwords import hash_password
    from cloud_api.store import sqlite_users

    token = new_token()
    password_hash = None if password is None else hash_password(password)
    store = SqliteStore(db)
    try:
        with store.writing() as conn:
            sqlite_users.add_user(conn, name, role, hash_token(token), DAY0, password_hash)
    finally:
        store.close()
    return token


def count(db: Path, sql: str, params: Sequence = ()) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchone()[0]


@dataclass
class ApiServer:
    url: str
    db: Path
    log: Path
    proc: subprocess.Popen

    def client(self, token: str | None = None, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def post_batch(client: httpx.Client, batch: dict, gzipped: bool = True) -> httpx.Response:
    body = orjson.dumps(batch)
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return client.post("/v1/ingest", content=body, headers=headers)


@contextlib.contextmanager
def api_server(
    directory: Path, db: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[ApiServer]:
    """`steward-api serve` in its own process on a free port, stopped on exit."""
    port = free_port()
    db = db or directory / "steward.sqlite"
    log = directory / f"api-{port}.log"
    args = [
        sys.executable,
        "-m",
        "cloud_api.cli",
        "serve",
        "--port",
        str(port),
        "--db",
        str(db),
        "--no-access-log",
    ]
    with running(args, port, log, env=env) as proc:
        yield ApiServer(f"http://127.0.0.1:{port}", db, log, proc)


# ---------------------------------------------------------------- the store, without HTTP

STORE_EDGE_NAME = "edge-1"
STORE_NOW = DAY0 + 10 * 86400  # when the store "receives" the batches of the store tests


def store_ingest(store, batch: dict, edge=None):
    """One batch (a wire dict) into a store, as the ingest router would hand it over."""
    from cloud_api.store.base import EdgeIdentity

    return store.ingest(edge or EdgeIdentity(STORE_EDGE_NAME, "s1"), parse(batch), STORE_NOW)


def stored_samples(store) -> int:
    return count(store.path, "SELECT count(*) FROM samples")


# ---------------------------------------------------------------- the app in this process


@dataclass
class InProcessApi:
    """create_app over a real SQLite file, served by uvicorn on a loopback port in a
    thread of the test process; `now` is the app's clock (app.state.clock), set by the
    test instead of sleeping."""

    client: httpx.Client
    db: Path
    now: float
    app: object = None  # the FastAPI app (its state: store, energy evaluator, ...)

    def as_(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}


@contextlib.contextmanager
def in_process_api(
    directory: Path, now: float = DAY0, **settings: object
) -> Iterator[InProcessApi]:
    import threading
    import time

    import uvicorn

    from cloud_api.app import create_app
    from cloud_api.settings import ApiSettings

    db = directory / "steward.sqlite"
    app = create_app(ApiSettings(db=db, **settings))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            api = InProcessApi(client, db, now, app)
            app.state.clock = lambda: api.now
            yield api
    finally:
        server.should_exit = True
        thread.join(10)
