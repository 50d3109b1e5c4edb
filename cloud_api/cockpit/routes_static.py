"""The cockpit page's files: the shell at /, its modules and styles, the vendored charts.

GET /                         cockpit/static/index.html; no login needed to load the
                              shell (its data needs one); Cache-Control: no-cache, so a
                              new release shows at the next load
GET /cockpit/static/{path}    cockpit/static/<path>
GET /cockpit/vendor/{path}    cockpit/vendor/<path> (ECharts, as vendored)
Files get their content type by extension (text ones in UTF-8), an ETag (If-None-Match
answers 304) and nosniff. Cache-Control: the page's own modules "no-cache" (revalidated at
each load: their URLs carry no version, and a new release must not run beside old
modules); the vendored charts "public, max-age=86400" (they change only with a new
vendored version). A path that
leaves its folder (../, %2e%2e, a link pointing out), names a hidden file or a folder, or
does not exist is a plain 404, the same for each: nothing tells what exists outside.
Text files are sent gzipped when the client accepts it, compressed once per file
version and kept in memory.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR = HERE / "vendor"
INDEX = "index.html"
REVALIDATED = "no-cache"
CACHED = "public, max-age=86400"
TEXT = "; charset=utf-8"
CONTENT_TYPES = {
    ".html": "text/html" + TEXT,
    ".js": "text/javascript" + TEXT,
    ".mjs": "text/javascript" + TEXT,
    ".css": "text/css" + TEXT,
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain" + TEXT,
    "": "text/plain" + TEXT,  # LICENSE, NOTICE
}
OTHER = "application/octet-stream"
COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".json", ".map", ".svg", ".txt", ""}

router = APIRouter(include_in_schema=False)


def resolve(root: Path, path: str) -> Path | None:
    """The file `path` names inside `root`, or None when it is not one there."""
    parts = path.split("/")
    if any(not p or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return None  # "..", ".", "//", hidden files, Windows separators
    base = root.resolve()
    try:
        found = base.joinpath(*parts).resolve()
    except (OSError, ValueError):
        return None
    if not found.is_relative_to(base) or not found.is_file():
        return None
    return found


@functools.lru_cache(maxsize=128)
def _content(path: Path, version: str) -> tuple[bytes, bytes | None]:
    """A file's bytes and, for text, its gzip form: read and compressed once per version
    of the file, not at every load (ECharts alone is 1.1 MB, ~0.1 s of CPU to gzip)."""
    body = path.read_bytes()
    text = path.suffix.lower() in COMPRESSIBLE and len(body) >= 1024
    return body, gzip.compress(body, 6, mtime=0) if text else None


def file_response(request: Request, found: Path, cache_control: str) -> Response:
    stat = found.stat()
    version = f"{stat.st_mtime_ns}-{stat.st_size}"
    etag = f'"{hashlib.sha256(version.encode()).hexdigest()[:32]}"'
    headers = {
        "Cache-Control": cache_control,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    media_type = CONTENT_TYPES.get(found.suffix.lower(), OTHER)
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        body = b""
    else:
        body, zipped = _content(found, version)
        if zipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            # Already encoded: the app's GZipMiddleware passes it through as it is.
            body, headers["Content-Encoding"] = zipped, "gzip"
    response = Response(body, media_type=media_type, headers=headers)
    if request.method == "HEAD":
        response.headers["Content-Length"] = str(stat.st_size)
    return response


def _serve(request: Request, root: Path, path: str, cache_control: str) -> Response:
    found = resolve(root, path)
    if found is None:
        raise HTTPException(404, detail="not found")
    return file_response(request, found, cache_control)


@router.api_route("/", methods=["GET", "HEAD"])
def index(request: Request) -> Response:
    return _serve(request, STATIC, INDEX, REVALIDATED)


@router.api_route("/cockpit/static/{path:path}", methods=["GET", "HEAD"])
def static_file(request: Request, path: str) -> Response:
    return _serve(request, STATIC, path, REVALIDATED)


@router.api_route("/cockpit/vendor/{path:path}", methods=["GET", "HEAD"])
def vendor_file(request: Request, path: str) -> Response:
    return _serve(request, VENDOR, path, CACHED)
