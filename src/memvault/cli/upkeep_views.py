"""How upkeep results read in a terminal: plans, operations, archives, summaries, stats detail."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

PREVIEW = 60


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def operation_line(op: dict[str, Any]) -> str:
    result = ", ".join(f"{k} {v}" for k, v in op["result"].items() if not isinstance(v, list))
    return (
        f"{op['status']} {op['kind']} operation {op['id']}"
        + (f" ({result})" if result else "")
        + (f"\n  before-images: {op['backup']}" if op.get("backup") else "")
        + (f"\n  undo with: memvault undo {op['id']}" if op["status"] == "applied" else "")
    )


def plan_view(data: dict[str, Any]) -> Any:
    if "resumed" in data:
        return Text(
            "Finished an interrupted run:\n"
            + "\n".join(operation_line(op) for op in data["resumed"])
        )
    plan = data["plan"]
    table = Table(
        title=f"{plan['clusters']} clusters, {plan['redundant']} of "
        f"{plan['scanned']} memories redundant "
        f"(threshold {plan['threshold']}, keep {plan['keep']})"
    )
    for column in ("cluster", "kind", "sim", "keeps", "merges", "tags after"):
        table.add_column(column, overflow="fold")
    for cluster in plan["plan"]:
        table.add_row(
            cluster["id"],
            cluster["kind"],
            f"{cluster['min_similarity']:.3f}",
            _short(cluster["survivor"]["content"]),
            "\n".join(_short(d["memory"]["content"]) for d in cluster["duplicates"]),
            ", ".join(cluster["merged"]["tags"]),
        )
    dropped = (
        [
            Text(
                "Dropped an interrupted run that had changed nothing: "
                + ", ".join(op["id"] for op in data.get("abandoned", []))
            )
        ]
        if data.get("abandoned")
        else []
    )
    if "operation" in data:
        return Group(*dropped, table, Text(operation_line(data["operation"])))
    hint = "Dry run: nothing changed. Apply with --apply (or --apply --clusters ID ...)."
    return Group(*dropped, table, Text(hint if plan["clusters"] else "No duplicates found."))


def operations_view(data: dict[str, Any]) -> Any:
    table = Table(title="Maintenance operations, oldest first")
    for column in ("id", "kind", "namespace", "status", "result"):
        table.add_column(column, overflow="fold")
    for op in data["operations"]:
        table.add_row(
            op["id"],
            op["kind"],
            op["namespace"] or "(all)",
            op["status"],
            ", ".join(f"{k} {v}" for k, v in op["result"].items() if not isinstance(v, list)),
        )
    return table


def archive_view(data: dict[str, Any]) -> Any:
    if data["dry_run"]:
        table = Table(
            title=f"Dry run: {data['matched']} memories would be archived"
            + (
                f" (the first {len(data['would_archive'])} below)"
                if data["matched"] > len(data["would_archive"])
                else ""
            )
        )
        for column in ("id", "created", "namespace", "content"):
            table.add_column(column, overflow="fold")
        for m in data["would_archive"]:
            table.add_row(m["id"], m["created_at"][:19], m["namespace"], _short(m["content"]))
        return table
    lines = [operation_line(op) for op in data["resumed"]]
    op = data["operation"]
    lines.append(
        f"Archived {op['result']['archived']} memories to {op['backup']}\n"
        f"  undo with: memvault undo {op['id']}"
        if op
        else "Nothing matched."
    )
    return Text("\n".join(lines))


def summaries_view(data: dict[str, Any]) -> Any:
    table = Table(
        title=f"{len(data['summaries'])} summaries"
        + (" (dry run: nothing stored)" if data["dry_run"] else "")
    )
    for column in ("sources", "from", "to", "summary"):
        table.add_column(column, overflow="fold")
    for item in data["summaries"]:
        meta = item["metadata"]
        table.add_row(
            str(meta["source_count"]),
            meta["first_created_at"][:10],
            meta["last_created_at"][:10],
            item["content"],
        )
    if data["operation"]:
        return Group(table, Text(operation_line(data["operation"])))
    return table


def optimize_view(data: dict[str, Any]) -> Any:
    def size(value: int | None) -> str:
        return "unknown" if value is None else f"{value:,} bytes"

    lines = [
        f"Before: {size(data['before_bytes'])}",
        f"After:  {size(data['after_bytes'])}",
        f"Expired memories archived: {data['expired_archived']}"
        + (f" ({data['expired_archive']})" if data["expired_archive"] else ""),
        *(f"  - {step}" for step in data["steps"]),
    ]
    return Text("\n".join(lines))


def detail_view(detail: dict[str, Any]) -> Any:
    """``memvault stats --detail``: the distributions as small tables, growth, largest."""
    parts: list[Any] = []
    for name, title in (
        ("by_tag", "tags"),
        ("by_importance", "importance"),
        ("by_hour_utc", "hour (UTC)"),
        ("by_weekday", "weekday"),
    ):
        table = Table(title=title, box=None, show_header=False)
        table.add_column(overflow="fold")
        table.add_column(justify="right")
        for key, count in detail[name].items():
            table.add_row(str(key), str(count))
        parts.append(table)
    growth = Table(title="growth", box=None)
    for column in ("month", "added", "total"):
        growth.add_column(column, justify="right")
    for row in detail["growth"]:
        growth.add_row(row["month"], str(row["added"]), str(row["total"]))
    largest = Table(title="largest", box=None)
    for column in ("bytes", "id", "begins"):
        largest.add_column(column, overflow="fold")
    for row in detail["largest"]:
        largest.add_row(f"{row['bytes']:,}", row["id"], _short(row["preview"]))
    parts += [growth, largest]
    duplicates = detail.get("duplicates")
    if duplicates:
        parts.append(
            Text(
                f"Duplicates (threshold {duplicates['threshold']}): "
                f"{duplicates['redundant']} redundant memories in "
                f"{duplicates['clusters']} clusters, ratio {duplicates['ratio']:.2%}"
            )
        )
    return Group(*parts)
