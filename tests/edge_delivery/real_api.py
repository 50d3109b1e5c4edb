"""The real central API (create_app over a real SQLite file), served by uvicorn on a
loopback port in a thread of the test process, for tests of how the edge's uplink and the
API's ingest contract work together.

Cheaper than a `steward-api serve` process (no interpreter start-up), and the same code:
the app, its ingest worker, its store. What arrived is read back from the store file by
content (each test sample carries a unique "uid" point), so a duplicate shows up as two
rows and a loss as none.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from servers import free_port

from cloud_api.app import create_app
from cloud_api.auth import hash_token, new_token
from cloud_api.settings import ApiSettings
from cloud_api.store import sqlite_users
from cloud_api.store.base import EdgeIdentity
from cloud_api.store.sqlite import SqliteStore

SITE, BUILDING = "city-hall", "b-12"


def register(db: Path, name: str, site: str = SITE, building: str | None = BUILDING) -> str:
    """Register an edge in the store file (as `steward-api edges add` does); its token."""
    token = new_token()
    store = SqliteStore(db)
    try:
        store.add_edge(EdgeIdentity(name, site, building), hash_token(token))
    finally:
        store.close()
    return token


def add_viewer(db: Path, name: str = "viewer") -> str:
    """Add a viewer user in the store file (as `steward-api users add` does); their token."""
    token = new_token()
    store = SqliteStore(db)
    try:
        with store.writing() as conn:
            sqlite_users.add_user(conn, name, "viewer", hash_token(token), time.time())
    finally:
        store.close()
    return token


@dataclass
class RealApi:
    url: str
    db: Path
    viewer: str  # a viewer's token, for the reads

    def register(self, name: str, site: str = SITE, building: str | None = BUILDING) -> str:
        return register(self.db, name, site, building)

    def uids(self, site: str = SITE) -> Counter[int]:
        """How many times each "uid" point value was stored for the site."""
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            rows = db.execute(
                "SELECT s.value FROM samples s JOIN series r ON r.id = s.series_id "
                "WHERE r.site = ? AND r.point = 'uid'",
                (site,),
            ).fetchall()
        return Counter(int(v) for (v,) in rows)

    def edge(self, name: str) -> dict:
        """The edge as GET /v1/edges shows it."""
        headers = {"Authorization": f"Bearer {self.viewer}"}
        edges = httpx.get(self.url + "/v1/edges", headers=headers, timeout=10).json()["edges"]
        [found] = [e for e in edges if e["name"] == name]
        return found


@contextlib.contextmanager
def real_api(directory: Path, port: int | None = None, **settings: object) -> Iterator[RealApi]:
    """Serve create_app(ApiSettings(db=directory/api.sqlite, **settings)) on a loopback
    port (a free one unless given) until the block ends."""
    db = directory / "api.sqlite"
    viewer = add_viewer(db)
    app = create_app(ApiSettings(db=db, **settings))
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="real-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.01)
    try:
        yield RealApi(f"http://127.0.0.1:{port}", db, viewer)
    finally:
        server.should_exit = True
        thread.join(10)
