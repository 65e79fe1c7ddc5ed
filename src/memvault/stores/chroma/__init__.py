"""ChromaDB, embedded or a ``chroma run`` server: memories moved in and out, and searched there.

The store itself is ``store.ChromaStore`` (opened through ``stores.open_store``).
What other layers may use to read a collection another tool wrote is exported
here, so they depend on this package's surface, not on its modules:
where a collection is (``ChromaTarget``, ``parse_chroma_url``), how the
client's errors are reported (``chroma_errors``), a stable walk over its
records (``scan_records``) and the key that marks a collection memvault wrote
(``FORMAT_KEY``), and taking over a collection another tool wrote
(``take_over``, for a migration that replaces what it holds, after copying
its records as they are: ``verbatim``). None of these
imports chromadb until it is used.
"""

from . import verbatim
from .client import ChromaTarget, chroma_errors, parse_chroma_url
from .collection import FORMAT_KEY, take_over
from .scan import scan_records

__all__ = [
    "FORMAT_KEY",
    "ChromaTarget",
    "chroma_errors",
    "parse_chroma_url",
    "scan_records",
    "take_over",
    "verbatim",
]
