"""A gRPC status read as Connect's error: every code has its Connect name, details keep their
bytes; a Connect client's address read as a gRPC peer."""

from __future__ import annotations

import grpc
import pytest

from app.domain.errors import Throttled
from app.grpc.errors import rich_status_for
from app.grpc.metadata import parse_peer
from app.http.call_context import grpc_peer
from app.http.connect_service import connect_error_of


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK])
def test_every_grpc_code_but_ok_becomes_the_connect_code_of_its_name(code):
    status = rich_status_for(Throttled(3.0, action="login", scope="address"))
    status.code = code.value[0]
    connect_code = connect_error_of(status).code
    assert connect_code.name.replace("CANCELED", "CANCELLED") == code.name


def test_the_details_keep_their_types_and_bytes_in_order():
    status = rich_status_for(Throttled(1.5, action="login", scope="account"))
    error = connect_error_of(status)
    assert error.message == status.message
    assert [d.type_name for d in error.details] == [
        "google.rpc.ErrorInfo",
        "google.rpc.RetryInfo",
    ]
    assert [d.message_bytes for d in error.details] == [d.value for d in status.details]


@pytest.mark.parametrize(
    ("client", "address", "port"),
    [("127.0.0.1:5555", "127.0.0.1", 5555), ("::1:443", "::1", 443), (None, "", 0)],
)
def test_a_connect_clients_address_reads_as_the_grpc_peer_it_would_be(client, address, port):
    peer = parse_peer(grpc_peer(client))
    assert (peer.address, peer.port) == (address, port)
