"""Directives (edge/directives.py) against a small scripted HTTP server: valid passes are
taken and cached with their fetch time; a bad answer, an error and an unreachable API
leave the passes held; a restart uses the cache."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from edge.directives import DirectivesPuller
from edge.outbox import Outbox

PASS = {
    "credential": "V100",
    "visitor": "Zhang San",
    "valid_from": 1796220000,
    "valid_to": 1796223600,
    "doors": ["D1", "D2"],
}


class Scripted:
    """Answers GET /v1/edges/self/directives from a script of (status, body) in order."""

    def __init__(self, script: list[tuple[int, bytes]]):
        self.script = list(script)
        self.seen: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # http.server calls it by this name
                outer.seen.append((self.path, self.headers.get("Authorization")))
                status, body = outer.script.pop(0)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_valid_passes_are_taken_and_cached_bad_answers_keep_them(tmp_path):
    good = json.dumps({"generated_at": 1796220100, "visitor_passes": [PASS]}).encode()
    api = Scripted(
        [
            (200, good),
            (200, b'{"generated_at": 1796220200, "visitor_passes": [{"credential": ""}]}'),
            (200, b"[1, 2]"),
            (500, b'{"detail": "boom"}'),
        ]
    )
    handed: list[tuple] = []
    outbox = Outbox(tmp_path / "outbox.sqlite")
    puller = DirectivesPuller(outbox, api.url, "edge-token", 5.0, handed.append, clock=lambda: 42.0)

    async def pulls() -> list[bool]:
        async with httpx.AsyncClient(headers={"Authorization": "Bearer edge-token"}) as c:
            results = [await puller.pull_once(c) for _ in range(4)]
            api.close()
            results.append(await puller.pull_once(c))  # the API is gone
            return results

    try:
        assert asyncio.run(pulls()) == [True, False, False, False, False]
    finally:
        outbox.close()
    assert api.seen[0] == ("/v1/edges/self/directives", "Bearer edge-token")
    assert len(handed) == 1  # only the valid answer was handed over
    (visitor,) = handed[0]
    assert (visitor.credential, visitor.visitor, visitor.doors) == (
        "V100", "Zhang San", frozenset({"D1", "D2"}),
    )  # fmt: skip
    assert (visitor.valid_from, visitor.valid_to) == (1796220000, 1796223600)
    assert dict(puller.failures) == {"bad_answer": 2, "http_500": 1, "unreachable": 1}
    assert puller.last_error is not None and puller.last_error.startswith("unreachable")
    assert puller.stats()["passes"] == 1  # still the valid ones

    # A restart while the API is unreachable: the cached passes are used.
    restarted: list[tuple] = []
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        again = DirectivesPuller(outbox, api.url, "edge-token", 5.0, restarted.append)
        assert again.restore() is True
    assert restarted == handed
    assert again.stats()["fetched_at"] == 42.0 and again.stats()["passes"] == 1
