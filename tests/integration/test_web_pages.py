"""The pages and their static files over HTTP, without a browser: content
types, cache headers, the security headers, and no way out of
``crowd/web/static``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from multidict import CIMultiDict

from crowd.api.web import WEB_ROOT, load_site, site
from tests.support.crowd import Crowd, Reply

PAGES = ["/", "/operator"]
STATIC = WEB_ROOT / "static"


@pytest.fixture
def backend() -> str:
    """Static routes touch no database: one backend is enough."""
    return "sqlite"


def headers(reply: Reply) -> CIMultiDict[str]:
    return CIMultiDict(reply.headers)


def version() -> str:
    return site().version


def static_files() -> list[Path]:
    return sorted(p for p in STATIC.iterdir() if p.is_file())


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_html_with_the_security_headers(crowd: Crowd, path: str) -> None:
    reply = await crowd.call("GET", path)
    assert reply.status == 200
    assert headers(reply)["Content-Type"] == "text/html; charset=utf-8"
    csp = headers(reply)["Content-Security-Policy"]
    for directive in ("script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert headers(reply)["X-Content-Type-Options"] == "nosniff"
    assert headers(reply)["Cache-Control"] == "no-cache"
    assert headers(reply)["ETag"].startswith('"')
    assert f"/static/{version()}/" in reply.text
    assert "{{static}}" not in reply.text


@pytest.mark.parametrize("path", PAGES)
async def test_pages_have_no_inline_script_or_style(crowd: Crowd, path: str) -> None:
    html = (await crowd.call("GET", path)).text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts
    assert all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", html, flags=re.I)
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "nothing from other origins (no CDN)"


async def test_every_static_file_is_served_with_its_type_and_cache_headers(crowd: Crowd) -> None:
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    for path in static_files():
        reply = await crowd.call("GET", f"/static/{version()}/{path.name}")
        assert reply.status == 200, path.name
        assert headers(reply)["Content-Type"] == types[path.suffix], path.name
        assert headers(reply)["Cache-Control"] == "public, max-age=31536000, immutable"
        assert headers(reply)["X-Content-Type-Options"] == "nosniff"
        assert reply.text.encode() == path.read_bytes()
        etag = headers(reply)["ETag"]
        again = await crowd.call("GET", f"/static/{version()}/{path.name}", headers={"If-None-Match": etag})
        assert again.status == 304
        assert again.text == ""


async def test_every_module_a_page_loads_exists(crowd: Crowd) -> None:
    """Every script, stylesheet and icon of the pages, and every module
    they import, is served (a missing one would break the page)."""
    wanted: set[str] = set()
    for page in PAGES:
        html = (await crowd.call("GET", page)).text
        wanted |= {m.rsplit("/", 1)[1] for m in re.findall(r'(?:src|href)="(/static/[^"]+)"', html)}
    for path in STATIC.glob("*.js"):
        wanted |= set(re.findall(r"from '\./([\w.-]+)'", path.read_text()))
    assert {"worker.js", "operator.js", "style.css", "api.js", "dom.js", "charts.js"} <= wanted
    for name in wanted:
        assert (await crowd.call("GET", f"/static/{version()}/{name}")).status == 200, name


async def test_a_changed_page_revalidates_to_304(crowd: Crowd) -> None:
    first = await crowd.call("GET", "/")
    again = await crowd.call("GET", "/", headers={"If-None-Match": f'W/{headers(first)["ETag"]}, "other"'})
    assert again.status == 304
    assert (await crowd.call("GET", "/", headers={"If-None-Match": '"stale"'})).status == 200


async def test_head_requests_get_headers_only(crowd: Crowd) -> None:
    reply = await crowd.call("HEAD", f"/static/{version()}/worker.js")
    assert reply.status == 200
    assert reply.text == ""
    assert headers(reply)["Content-Type"] == "text/javascript; charset=utf-8"


async def raw_get(crowd: Crowd, target: str) -> tuple[int, bytes]:
    """Send ``target`` exactly as written (no client-side normalisation of
    ``..`` or percent escapes) and read the status and body."""
    host, port = crowd.client.host, crowd.client.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


TRAVERSALS = [
    "/static/{v}/../../api/web.py",
    "/static/{v}/..%2f..%2fapi%2fweb.py",
    "/static/{v}/%2e%2e%2f%2e%2e%2fapi%2fweb.py",
    "/static/{v}/%2E%2E/worker.html",
    "/static/{v}/..%5c..%5capi%5cweb.py",
    "/static/{v}/..\\..\\api\\web.py",
    "/static/{v}/%252e%252e%252fworker.html",
    "/static/{v}//etc/passwd",
    "/static/{v}/%2fetc%2fpasswd",
    "/static/{v}/worker.js%00.html",
    "/static/{v}/worker.html",
    "/static/{v}/../worker.html",
    "/static/{v}/.",
    "/static/{v}/",
    "/static/..%2f..%2fapi/web.py",
    "/static/{v}/WORKER.JS",
    "/static/not-the-version/worker.js",
    "/static/worker.js",
    "/crowd/web/worker.html",
    "/operator/../api/web.py",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_nothing_outside_the_static_folder_can_be_reached(crowd: Crowd, target: str) -> None:
    status, body = await raw_get(crowd, target.format(v=version()))
    assert status in (400, 404), (target, status)
    for leaked in (b"CONTENT_SECURITY_POLICY", b"root:", b"<!doctype"):
        assert leaked not in body


def test_the_static_table_holds_only_files_of_the_static_folder(tmp_path: Path) -> None:
    """Only plain files of known types directly in ``static/`` are served;
    hidden files, other types and subfolders are not."""
    static = tmp_path / "static"
    (static / "sub").mkdir(parents=True)
    for name in ("app.js", "style.css", ".secret.js", "notes.txt", "run.py"):
        (static / name).write_text("x")
    (static / "sub" / "deep.js").write_text("x")
    for page in ("worker.html", "operator.html"):
        (tmp_path / page).write_text('<script src="{{static}}/app.js"></script>')
    built = load_site(tmp_path)
    assert sorted(built.static) == ["app.js", "style.css"]
    assert built.pages["worker.html"].body == f'<script src="/static/{built.version}/app.js"></script>'.encode()
    (static / "app.js").write_text("changed")
    assert load_site(tmp_path).version != built.version  # new files, new URLs


def test_the_scripts_insert_no_markup_from_data() -> None:
    """Only server-rendered instructions are ever inserted as HTML; nothing
    evaluates strings as code or sets inline styles."""
    risky = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\('style'"
    )
    uses = {
        path.name: [line.strip() for line in path.read_text().splitlines() if risky.search(line)]
        for path in STATIC.glob("*.js")
    }
    assert {name: lines for name, lines in uses.items() if lines} == {
        "worker.js": ["ui.instructionsBody.innerHTML = html;"]
    }
    assert "instructions_html" in (STATIC / "worker.js").read_text()
