"""The Connect application's bare refusals, each given one line saying what to send instead.

Connect answers a request it cannot route or read (an unknown path, a GET, a
body without a Connect content type) with the HTTP status alone and an empty
body, so ``curl -s`` that forgot ``-H 'Content-Type: application/json'`` prints
nothing at all. The status and headers stay as Connect sent them; only the
empty body becomes a line of text. An RPC's own error (a JSON body) is untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.grpc.service_contract import SERVICE_NAME

CALL = f"an RPC is a POST to /{SERVICE_NAME}/<RPC> with its request as JSON"
EXPLANATIONS = {
    404: f"no such RPC: {CALL}\n",
    405: f"method not allowed: {CALL}\n",
    415: (
        "unsupported content type: send Content-Type: application/json"
        " (or application/proto, application/grpc-web+proto)\n"
    ),
}
_REPLACED_HEADERS = frozenset({b"content-type", b"content-length", b"transfer-encoding"})


class ExplainedRefusals:
    """Wraps the Connect application: a 404, 405 or 415 with an empty body gets its line."""

    def __init__(self, application: ASGIApp) -> None:
        self._application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._application(scope, receive, send)
            return
        held: Message | None = None

        async def explaining_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] in EXPLANATIONS:
                held = message  # sent with the body, once it is known to be empty
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            start, held = held, None
            if message.get("body") or message.get("more_body", False):
                await send(start)
                await send(message)
                return
            await _send_explained(start, send)

        await self._application(scope, receive, explaining_send)


async def _send_explained(start: Message, send: Send) -> None:
    """``start``'s status and headers, with its explanation as a plain-text body."""
    text = EXPLANATIONS[start["status"]].encode()
    headers = [
        (name, value)
        for name, value in start.get("headers", [])
        if bytes(name).lower() not in _REPLACED_HEADERS
    ]
    headers += [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(text)).encode()),
    ]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": text, "more_body": False})
