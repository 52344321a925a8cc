"""Calls to other services over HTTP, made the resilient way by default.

Declare each downstream as a backing service (its `Downstream` in `services.OPENERS`)
and call it from routes; a route degrades gracefully by catching `UNAVAILABLE`:
`DownstreamError` (the call failed) or `DependencyUnavailableError` (it was refused
without trying).
"""

from ..resilience import DependencyUnavailableError
from .client import Downstream
from .policy import (
    DEFAULT_OPTIONS,
    DownstreamError,
    DownstreamOptions,
    DownstreamStatusError,
)

# Every way a call can fail for good, for a route's fallback to catch.
UNAVAILABLE = (DownstreamError, DependencyUnavailableError)

__all__ = [
    "DEFAULT_OPTIONS",
    "UNAVAILABLE",
    "DependencyUnavailableError",
    "Downstream",
    "DownstreamError",
    "DownstreamOptions",
    "DownstreamStatusError",
]
