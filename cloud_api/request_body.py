"""Reading an ingest body within limits, and undoing its Content-Encoding within limits."""

from __future__ import annotations

import zlib

from starlette.requests import ClientDisconnect, Request

# A body over the limit is still read (and thrown away) up to this many times the limit,
# so that an ordinary client that sends first and reads the answer later gets the 413
# instead of a broken connection; beyond that the connection is simply closed.
_DRAIN_FACTOR = 4


class BodyError(Exception):
    """The body cannot be used; status and message are for the client."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # short metric label
        self.message = message


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n} bytes ({n // (1024 * 1024)} MiB)"
    return f"{n} bytes"


def too_large(limit: int, what: str = "request body") -> BodyError:
    return BodyError(413, "too_large", f"{what} exceeds the limit of {_size(limit)}")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; BodyError 413 when it is longer than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise BodyError(400, "bad_length", f"bad Content-Length {declared!r}") from None
        if declared_size > limit * _DRAIN_FACTOR:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit * _DRAIN_FACTOR:
                break
            if size <= limit:
                chunks.append(chunk)
    except ClientDisconnect:
        raise BodyError(
            400, "disconnect", "the client went away before sending the whole body"
        ) from None
    if size > limit:
        raise too_large(limit)
    return b"".join(chunks)


def decode(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone; at most `limit` bytes come out."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise BodyError(
            415,
            "bad_encoding",
            f"unsupported Content-Encoding {content_encoding!r}: send gzip or no encoding",
        )
    return gunzip(body, limit)


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress gzip (several members allowed) without ever holding more than limit + 1."""
    out: list[bytes] = []
    produced = 0
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            piece = inflater.decompress(rest, limit - produced + 1)
        except zlib.error as e:
            raise BodyError(400, "bad_gzip", f"corrupt gzip body: {e}") from None
        produced += len(piece)
        if produced > limit:
            raise too_large(limit, "decompressed request body")
        out.append(piece)
        if not inflater.eof:
            raise BodyError(400, "bad_gzip", "corrupt gzip body: the gzip stream is truncated")
        rest = inflater.unused_data
        if not rest:
            return b"".join(out)
