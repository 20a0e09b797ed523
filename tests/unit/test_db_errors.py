from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from crowd.db.engine import _translate_outage, is_unique_violation, sqlstate
from crowd.errors import DatabaseBusy, DatabaseUnavailable


class DriverError(Exception):
    def __init__(self, code: str | None) -> None:
        super().__init__(f"driver error {code}")
        self.sqlstate = code


def dbapi_error(code: str | None) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, DriverError(code))


@pytest.mark.parametrize("code", ["08006", "08001", "53300", "53200", "57P01", "57P03"])
def test_an_unreachable_or_exhausted_database_is_a_503(code: str) -> None:
    async def fail() -> None:
        async with _translate_outage():
            raise dbapi_error(code)

    with pytest.raises(DatabaseUnavailable):
        asyncio.run(fail())


def test_a_pool_with_no_connection_free_in_time_is_a_busy_503() -> None:
    async def fail() -> None:
        async with _translate_outage():
            raise PoolTimeout("QueuePool limit of size 20 overflow 0 reached, connection timed out, timeout 5.00")

    with pytest.raises(DatabaseBusy) as caught:
        asyncio.run(fail())
    assert caught.value.status == 503


@pytest.mark.parametrize("code", ["23505", "42P01", None])
def test_other_database_errors_stay_what_they_are(code: str | None) -> None:
    async def fail() -> None:
        async with _translate_outage():
            raise dbapi_error(code)

    with pytest.raises(DBAPIError):
        asyncio.run(fail())


def test_unique_violations_are_recognised_on_both_dialects() -> None:
    assert sqlstate(dbapi_error("23505")) == "23505"
    assert is_unique_violation(IntegrityError("INSERT", {}, DriverError("23505")))
    assert not is_unique_violation(IntegrityError("INSERT", {}, DriverError("23503")))
    sqlite_style = IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: tasks.external_id"))
    assert is_unique_violation(sqlite_style)
