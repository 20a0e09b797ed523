"""The web pages (worker client at ``/``, operator dashboard at
``/operator``), their static files, and the security headers every reply
carries.

The files of ``crowd/web`` are read once per process. Static files are
served only by name from a table built from ``crowd/web/static`` (no path
is ever joined from the request, so nothing outside it can be reached),
under ``/static/<version>/``, where the version is a digest of every file:
a new release gets new URLs, so browsers may keep each file for a year.
The pages themselves are revalidated on every load (ETag, ``no-cache``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from crowd.errors import NotFound

routes = web.RouteTableDef()

#: No inline script or style, nothing from other origins but task images
#: (workers label images by URL), no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' https: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

#: The only kinds of static file served, with their content types.
STATIC_TYPES = {
    ".js": ("text/javascript", "utf-8"),
    ".css": ("text/css", "utf-8"),
    ".svg": ("image/svg+xml", None),
    ".png": ("image/png", None),
}
PAGE_TYPE = ("text/html", "utf-8")
PAGES = ("worker.html", "operator.html")
#: Where the pages say ``{{static}}``, the versioned prefix goes.
STATIC_PLACEHOLDER = b"{{static}}"

STATIC_CACHE = "public, max-age=31536000, immutable"
PAGE_CACHE = "no-cache"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    charset: str | None
    etag: str


@dataclass(frozen=True, slots=True)
class Site:
    version: str
    static: dict[str, Asset]
    pages: dict[str, Asset]


def load_site(root: Path) -> Site:
    """Every page and static file under ``root``, in memory."""
    static = {
        path.name: _asset(path.read_bytes(), STATIC_TYPES[path.suffix])
        for path in sorted((root / "static").iterdir())
        if path.is_file() and path.suffix in STATIC_TYPES and not path.name.startswith(".")
    }
    digest = hashlib.sha256()
    for name, asset in static.items():
        digest.update(f"{name}\0{asset.etag}\0".encode())
    version = digest.hexdigest()[:16]
    prefix = f"/static/{version}".encode()
    pages = {name: _asset((root / name).read_bytes().replace(STATIC_PLACEHOLDER, prefix), PAGE_TYPE) for name in PAGES}
    return Site(version, static, pages)


def _asset(body: bytes, kind: tuple[str, str | None]) -> Asset:
    return Asset(body, kind[0], kind[1], f'"{hashlib.sha256(body).hexdigest()[:32]}"')


@cache
def site() -> Site:
    return load_site(WEB_ROOT)


@routes.get("/")
async def worker_page(request: web.Request) -> web.Response:
    return _send(request, site().pages["worker.html"], PAGE_CACHE)


@routes.get("/operator")
async def operator_page(request: web.Request) -> web.Response:
    return _send(request, site().pages["operator.html"], PAGE_CACHE)


@routes.get("/static/{version}/{name}")
async def static_file(request: web.Request) -> web.Response:
    """A file of ``crowd/web/static``, looked up by its exact name."""
    current = site()
    asset = current.static.get(request.match_info["name"])
    if asset is None or request.match_info["version"] != current.version:
        raise NotFound("no such file")
    return _send(request, asset, STATIC_CACHE)


def _send(request: web.Request, asset: Asset, cache_control: str) -> web.Response:
    headers = {"ETag": asset.etag, "Cache-Control": cache_control}
    if _matches(request.headers.get("If-None-Match", ""), asset.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type=asset.content_type, charset=asset.charset, headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weakly compared)."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:  # streamed exports already sent theirs
        response.headers.update(SECURITY_HEADERS)
    return response
