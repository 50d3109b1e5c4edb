"""A small real HTTP server speaking the ingest contract, whose answers a test can script.

The real central API cannot be made to answer 413, 5xx or a validation error on cue;
this server can. It validates with edge.model, stores each (lane, seq) once (one outbox
stream per test: it ignores `stream`), answers the highest contiguous seq, refuses a seq
jump that `dropped_through` does not cover, answers a replay as the real API does (409
with its body), and serves scripted answers first when a test queues them.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from pydantic import TypeAdapter, ValidationError

from edge.model import IngestBatch

BATCH = TypeAdapter(IngestBatch)


@dataclass
class Seen:
    """One request as the server received it."""

    at: float
    status: int
    lane: str | None
    seqs: list[int]
    headers: dict[str, str]
    body: dict | None


@dataclass
class IngestState:
    token: str = "edge-token"
    max_body: int = 50_000_000
    conflict_on_replay: bool = False  # answer a batch it fully holds with 409
    hide_error_locations: bool = False  # answer 422 without saying which record
    script: list[tuple[int, bytes]] = field(default_factory=list)  # next answers, in order
    stored: dict[str, dict[int, dict]] = field(
        default_factory=lambda: {"events": {}, "readings": {}}
    )
    acked: dict[str, int] = field(default_factory=lambda: {"events": 0, "readings": 0})
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def store(self, batch) -> tuple[int, dict]:
        lane = batch.lane
        held = self.stored[lane]
        new = [r for r in batch.records if r.seq not in held and r.seq > self.acked[lane]]
        for r in new:
            held[r.seq] = r.model_dump(mode="json")
        dropped = max(0, batch.records[0].seq - self.acked[lane] - 1)
        if dropped and batch.dropped_through < batch.records[0].seq - 1:
            return 422, {"detail": [{"loc": ["dropped_through"], "msg": "unreported seq jump"}]}
        self.acked[lane] = max(self.acked[lane], batch.records[-1].seq)
        answer = {
            "lane": lane,
            "acked": self.acked[lane],
            "accepted": len(new),
            "duplicates": len(batch.records) - len(new),
            "dropped_at_edge": dropped,
        }
        if not new and self.conflict_on_replay:
            # The real API's 409 body (cloud_api/routers/ingest.py _replay_body).
            first, last = batch.records[0].seq, batch.records[-1].seq
            detail = (
                f"records {first}..{last} of lane {lane} are already acknowledged"
                f" (acked {self.acked[lane]}); nothing was stored"
            )
            return 409, {"detail": detail, "lane": lane, "acked": self.acked[lane],
                         "duplicates": len(batch.records)}  # fmt: skip
        return 200, answer


def _handler(state: IngestState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = self._answer(raw, headers)
            payload = answer if isinstance(answer, bytes) else orjson.dumps(answer)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _answer(self, raw: bytes, headers: dict[str, str]) -> tuple[int, dict | bytes]:
            body = None
            with contextlib.suppress(Exception):
                body = orjson.loads(gzip.decompress(raw))
            lane = body.get("lane") if isinstance(body, dict) else None
            seqs = [r.get("seq") for r in body.get("records", [])] if isinstance(body, dict) else []
            with state.lock:
                status, answer = self._decide(raw, headers)
                state.seen.append(Seen(time.monotonic(), status, lane, seqs, headers, body))
            return status, answer

        def _decide(self, raw: bytes, headers: dict[str, str]) -> tuple[int, dict | bytes]:
            if state.script:
                return state.script.pop(0)
            if headers.get("authorization") != f"Bearer {state.token}":
                return 401, {"detail": "unknown or revoked edge token"}
            if self.path != "/v1/ingest":
                return 404, {"detail": "Not Found"}
            data = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
            if len(data) > state.max_body:
                return 413, {"detail": f"body larger than {state.max_body} bytes"}
            try:
                batch = BATCH.validate_json(data)
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_context=False, include_input=False)
                if state.hide_error_locations:
                    return 422, {"detail": "invalid batch"}
                return 422, {"detail": [{**e, "loc": ["body", *e["loc"]]} for e in errors]}
            return state.store(batch)

    return Handler


@contextlib.contextmanager
def scripted_ingest(
    state: IngestState | None = None, port: int = 0
) -> Iterator[tuple[str, IngestState]]:
    """Serve on loopback (a free port unless given); yields (base URL, state)."""
    state = state or IngestState()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="scripted-ingest", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
