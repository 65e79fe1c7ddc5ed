"""memvault: persistent, searchable long-term memory for AI assistants and agents.

from memvault import Vault

with Vault.open("sqlite:///memories.db") as vault:
    vault.store("Alice prefers tabs over spaces", tags=["prefs"], namespace="alice")
    for hit in vault.search("how does Alice indent code?", k=5, namespace="alice"):
        print(hit.score, hit.memory.content)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings as Settings
    from .errors import Conflict as Conflict
    from .errors import IncompatibleEmbedding as IncompatibleEmbedding
    from .errors import InvalidInput as InvalidInput
    from .errors import MemvaultError as MemvaultError
    from .errors import NotFound as NotFound
    from .errors import StoreUnavailable as StoreUnavailable
    from .model import Filter as Filter
    from .model import Hit as Hit
    from .model import Memory as Memory
    from .model import StoreResult as StoreResult
    from .stores import Store as Store
    from .stores import open_store as open_store
    from .transfer.migrate import MigrationReport as MigrationReport
    from .transfer.migrate import migrate as migrate
    from .vault import Recall as Recall
    from .vault import Vault as Vault

__version__ = "0.1.0"

# Each public name and the module that defines it. They are imported on first
# use (PEP 562), so ``memvault mcp``'s fast start, which imports only
# ``memvault.mcp.stdio`` until a tool is called, does not load the stores,
# numpy and httpx before it answers ``tools/list``.
_HOMES = {
    "Settings": "config",
    "Conflict": "errors",
    "IncompatibleEmbedding": "errors",
    "InvalidInput": "errors",
    "MemvaultError": "errors",
    "NotFound": "errors",
    "StoreUnavailable": "errors",
    "Filter": "model",
    "Hit": "model",
    "Memory": "model",
    "StoreResult": "model",
    "Store": "stores",
    "open_store": "stores",
    "MigrationReport": "transfer.migrate",
    "migrate": "transfer.migrate",
    "Recall": "vault",
    "Vault": "vault",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'memvault' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
