"""How the service talks to PostgreSQL, whichever server runs it: the URL, the
timeouts and the pool, the guard around every call, and the readiness probe.

Both adapters drive psycopg 3 through SQLAlchemy: its blocking API in gevent workers
(where psycopg 3 waits cooperatively), its asynchronous one on an event loop. One
driver means one URL, one set of connection options and one family of errors.
"""

import hashlib
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import structlog
from sqlalchemy import URL, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ..health import CheckResult, check_result
from ..resilience import Guard
from ..settings import SERVICE_NAME, DatabaseSettings

# The dependency's name in the breaker's log lines, its metrics and its readiness entry.
DEPENDENCY = "postgresql"
CHECK_NAME = "postgresql:responseTime"
# Readiness answers within a second even when PostgreSQL accepts connections but never
# replies: this probe gets less than half of it, the other checks the rest.
PROBE_TIMEOUT_SECONDS = 0.4
# The key of the advisory lock that lets one `migrate` at a time change the schema:
# the same for every process of this service, different from other services'.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(f"{SERVICE_NAME}:migrate".encode()).digest()[:8],
    "big",
    signed=True,
)

logger = structlog.get_logger(__name__)


class DatabaseTimeoutError(Exception):
    """A call to the database did not finish within its deadline (see `deadline`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer from the database within {seconds:g} s")


# The errors that mean the database is down, hanging or saturated (not a bug in the
# caller), with the line that reports them; each is answered with 503.
OUTAGES: dict[type[Exception], str] = {
    OperationalError: "database unavailable",
    InterfaceError: "database unavailable",
    PoolTimeoutError: "database connection pool exhausted",
    DatabaseTimeoutError: "database did not answer in time",
}


def sqlalchemy_url(settings: DatabaseSettings) -> URL:
    """DATABASE_URL (`postgresql://` or `postgres://`) for SQLAlchemy's psycopg 3
    dialect, which serves the blocking and the asynchronous engine alike."""
    url = make_url(settings.database_url.get_secret_value())
    return url.set(drivername="postgresql+psycopg")


def libpq_url(settings: DatabaseSettings) -> str:
    """DATABASE_URL as psycopg itself reads it, for connections outside the pool."""
    url = sqlalchemy_url(settings).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def redacted_url(settings: DatabaseSettings) -> str:
    """DATABASE_URL for a log line: never with its password."""
    return sqlalchemy_url(settings).set(drivername="postgresql").render_as_string()


def connect_arguments(
    settings: DatabaseSettings, *, statement_timeout: bool = True
) -> dict[str, Any]:
    """libpq's options for every connection: bounded connects, and a statement
    timeout that the server enforces (migrations run without one)."""
    arguments: dict[str, Any] = {
        "connect_timeout": settings.database_connect_timeout_seconds,
        "application_name": SERVICE_NAME,
    }
    if statement_timeout:
        milliseconds = round(settings.database_statement_timeout_seconds * 1000)
        arguments["options"] = f"-c statement_timeout={milliseconds}"
    return arguments


def engine_options(settings: DatabaseSettings) -> dict[str, Any]:
    """The pool of one worker process: see the README for how to size it."""
    return {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout_seconds,
        # A connection the server closed (a restart, a failover) is replaced before a
        # request gets it, so the database's return needs no restart of ours.
        "pool_pre_ping": True,
        # A failed statement's error would otherwise carry its parameters (what
        # clients sent) into the log line that reports it.
        "hide_parameters": True,
        "connect_args": connect_arguments(settings),
    }


def deadline(settings: DatabaseSettings) -> float:
    """Seconds one call may take in all: waiting for a connection, then its statements,
    plus a second's margin, so that the server's own statement timeout (which leaves
    the connection usable) fires first. The deadline itself is for a database that no
    longer answers at all."""
    return (
        settings.database_pool_timeout_seconds
        + settings.database_statement_timeout_seconds
        + 1
    )


def database_guard(settings: DatabaseSettings) -> Guard:
    return Guard(
        DEPENDENCY,
        # A full pool is this process's own load, not the database failing: it gets
        # its 503, and the breaker does not count it.
        failures=tuple(kind for kind in OUTAGES if kind is not PoolTimeoutError),
        failure_threshold=settings.database_breaker_failures,
        reset_seconds=settings.database_breaker_reset_seconds,
        max_concurrency=settings.database_max_concurrency,
    )


class Probe:
    """Readiness's own connection to the database, outside the pool, bounded in time.

    libpq cannot bound a connection attempt below 2 s, and nothing bounds a query to a
    server that stopped answering: the probe runs in a thread of its own and readiness
    waits for it at most PROBE_TIMEOUT_SECONDS. One thread: while a probe hangs, the
    next ones wait behind it and fail in time too, and no more threads pile up.
    """

    def __init__(self, settings: DatabaseSettings) -> None:
        self.url = libpq_url(settings)
        self.connect_timeout = settings.database_connect_timeout_seconds
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="database-probe")

    def ping(self) -> None:
        with psycopg.connect(
            self.url,
            connect_timeout=self.connect_timeout,
            application_name=f"{SERVICE_NAME}-readiness",
            autocommit=True,
        ) as connection:
            connection.execute("SELECT 1")

    def submit(self) -> Future[None]:
        return self.executor.submit(self.ping)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def check_database(probe: Probe, guard: Guard) -> CheckResult:
    """Connect and run `SELECT 1`, or fail within PROBE_TIMEOUT_SECONDS.

    The probe bypasses the breaker, so readiness sees the database itself; the entry
    reports the breaker's state beside it.
    """
    started = time.perf_counter()
    try:
        probe.submit().result(timeout=PROBE_TIMEOUT_SECONDS)
    except (TimeoutError, psycopg.Error, OSError) as error:
        # Hosts, ports and users go to the log, never to the public body; psycopg's
        # messages never carry the password.
        reason = "no answer in time" if isinstance(error, TimeoutError) else error
        logger.warning(
            "database check failed", error=f"{type(error).__name__}: {reason}"
        )
        return check_result(
            "datastore",
            "fail",
            output="the database did not answer",
            breakerState=guard.state,
        )
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return check_result(
        "datastore",
        "pass",
        observedValue=elapsed_ms,
        observedUnit="ms",
        breakerState=guard.state,
    )
