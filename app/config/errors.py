"""The one error a bad setting raises."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it in one line."""
