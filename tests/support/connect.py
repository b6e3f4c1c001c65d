"""Calling the HTTP port as a plain HTTP client does: JSON over POST, Connect's error form."""

from __future__ import annotations

import base64
import struct
from typing import Any, TypeVar

import httpx
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from app.grpc.service_contract import SERVICE_NAME

DetailT = TypeVar("DetailT", bound=Message)


def method_url(method: str) -> str:
    """``GetMe`` → ``/userService.UserService/GetMe``, the path a Connect call posts to."""
    return f"/{SERVICE_NAME}/{method}"


class ConnectClient:
    """Posts JSON to the HTTP port; a session goes as ``Authorization: Bearer <id>``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def post(
        self,
        method: str,
        body: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if session_id is not None:
            sent["authorization"] = f"Bearer {session_id}"
        return await self.http.post(method_url(method), json=body or {}, headers=sent)

    async def ok(
        self, method: str, body: dict[str, Any] | None = None, *, session_id: str | None = None
    ) -> dict[str, Any]:
        """The JSON answer of a call that must succeed."""
        response = await self.post(method, body, session_id=session_id)
        assert response.status_code == 200, f"{method}: {response.status_code} {response.text}"
        answer: dict[str, Any] = response.json()
        return answer


def _unpadded_base64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def connect_detail(response: httpx.Response, kind: type[DetailT]) -> DetailT:
    """The one detail of type ``kind`` in a Connect JSON error."""
    name = kind.DESCRIPTOR.full_name
    found = [d for d in response.json().get("details", []) if d["type"] == name]
    assert len(found) == 1, f"{name} in {response.text}"
    return kind.FromString(_unpadded_base64(found[0]["value"]))


def connect_reason(response: httpx.Response) -> str:
    """The ErrorInfo reason of a Connect JSON error."""
    return str(connect_detail(response, error_details_pb2.ErrorInfo).reason)


def grpc_web_frame(message: Message) -> bytes:
    """One gRPC-Web data frame: flag 0, the length, the message."""
    payload = message.SerializeToString()
    return struct.pack(">BI", 0, len(payload)) + payload


def grpc_web_frames(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """A gRPC-Web response body read as its messages and its trailers (the 0x80 frame)."""
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    offset = 0
    while offset < len(body):
        flag, length = struct.unpack_from(">BI", body, offset)
        payload = body[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if flag & 0x80:
            for line in payload.decode().split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers
