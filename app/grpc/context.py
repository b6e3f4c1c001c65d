"""The type of a servicer method's call context, shared by the servicer and the edge's layers."""

from __future__ import annotations

from typing import Any

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
