"""Health (factor IX): liveness and readiness reports in `application/health+json`.

Liveness answers from the process alone: a dependency outage must never make the
orchestrator restart every pod. Readiness runs the checks of the backing services it
is given, so a balancer stops routing to an instance that cannot serve.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from . import lifecycle
from .settings import SERVICE_NAME

HEALTH_CONTENT_TYPE = "application/health+json"

Status = Literal["pass", "fail"]
ComponentType = Literal["system", "datastore"]
CheckResult = dict[str, str | float]
# A check must bound its own time: readiness answers within a second, whatever hangs.
Check = Callable[[], CheckResult]

_STARTED = time.monotonic()


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, list[CheckResult]]

    @property
    def status(self) -> Status:
        results = (result for entry in self.checks.values() for result in entry)
        return "fail" if any(r["status"] == "fail" for r in results) else "pass"

    @property
    def http_status(self) -> int:
        return 200 if self.status == "pass" else 503

    def body(self) -> dict[str, object]:
        return {"status": self.status, "serviceId": SERVICE_NAME, "checks": self.checks}


def now() -> str:
    return datetime.now(UTC).isoformat()


def check_result(
    component_type: ComponentType, status: Status, **fields: str | float
) -> CheckResult:
    """One entry of a report, stamped with the time it was observed."""
    return {"componentType": component_type, "status": status, **fields, "time": now()}


def liveness() -> HealthReport:
    uptime = round(time.monotonic() - _STARTED, 3)
    return HealthReport(
        {
            "process:uptime": [
                check_result("system", "pass", observedValue=uptime, observedUnit="s")
            ]
        }
    )


def check_drain() -> CheckResult:
    """Fails from the moment the process is asked to stop, so traffic moves away."""
    if lifecycle.is_draining():
        return check_result(
            "system", "fail", output="shutting down: draining in-flight requests"
        )
    return check_result("system", "pass")


def readiness(checks: Mapping[str, Check]) -> HealthReport:
    """The drain check, then each backing service's check under its own name."""
    results = {"process:drain": [check_drain()]}
    results.update({name: [check()] for name, check in checks.items()})
    return HealthReport(results)
