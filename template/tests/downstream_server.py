"""A real HTTP server on a free local port, scripted to fail the ways downstreams do:
each request it receives takes the next step of its script."""

import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self, cast


class Fault(Enum):
    # Accept the request, then never answer it.
    HANG = "hang"
    # Close the connection without an answer, with a TCP reset.
    RESET = "reset"


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Step = Answer | Fault


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    at: float


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: deque[Step] = deque()
        self.received: list[Received] = []
        # Set when the test ends, so that hanging handlers let go.
        self.released = threading.Event()
        self._thread = threading.Thread(
            # Polls often, so that stopping takes milliseconds, not half a second.
            target=self.serve_forever,
            args=(0.05,),
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def attempts(self) -> int:
        return len(self.received)

    def then(self, *steps: Step) -> None:
        """Queue steps; once the script runs out, every request is answered 200."""
        self.script.extend(steps)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    def handle_call(self) -> None:
        server = cast("ScriptedServer", self.server)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server.received.append(
            Received(self.command, self.path, dict(self.headers), time.monotonic())
        )
        step = server.script.popleft() if server.script else Answer()
        if step is Fault.HANG:
            server.released.wait()
            self.close_connection = True
        elif step is Fault.RESET:
            # Linger 0: closing sends RST instead of FIN.
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()
            self.close_connection = True
        else:
            body = json.dumps({"attempt": server.attempts}).encode()
            self.send_response(step.status)
            for name, value in step.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    # http.server dispatches on these names.
    do_GET = do_POST = do_PUT = do_DELETE = handle_call  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test asserts what the server received instead."""
