"""What the Redis adapters share in reading replies.

The client may hand back ``bytes`` or ``str`` (``decode_responses``, RESP2 or
RESP3, a script's reply or a stream entry): every adapter reads both the same way.
"""

from __future__ import annotations


def text(value: str | bytes) -> str:
    """``value`` as text: UTF-8 bytes decoded, text as it is."""
    return value.decode() if isinstance(value, bytes) else value
