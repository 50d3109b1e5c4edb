"""/docs: Swagger UI from the vendored files, served with the right types and nothing else;
every vendored file still the one its VENDOR.json records. (Clicking through the page in a
browser: test_docs_browser.py.)"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from api_testkit import in_process_api

import cloud_api

PACKAGE = Path(cloud_api.__file__).parent
VENDORED = [PACKAGE / "static/vendor/swagger-ui", PACKAGE / "cockpit/vendor/echarts"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    with in_process_api(tmp_path_factory.mktemp("docs")) as running:
        yield running


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    found = sorted(p.parent for p in PACKAGE.rglob("VENDOR.json"))
    assert set(VENDORED) <= set(found)
    for folder in found:
        record = json.loads((folder / "VENDOR.json").read_text("utf-8"))
        on_disk = {p.name for p in folder.iterdir()} - {"VENDOR.json"}
        assert on_disk == set(record["files"]), folder  # nothing unrecorded, nothing missing
        for name, sha256 in record["files"].items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha256, name


def test_the_page_loads_only_our_assets_and_forbids_inline_and_foreign_scripts(api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    loaded = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert loaded == [
        "data:,",  # no icon: the browser asks for none
        "/docs/assets/swagger-ui.css",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/docs-init.js",
    ]
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"  # no inline script, no other host
    assert policy["connect-src"] == "'self'"
    assert policy["default-src"] == "'none'"


@pytest.mark.parametrize(
    ("name", "file", "content_type"),
    [
        (
            "swagger-ui-bundle.js",
            "static/vendor/swagger-ui/swagger-ui-bundle.js",
            "text/javascript",
        ),
        ("swagger-ui.css", "static/vendor/swagger-ui/swagger-ui.css", "text/css"),
        ("docs-init.js", "static/docs-init.js", "text/javascript"),
    ],
)
def test_each_asset_is_the_file_with_its_content_type(api, name, file, content_type) -> None:
    answer = api.client.get(f"/docs/assets/{name}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == f"{content_type}; charset=utf-8"
    assert answer.content == (PACKAGE / file).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/LICENSE",
        "/docs/assets/VENDOR.json",
        "/docs/assets/..%2F..%2Fapp.py",
        "/docs/assets/../../app.py",
        "/docs/assets/",
        "/docs/assets/vendor/swagger-ui/swagger-ui.css",
    ],
)
def test_nothing_else_is_served_under_the_assets(api, path: str) -> None:
    answer = api.client.get(path)
    assert answer.status_code == 404, answer.text
