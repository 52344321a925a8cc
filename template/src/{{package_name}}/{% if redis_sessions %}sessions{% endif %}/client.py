"""Redis clients with explicit timeouts (the defaults let one call hang for seconds),
and the guard (breaker and bulkhead) that every call to Redis from a request goes
through."""

import time

import structlog
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..health import CheckResult, check_result
from ..resilience import Guard
from ..settings import SessionSettings

# Readiness must answer within a second even when Redis accepts connections but never
# replies, so the probe gets half of that and no retries.
PROBE_TIMEOUT_SECONDS = 0.5
# Requests that use the session fail fast too: a 503 now beats a request queue
# that grows for as long as Redis hangs.
CLIENT_TIMEOUT_SECONDS = 1.0
CLIENT_RETRIES = 1
# The dependency's name in the breaker's log lines and its readiness entry.
DEPENDENCY = "redis"
# The readiness check's name, and the log line of an outage.
CHECK_NAME = "redis:responseTime"
OUTAGES: dict[type[Exception], str] = {RedisError: "redis unavailable"}

logger = structlog.get_logger(__name__)


def probe_client(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )


def trace_commands(client: Redis | AsyncRedis) -> None:
    """A client span per command of this client, inside the request's span. The probe
    stays untraced: readiness pings would each start a trace of their own."""
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor.instrument_client(client)


def redis_guard(settings: SessionSettings) -> Guard:
    return Guard(
        DEPENDENCY,
        failures=(RedisError,),
        failure_threshold=settings.redis_breaker_failures,
        reset_seconds=settings.redis_breaker_reset_seconds,
        max_concurrency=settings.redis_max_concurrency,
    )


def check_redis(probe: Redis, guard: Guard) -> CheckResult:
    """Ping Redis through a client whose short timeouts bound how long this can take.

    The ping bypasses the breaker, so readiness sees Redis itself; the entry reports
    the breaker's state beside it.
    """
    started = time.perf_counter()
    try:
        probe.ping()
    except (RedisError, OSError) as error:
        # Hosts, ports and certificate details go to the log, never to the public body.
        logger.warning("redis check failed", error=f"{type(error).__name__}: {error}")
        return check_result(
            "datastore",
            "fail",
            output="redis did not answer the ping",
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
