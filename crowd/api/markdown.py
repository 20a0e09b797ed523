"""Project instructions, markdown rendered on the server, safely: raw HTML
in the source is escaped, and links with unsafe schemes (``javascript:``
and the like) are not made into links."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt

_RENDERER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


@lru_cache(maxsize=512)
def render(source: str) -> str:
    html: str = _RENDERER.render(source)
    return html
