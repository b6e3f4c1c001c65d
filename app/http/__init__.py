"""The HTTP face: every UserService RPC over the Connect protocol (HTTP/JSON, gRPC-Web).

The same servicer and the same per-method layers as the gRPC port serve each
call (``app/grpc/``): :mod:`app.http.call_context` lets them read a Connect
call as they read a gRPC one, :mod:`app.http.connect_service` turns the
outcome into Connect's form, and :mod:`app.http.server` serves it with uvicorn
inside the service's lifecycle. docs/http.md is the guide.
"""
