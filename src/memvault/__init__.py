"""memvault: persistent, searchable long-term memory for AI assistants and agents.

from memvault import Vault

with Vault.open("sqlite:///memories.db") as vault:
    vault.store("Alice prefers tabs over spaces", tags=["prefs"], namespace="alice")
    for hit in vault.search("how does Alice indent code?", k=5, namespace="alice"):
        print(hit.score, hit.memory.content)
"""

from .config import Settings
from .errors import (
    Conflict,
    IncompatibleEmbedding,
    InvalidInput,
    MemvaultError,
    NotFound,
    StoreUnavailable,
)
from .model import Filter, Hit, Memory, StoreResult
from .stores import Store, open_store
from .transfer.migrate import MigrationReport, migrate
from .vault import Recall, Vault

__version__ = "0.1.0"

__all__ = [
    "Conflict",
    "Filter",
    "Hit",
    "IncompatibleEmbedding",
    "InvalidInput",
    "Memory",
    "MemvaultError",
    "MigrationReport",
    "NotFound",
    "Recall",
    "Settings",
    "Store",
    "StoreResult",
    "StoreUnavailable",
    "Vault",
    "migrate",
    "open_store",
]
