"""A real OTLP/HTTP trace receiver on a free local port, as a collector would be: it
decodes what the service's exporter sends (protobuf) and keeps every span. And the
W3C `traceparent` header of a traced caller, to find a request's spans by."""

import gzip
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
# The kinds as OpenTelemetry's API names them.
KINDS = {
    Span.SPAN_KIND_INTERNAL: "INTERNAL",
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_PRODUCER: "PRODUCER",
    Span.SPAN_KIND_CONSUMER: "CONSUMER",
}

# The caller's span, parent of the server span of each request that sends it.
CALLER_SPAN_ID = "b7ad6b7169203331"

Attributes = dict[str, object]


def new_trace_id() -> str:
    return secrets.token_hex(16)


def traceparent(trace_id: str) -> dict[str, str]:
    """The header of a sampled caller's span in the trace."""
    return {"traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01"}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: str
    trace_id: str
    span_id: str
    # Empty for a root span.
    parent_span_id: str
    attributes: Attributes
    resource: Attributes


def _value(value: AnyValue) -> object:
    field = value.WhichOneof("value")
    if field == "array_value":
        return [_value(item) for item in value.array_value.values]
    if field == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, field) if field is not None else None


def _attributes(pairs: Iterable[KeyValue]) -> Attributes:
    return {pair.key: _value(pair.value) for pair in pairs}


def decode(body: bytes) -> list[ReceivedSpan]:
    """Every span of one export request."""
    request = ExportTraceServiceRequest.FromString(body)
    return [
        ReceivedSpan(
            name=span.name,
            kind=KINDS[span.kind],
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            attributes=_attributes(span.attributes),
            resource=_attributes(resource_spans.resource.attributes),
        )
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


class OtlpReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[ReceivedSpan] = []
        # Every request that reached it, whatever its path or body.
        self.requests = 0
        # Why each request that was not a valid export was refused.
        self.refusals: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            # Polls often, so that stopping takes milliseconds, not half a second.
            target=self.serve_forever,
            args=(0.05,),
            daemon=True,
        )

    @property
    def endpoint(self) -> str:
        """The value of OTEL_EXPORTER_OTLP_ENDPOINT: the exporter appends the path."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def arrived(self) -> None:
        with self._lock:
            self.requests += 1

    def refused(self, reason: str) -> None:
        with self._lock:
            self.refusals.append(reason)

    def received(self, spans: list[ReceivedSpan]) -> None:
        with self._lock:
            self.spans.extend(spans)

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def wait_for(
        self, done: Callable[[list[ReceivedSpan]], bool], timeout: float = 10
    ) -> list[ReceivedSpan]:
        """Every span received, once they satisfy `done`; fails after the timeout,
        naming the spans that did arrive."""
        deadline = time.monotonic() + timeout
        while not done(spans := self.snapshot()):
            assert time.monotonic() < deadline, (
                f"not received in time: {spans}, refused: {self.refusals}"
            )
            time.sleep(0.05)
        return spans

    def wait_for_trace(self, trace_id: str) -> list[ReceivedSpan]:
        """The spans of one trace, once its server span has arrived: the request's
        other spans end before it, so they come in the same batch or an earlier one."""

        def in_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
            return [span for span in spans if span.trace_id == trace_id]

        spans = self.wait_for(
            lambda spans: any(span.kind == "SERVER" for span in in_trace(spans))
        )
        return in_trace(spans)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver = cast("OtlpReceiver", self.server)
        receiver.arrived()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != TRACES_PATH:
            receiver.refused(f"POST {self.path}")
            self.answer(404, b"")
            return
        if self.headers.get("Content-Type") != PROTOBUF:
            receiver.refused(f"Content-Type: {self.headers.get('Content-Type')}")
            self.answer(415, b"")
            return
        try:
            spans = decode(body)
        # Whatever protobuf raises: the test names it instead of timing out.
        except Exception as error:
            receiver.refused(f"undecodable: {error!r}")
            self.answer(400, b"")
            return
        receiver.received(spans)
        self.answer(200, ExportTraceServiceResponse().SerializeToString())

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", PROTOBUF)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests assert what the receiver decoded instead."""
