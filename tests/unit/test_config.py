"""Settings from the environment."""

from __future__ import annotations

import pytest

from crowd.config import Settings


def test_an_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROWD_REDIS_URL", "")
    monkeypatch.setenv("CROWD_SHUTDOWN_TIMEOUT_SECONDS", "")
    settings = Settings()
    assert settings.redis_url is None
    assert settings.shutdown_timeout_seconds == 30.0


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROWD_SHUTDOWN_TIMEOUT_SECONDS", "-1")
    with pytest.raises(ValueError, match="shutdown_timeout_seconds"):
        Settings()


def test_an_unknown_event_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROWD_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        Settings()
