"""Graceful shutdown (factor IX): readiness fails first, then the server drains.

A load balancer polls readiness and stops routing to an instance once it fails. Only
after that may the server close its listener: connections still queued in the kernel
when a listener closes are reset, and their requests fail.
"""

import multiprocessing

import structlog

logger = structlog.get_logger(__name__)

# Shared memory, made at import. A server that forks its workers imports this before
# the fork, so when its master starts draining every worker sees it; a server that
# spawns them gives each a flag of its own, and each worker drains on the signal its
# supervisor forwards.
_draining = multiprocessing.Value("b", 0, lock=False)


def is_draining() -> bool:
    return bool(_draining.value)


def start_draining(drain_seconds: float) -> None:
    if not _draining.value:
        _draining.value = 1
        logger.info("draining", drain_seconds=drain_seconds)
