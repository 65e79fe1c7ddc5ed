"""Factories for every store kind the conformance suite runs against."""

from __future__ import annotations

from pathlib import Path

import pytest

from memvault.stores import Store
from memvault.stores.sqlite import SqliteStore

STORE_KINDS = ["sqlite"]


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "sqlite":
        return SqliteStore(tmp_path / "store.db")
    raise ValueError(f"unknown store kind {kind}")
