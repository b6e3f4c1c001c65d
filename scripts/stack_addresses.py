"""Where the local stack lives and how it is spoken of: the repository, ``.local/``, addresses.

Shared by ``scripts/local_stack.py`` and the parts it starts (native servers, docker compose).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def say(message: str) -> None:
    print(f"local-stack: {message}", flush=True)


def answers(address: Address, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_answers(address: Address, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(address):
            return True
        time.sleep(0.2)
    return False


def address_of(url: str, default_port: int) -> Address:
    parts = urlsplit(url)
    return Address(parts.hostname or "127.0.0.1", parts.port or default_port)
