"""The HTTP/JSON port: the Connect protocol (and gRPC-Web) beside gRPC, in the same process."""

from __future__ import annotations

from pydantic import Field, field_validator

from app.config.sections import Section


class HttpSettings(Section):
    # The Connect port serves every UserService RPC as HTTP/JSON and gRPC-Web (docs/http.md).
    enabled: bool = True
    # None: the gRPC host (grpc.host), so both ports are as reachable as each other.
    host: str | None = None
    port: int = Field(8080, ge=0, le=65535)
    # Browser origins that may call the port (CORS), e.g. https://web.example.com; none by default.
    cors_origins: tuple[str, ...] = ()
    # How long a browser may cache a CORS preflight's answer.
    cors_max_age_seconds: int = Field(600, ge=0, le=86_400)

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin like https://web.example.com")
            if origin.count("/") > 2:
                raise ValueError(f"{origin!r} has a path: an origin is scheme://host[:port]")
        return origins
