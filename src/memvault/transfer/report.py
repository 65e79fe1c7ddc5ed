"""What a migration did (or, with ``dry_run``, would do): counts, failures, verification."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .verify import Verification

# Failures beyond this many are counted but not listed.
MAX_FAILURES_LISTED = 100


@dataclass
class MigrationReport:
    """What a migration did (or, with ``dry_run``, would do)."""

    source: str
    target: str
    dry_run: bool = False
    source_count: int = 0
    moved: int = 0
    skipped: int = 0
    chunks: int = 0
    reembedded: int = 0
    failed: int = 0
    removed: int = 0
    resumed_from: str | None = None
    # Moved by the interrupted run(s) this one resumed; ``moved`` is this run's.
    moved_earlier: int = 0
    backup: str | None = None
    # Records of a taken-over collection that are not memories (no content, say),
    # with why: kept in the backup only, not carried into the target.
    left_in_backup: list[tuple[str, str]] = field(default_factory=list)
    # A new target nothing was written to (every record refused) is not created.
    target_not_created: bool = False
    vectors: str = "copied"
    elapsed: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    verification: Verification | None = None

    @property
    def rate(self) -> float:
        return (self.moved + self.skipped) / self.elapsed if self.elapsed else 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and (self.verification is None or self.verification.ok)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            rate=round(self.rate, 1),
            ok=self.ok,
            verification=self.verification.to_dict() if self.verification else None,
        )
        return out
