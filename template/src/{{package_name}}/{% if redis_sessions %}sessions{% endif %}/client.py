"""Redis clients with explicit timeouts (the defaults let one call hang for seconds)."""

import time

import structlog
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..health import CheckResult, now

# Readiness must answer within a second even when Redis accepts connections but never
# replies, so the probe gets half of that and no retries.
PROBE_TIMEOUT_SECONDS = 0.5
# Requests that use the session fail fast too: a 503 now beats a request queue
# that grows for as long as Redis hangs.
CLIENT_TIMEOUT_SECONDS = 1.0
CLIENT_RETRIES = 1
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


def check_redis(probe: Redis) -> CheckResult:
    """Ping Redis through a client whose short timeouts bound how long this can take."""
    started = time.perf_counter()
    try:
        probe.ping()
    except (RedisError, OSError) as error:
        # Hosts, ports and certificate details go to the log, never to the public body.
        logger.warning("redis check failed", error=f"{type(error).__name__}: {error}")
        return {
            "componentType": "datastore",
            "status": "fail",
            "output": "redis did not answer the ping",
            "time": now(),
        }
    return {
        "componentType": "datastore",
        "status": "pass",
        "observedValue": round((time.perf_counter() - started) * 1000, 2),
        "observedUnit": "ms",
        "time": now(),
    }
