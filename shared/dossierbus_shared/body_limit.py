"""A cap on request bodies in front of every route: a body larger than `HTTP_MAX_BODY_BYTES` is answered
413 (problem+json) before it is read whole, whether it announces its length or streams it in chunks. No
route needs more (what a request carries travels on as one Kafka record of at most MAX_MESSAGE_BYTES), and
some routes are open to anyone (the payment platform's callbacks, the citizen's sign-in)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dossierbus_shared.http_errors import problem

TITLE = "Request body too large"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope.get("headers") or []).get(b"content-length")
        if announced is not None and (not announced.isdigit() or int(announced) > self.max_bytes):
            status = 413 if announced.isdigit() else 400
            detail = self._detail() if status == 413 else "Content-Length is not a number of bytes"
            await problem(status, TITLE if status == 413 else "Bad request", detail)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised where the route reads its body; the app's handler answers it as a problem.
                    raise HTTPException(413, TITLE)
            return message

        await self.app(scope, counted, send)

    def _detail(self) -> str:
        return f"a request body may hold at most {self.max_bytes} bytes"
