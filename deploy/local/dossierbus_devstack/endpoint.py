"""An HTTP endpoint that keeps every request it receives and answers with scripted statuses: stands in
for an agency's webhook receiver or an SMS gateway in tests."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from dossierbus_devstack.eventually import eventually


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    connection: int
    """The client's port: requests over one kept-alive connection share it."""


class RecordingEndpoint:
    def __init__(self, answers: Iterable[int] = (), *, then: int = 200) -> None:
        self.answers = deque(answers)
        """Statuses for the next requests, in order; `then` once they are used up."""
        self.then = then
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())  # a free port
        # Polled for shutdown every 50 ms (serve_forever's default is 0.5 s, the time leaving it then takes).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingEndpoint:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer_from_now(self, status: int) -> None:
        with self._lock:
            self.answers.clear()
            self.then = status

    async def wait_for(self, count: int, timeout_s: float = 30) -> list[Received]:
        """The requests received, once there are at least `count`."""
        await eventually(lambda: len(self.requests) >= count, timeout_s=timeout_s, interval_s=0.05)
        return list(self.requests)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open, as gateways and agencies' servers do

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint._lock:
                    status = endpoint.answers.popleft() if endpoint.answers else endpoint.then
                    endpoint.requests.append(
                        Received(
                            "POST",
                            self.path,
                            dict(self.headers.items()),
                            body,
                            status,
                            self.client_address[1],
                        )
                    )
                payload = b'{"ok": true}' if status < 300 else b'{"error": "scripted failure"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        return Handler
