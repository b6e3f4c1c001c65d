"""The HTTP port's transport: TLS with the gRPC port's certificate (mutual too), the client
address behind trusted proxies only, plain gRPC sent to the wrong port, and requests
Connect cannot route or read, each told what to send."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from app.config import ConfigError
from tests.support.application import build_test_application, make_settings
from tests.support.client import PASSWORD, unique_email
from tests.support.connect import ConnectClient, method_url
from tests.support.logs import captured_logs

FORWARDED = "203.0.113.9"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, trustme.CA, Path]:
    """The server's CA, the clients' CA, and a directory holding their PEM files."""
    directory = tmp_path_factory.mktemp("http-tls")
    server_ca, client_ca = trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1")
    server.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
    client_ca.cert_pem.write_to_path(str(directory / "client-ca.pem"))
    return server_ca, client_ca, directory


def _tls(directory: Path, *, mutual: bool) -> dict[str, object]:
    tls: dict[str, object] = {
        "cert_file": str(directory / "server.pem"),
        "key_file": str(directory / "server.pem"),
    }
    if mutual:
        tls |= {"client_ca_file": str(directory / "client-ca.pem"), "require_client_cert": True}
    return {"tls": tls}


async def test_with_tls_on_the_http_port_serves_https_with_the_same_certificate(
    make_application, authority
):
    server_ca, _, directory = authority
    application = await make_application(grpc=_tls(directory, mutual=False))
    trusted = ssl.create_default_context()
    server_ca.configure_trust(trusted)
    url = f"https://127.0.0.1:{application.http_port}"
    async with httpx.AsyncClient(base_url=url, verify=trusted) as client:
        refused = await ConnectClient(client).post("GetMe")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{application.http_port}") as plain:
        with pytest.raises(httpx.HTTPError):
            await ConnectClient(plain).post("GetMe")


async def test_with_mutual_tls_a_client_needs_a_certificate_from_the_configured_ca(
    make_application, authority
):
    server_ca, client_ca, directory = authority
    application = await make_application(grpc=_tls(directory, mutual=True))
    url = f"https://127.0.0.1:{application.http_port}"
    anonymous = ssl.create_default_context()
    server_ca.configure_trust(anonymous)
    with_certificate = ssl.create_default_context()
    server_ca.configure_trust(with_certificate)
    client_ca.issue_cert("client.example").configure_cert(with_certificate)
    async with httpx.AsyncClient(base_url=url, verify=with_certificate) as client:
        assert (await ConnectClient(client).post("GetMe")).status_code == 401
    async with httpx.AsyncClient(base_url=url, verify=anonymous) as client:
        with pytest.raises(httpx.HTTPError):
            await ConnectClient(client).post("GetMe")


async def _session_address(port: int, forwarded_for: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        connect = ConnectClient(client)
        email = unique_email("forwarded")
        names = {"firstName": "Ada", "lastName": "Lovelace"}
        await connect.ok("Register", {"email": email, "password": PASSWORD, **names})
        login = await connect.post(
            "Login",
            {"email": email, "password": PASSWORD},
            headers={"x-forwarded-for": forwarded_for},
        )
        session = login.json()["sessionId"]
        [listed] = (await connect.ok("ListSessions", session_id=session))["sessions"]
    return str(listed["clientAddress"])


async def test_the_client_address_is_forwarded_only_by_trusted_proxies(
    application, make_application
):
    trusting = await make_application(grpc={"trusted_proxies": ["127.0.0.1/32"]})
    assert trusting.http_port is not None and application.http_port is not None
    assert await _session_address(trusting.http_port, FORWARDED) == FORWARDED
    assert await _session_address(application.http_port, FORWARDED) == "127.0.0.1"


async def test_plain_grpc_at_the_http_port_is_refused_as_the_wrong_media_type(application):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{application.http_port}") as client:
        response = await client.post(
            method_url("GetMe"), content=b"\0\0\0\0\0", headers={"content-type": "application/grpc"}
        )
    assert response.status_code == 415
    assert "gRPC port" in response.text


@pytest.mark.parametrize(
    ("method", "path", "content_type", "status", "hint"),
    [
        ("POST", method_url("GetMe"), "application/x-www-form-urlencoded", 415, "application/json"),
        ("GET", method_url("GetMe"), None, 405, "an RPC is a POST"),
        ("POST", method_url("GetMee"), "application/json", 404, "no such RPC"),
    ],
    ids=["curl without a content type", "a GET", "a misspelt RPC"],
)
async def test_a_request_connect_cannot_route_or_read_is_told_what_to_send(
    application, method, path, content_type, status, hint
):
    headers = {} if content_type is None else {"content-type": content_type}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{application.http_port}") as client:
        response = await client.request(method, path, content=b"{}", headers=headers)
    assert response.status_code == status and hint in response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert int(response.headers["content-length"]) == len(response.content)


async def test_a_body_that_stalls_is_answered_deadline_exceeded_after_the_receive_timeout(
    make_application,
):
    application = await make_application(grpc={"receive_timeout_seconds": 0.3})
    reader, writer = await asyncio.open_connection("127.0.0.1", application.http_port)
    head = (
        f"POST {method_url('Login')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    writer.write(head.encode() + b'{"email": ')
    await writer.drain()
    with captured_logs() as logs:
        answer = await asyncio.wait_for(reader.read(4096), timeout=10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n")
    assert b'{"code": "deadline_exceeded", "message": "request not received within 0.3 s"' in answer
    assert logs.events("request not received in time")


async def test_plaintext_http_beyond_loopback_is_refused_unless_allowed(application):
    exposed = make_settings(http={"host": "0.0.0.0"})
    with pytest.raises(ConfigError, match="APP_HTTP__HOST"):
        await build_test_application(exposed)
    allowed = make_settings(http={"host": "0.0.0.0"}, grpc={"plaintext_allowed": True})
    served = await build_test_application(allowed)
    await served.stop(grace=0.1)
