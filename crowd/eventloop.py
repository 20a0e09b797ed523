"""The event loop the server runs on: uvloop where it is installed (a
dependency on Linux and macOS), else asyncio's own; ``CROWD_EVENT_LOOP``
picks one.

uvloop runs the sockets, timers and callbacks of the loop in C (libuv). A
next+answer cycle is two HTTP requests and a dozen round trips to
PostgreSQL, so that loop work is a large share of a server's CPU:
bench/README.md has the figures."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from crowd.config import EventLoop

T = TypeVar("T")


class LoopUnavailable(RuntimeError):
    """The event loop asked for is not installed."""


def new_event_loop(choice: EventLoop = "auto") -> asyncio.AbstractEventLoop:
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError as exc:
            if choice == "uvloop":
                raise LoopUnavailable("CROWD_EVENT_LOOP=uvloop, but uvloop is not installed") from exc
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T], choice: EventLoop = "auto") -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(choice)) as runner:
        return runner.run(main)


def name_of(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``, for the start-up log."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
