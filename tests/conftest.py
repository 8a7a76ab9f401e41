"""Shared test helpers: real peers are required under RADSIM_REQUIRE_REAL=1 (CI), skipped elsewhere."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_REAL = os.environ.get("RADSIM_REQUIRE_REAL") == "1"


def require_binary(name: str, package: str) -> str:
    """Path of ``name``; skip (or fail under RADSIM_REQUIRE_REAL=1) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        reason = f"'{name}' not found: install the Debian package '{package}'"
        if REQUIRE_REAL:
            pytest.fail(reason + " (RADSIM_REQUIRE_REAL=1 forbids skipping)")
        pytest.skip(reason)
    return path


@pytest.fixture
def dcmtk_env() -> dict[str, str]:
    """Environment for DCMTK processes: TCP_NODELAY=1 avoids the ~40 ms Nagle stall per response."""
    return {**os.environ, "TCP_NODELAY": "1"}
