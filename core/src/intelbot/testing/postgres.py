"""A fresh PostgreSQL database per test, in the server named by ``INTELBOT_TEST_POSTGRES_URL``.

:func:`fresh_database` creates a database of its own on that server, yields its
SQLAlchemy async URL and drops it afterwards (``WITH (FORCE)``); the test kit's
``postgres_url`` fixture wraps it. The server itself is never started or stopped here:
it is shared.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_URL_ENV = "INTELBOT_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """The URL of the shared test server's maintenance database."""
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """Create a database no one else uses; yield its URL; drop it at the end."""
    base_url = server_url()
    name = f"intelbot_test_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError as error:
        await admin.dispose()
        raise RuntimeError(f"PostgreSQL is not reachable at {base_url}: {error}") from None
    try:
        yield f"{base_url.rsplit('/', 1)[0]}/{name}"
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()
