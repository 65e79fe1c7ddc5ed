"""Upkeep of a store: duplicates, consolidation, archive, summaries, optimize, analytics.

Everything here works on any store through the Store protocol (and its
journal, where operations are logged for undo). A Vault holds one
``upkeep.Upkeep`` as ``vault.upkeep``; the modules hold the functions, one
concept each.
"""

from .duplicates import DEFAULT_THRESHOLD, Duplicate, DuplicateCluster, DuplicatePlan
from .oplog import Operation, OperationLog, Progress
from .optimize import OptimizeReport

__all__ = [
    "DEFAULT_THRESHOLD",
    "Duplicate",
    "DuplicateCluster",
    "DuplicatePlan",
    "Operation",
    "OperationLog",
    "OptimizeReport",
    "Progress",
]
