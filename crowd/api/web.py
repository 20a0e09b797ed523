"""The web pages (worker client at ``/``, operator dashboard at
``/operator``) and the security headers every reply carries."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

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


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:  # streamed exports already sent theirs
        response.headers.update(SECURITY_HEADERS)
    return response
