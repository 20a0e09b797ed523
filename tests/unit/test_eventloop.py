"""The server's event loop: uvloop by default, asyncio's own on request or without uvloop."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop  # a dependency wherever the suite runs (not on Windows)

from crowd.eventloop import LoopUnavailable, name_of, new_event_loop, run


def _made(choice: str) -> tuple[str, bool]:
    """The loop's name and whether it really is uvloop's; the loop is closed."""
    loop = new_event_loop(choice)  # type: ignore[arg-type]
    try:
        return name_of(loop), isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_auto_and_uvloop_pick_uvloop_where_it_is_installed() -> None:
    assert _made("auto") == ("uvloop", True)
    assert _made("uvloop") == ("uvloop", True)


def test_asyncio_picks_the_standard_loop() -> None:
    assert _made("asyncio") == ("asyncio", False)


def test_without_uvloop_auto_falls_back_and_an_explicit_choice_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert _made("auto") == ("asyncio", False)
    with pytest.raises(LoopUnavailable, match="CROWD_EVENT_LOOP=uvloop"):
        new_event_loop("uvloop")


def test_run_returns_the_result_on_the_chosen_loop() -> None:
    async def which() -> str:
        return name_of(asyncio.get_running_loop())

    assert run(which()) == "uvloop"
    assert run(which(), "asyncio") == "asyncio"
