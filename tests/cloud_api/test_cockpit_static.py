"""The cockpit's files over HTTP: content types, caching headers, ETag, no way out of the
folders (../ and %2e%2e as sent on the wire), gzip when the client accepts it, and gzip
leaving ingest and /metrics as they were."""

from __future__ import annotations

import gzip
import http.client
import os
from pathlib import Path

import orjson
import pytest
from api_testkit import add_user, in_process_api, register_edge, simple_batch

from cloud_api.cockpit import routes_static

VENDOR = Path(routes_static.__file__).parent / "vendor"
ECHARTS = VENDOR / "echarts" / "echarts.min.js"
# The page's own modules are revalidated at every load (ETag -> 304), so a new release's
# code shows at the next load; the vendored charts change only with a new vendored
# version and are kept a day.
REVALIDATED = "no-cache"
CACHED = "public, max-age=86400"
FILES = {  # name: (bytes, content type)
    "index.html": (b"<!doctype html><title>t</title>", "text/html; charset=utf-8"),
    "app.js": (b"export const a = 1;\n", "text/javascript; charset=utf-8"),
    "pages/energy.js": (b"export const e = 2;\n", "text/javascript; charset=utf-8"),
    "style.css": (b"body { margin: 0 }\n", "text/css; charset=utf-8"),
    "i18n.json": (b"{}", "application/json"),
    "logo.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
    "font.woff2": (b"wOF2", "font/woff2"),
    "blob.bin": (b"\0\1", "application/octet-stream"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static folder of the page's kinds of file, a secret beside it, a link to it."""
    root = tmp_path_factory.mktemp("cockpit-files")
    static = root / "static"
    for name, (body, _) in FILES.items():
        (static / name).parent.mkdir(parents=True, exist_ok=True)
        (static / name).write_bytes(body)
    (static / ".hidden").write_text("hidden")
    (root / "secret.txt").write_text("secret")
    os.symlink(root / "secret.txt", static / "link.txt")
    return static


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, site: Path):
    patch = pytest.MonkeyPatch()
    patch.setattr(routes_static, "STATIC", site)
    try:
        with in_process_api(tmp_path_factory.mktemp("cockpit-static")) as api:
            host, port = api.client.base_url.host, api.client.base_url.port
            api.raw = lambda path: _raw_get(host, port, path)
            yield api
    finally:
        patch.undo()


def _raw_get(host: str, port: int, path: str) -> tuple[int, bytes]:
    """GET with the path exactly as written (httpx would remove the dot segments)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def test_the_shell_at_root_is_never_cached_without_revalidation(api) -> None:
    answer = api.client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.content == FILES["index.html"][0]


@pytest.mark.parametrize("name", list(FILES))
def test_each_file_with_its_content_type_revalidated_at_each_load(api, name: str) -> None:
    body, content_type = FILES[name]
    answer = api.client.get(f"/cockpit/static/{name}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == content_type
    assert answer.headers["cache-control"] == REVALIDATED
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.content == body


def test_the_vendored_charts_and_their_licence(api) -> None:
    script = api.client.get("/cockpit/vendor/echarts/echarts.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == CACHED
    assert script.content == ECHARTS.read_bytes()
    licence = api.client.get("/cockpit/vendor/echarts/LICENSE")
    assert licence.headers["content-type"] == "text/plain; charset=utf-8"
    assert licence.content == (VENDOR / "echarts" / "LICENSE").read_bytes()
    vendor = api.client.get("/cockpit/vendor/echarts/VENDOR.json")
    assert vendor.headers["content-type"] == "application/json"


def test_etag_revalidation_and_head(api) -> None:
    first = api.client.get("/cockpit/static/app.js")
    again = api.client.get(
        "/cockpit/static/app.js", headers={"If-None-Match": first.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["cache-control"] == REVALIDATED
    other = api.client.get("/cockpit/static/app.js", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    head = api.client.head("/cockpit/static/app.js")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(FILES["app.js"][0]))


@pytest.mark.parametrize(
    "path",
    [
        "/cockpit/static/../routes_static.py",
        "/cockpit/static/%2e%2e/routes_static.py",
        "/cockpit/static/%2E%2E/%2E%2E/app.py",
        "/cockpit/static/..%2froutes_static.py",
        "/cockpit/static/pages/../../secret.txt",
        "/cockpit/static/pages/%2e%2e/%2e%2e/secret.txt",
        "/cockpit/vendor/../static/index.html",
        "/cockpit/vendor/%2e%2e/routes_static.py",
        "/cockpit/static/./app.js",
        "/cockpit/static//app.js",
        "/cockpit/static/link.txt",  # a link inside pointing out
        "/cockpit/static/.hidden",
        "/cockpit/static/pages",  # a folder
        "/cockpit/static/",
        "/cockpit/static/nothing.js",
        "/cockpit/static/app.js%00.png",
        "/cockpit/static/pages%5c..%5c..%5csecret.txt",
    ],
)
def test_nothing_outside_the_folders_nor_hidden_nor_folders(api, path: str) -> None:
    status, body = api.raw(path)
    assert status == 404, (path, body)
    assert b"secret" not in body and b"import" not in body
    assert orjson.loads(body) == {"detail": "not found"}  # the same for every such path


def test_gzip_when_accepted_and_not_otherwise(api) -> None:
    raw = ECHARTS.read_bytes()
    zipped = api.client.get(
        "/cockpit/vendor/echarts/echarts.min.js", headers={"Accept-Encoding": "gzip"}
    )
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["cache-control"] == CACHED
    assert zipped.content == raw  # httpx unzips it
    assert zipped.num_bytes_downloaded < len(raw) / 2
    assert zipped.headers["vary"] == "Accept-Encoding"  # caches keep both forms apart
    again = api.client.get(
        "/cockpit/vendor/echarts/echarts.min.js", headers={"Accept-Encoding": "gzip"}
    )
    assert again.content == raw and again.num_bytes_downloaded == zipped.num_bytes_downloaded
    plain = api.client.get(
        "/cockpit/vendor/echarts/echarts.min.js", headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers and plain.content == raw
    small = api.client.get("/cockpit/static/app.js", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # under 1 KiB: not worth it


def test_ingest_and_metrics_with_gzip_on(api) -> None:
    token = register_edge(api.db, "edge-gz", "s1")
    body = gzip.compress(orjson.dumps(simple_batch(1, 50)))
    stored = api.client.post(
        "/v1/ingest",
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip",
        },
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["acked"] == 50
    metrics = api.client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert metrics.headers["content-encoding"] == "gzip"
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# HELP" in metrics.text  # unzipped by the client, as Prometheus does
    viewer = add_user(api.db, "vic", "viewer")
    series = api.client.get(
        "/v1/series", headers={"Authorization": f"Bearer {viewer}", "Accept-Encoding": "gzip"}
    )
    assert series.status_code == 200 and len(series.json()["series"]) == 2


def test_the_package_ships_a_shell_to_serve_at_root() -> None:
    shipped = routes_static.resolve(routes_static.HERE / "static", routes_static.INDEX)
    assert shipped is not None
    assert shipped.read_bytes().lstrip().lower().startswith(b"<!doctype html>")
