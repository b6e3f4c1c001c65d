"""Large buffers are returned to the OS: glibc's mmap threshold is fixed."""

from __future__ import annotations

import sys

import pytest

from app.entrypoints.memory import return_large_buffers_to_the_os


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_mmap_threshold_is_fixed_on_glibc():
    assert return_large_buffers_to_the_os() is True
