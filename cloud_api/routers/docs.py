"""The interactive API reference: Swagger UI from the vendored swagger-ui-dist files.

GET /docs                 the page (no inline script: it loads the bundle, then our
                          initializer static/docs-init.js)
GET /docs/assets/{name}   swagger-ui-bundle.js, swagger-ui.css (static/vendor/swagger-ui,
                          not to be edited: VENDOR.json holds their checksums),
                          docs-init.js; any other name is a 404

Nothing is fetched from another host: the page's Content-Security-Policy allows scripts,
styles and requests from this origin only (styles inline and images as data: too, which
Swagger UI's rendering uses).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = STATIC / "vendor" / "swagger-ui"

_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"
# name -> (file, content type, Cache-Control): the vendored files change only with a new
# Steward version; ours is read fresh so an upgrade shows at once
ASSETS: dict[str, tuple[Path, str, str]] = {
    "swagger-ui-bundle.js": (VENDOR / "swagger-ui-bundle.js", _JS, "public, max-age=3600"),
    "swagger-ui.css": (VENDOR / "swagger-ui.css", _CSS, "public, max-age=3600"),
    "docs-init.js": (STATIC / "docs-init.js", _JS, "no-cache"),
}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Steward API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs-init.js"></script>
</body>
</html>
"""


@router.get("/docs")
def docs_page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    found = ASSETS.get(name)
    if found is None:
        raise HTTPException(404, detail=f"no docs asset {name!r}; there are: {', '.join(ASSETS)}")
    path, media_type, cache = found
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": cache})
