"""Seeded legacy databases shared by the seed tests (created on the real servers, dropped after)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from seed_helpers import MISSING_NAMES, SMALL_N, Seeded, drop, new_legacy_database

from include.seed import generate


@pytest.fixture(scope="module")
def seeded(pg_server: str) -> Iterator[Seeded]:
    """One database seeded with SMALL_N invites (seed 42) and MISSING_NAMES missing-name persons."""
    uri = new_legacy_database(pg_server)
    try:
        yield Seeded(uri, generate(uri, SMALL_N, 42, missing_names=MISSING_NAMES))
    finally:
        drop(pg_server, uri)


@pytest.fixture
def second_legacy_db(pg_server: str) -> Iterator[str]:
    uri = new_legacy_database(pg_server)
    try:
        yield uri
    finally:
        drop(pg_server, uri)
