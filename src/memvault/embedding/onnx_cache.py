"""Where exported ONNX models live, and how they get there safely.

An export is kept in ``<cache>/<model>-<checksum>/``: the checksum covers the
source model's files and the export recipe, so a changed model (or recipe) gets
a new export and never a stale one. An export is built in a temporary folder
and renamed into place, so a crash leaves no half-written model behind; a lock
file makes a second process wait for the first one's export instead of
repeating it.

Hashing ~90 MB of weights costs a noticeable fraction of a second, so each
file's checksum is remembered next to the exports, keyed by its size, inode
and modification time (as git and make do): a process that starts again finds
its model without reading the weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import private_dir

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MEMO = "checksums.json"
# The files that decide what the exported graph computes.
SOURCE_FILES = (
    "config.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
    "model.safetensors",
    "pytorch_model.bin",
)


@dataclass(frozen=True)
class ExportedModel:
    """A finished export: its folder and what its manifest says."""

    directory: Path
    manifest: dict[str, Any]

    def path(self, runtime: str) -> Path:
        return self.directory / self.manifest["files"][runtime]

    def passes_gate(self, runtime: str) -> bool:
        return bool(self.manifest["gate"][runtime]["passed"])


def source_checksum(
    model_dir: Path, cache_root: Path, recipe: str, *, compute: bool = True
) -> str | None:
    """SHA-256 over the model's files and the export recipe.

    With ``compute=False`` only remembered file checksums are used, and None
    is returned if any is missing (a cheap look-up that never reads weights).
    """
    memo_path = cache_root / MEMO
    memo = _read_json(memo_path) or {}
    total = hashlib.sha256(recipe.encode())
    changed = False
    for name in SOURCE_FILES:
        path = model_dir / name
        if not path.is_file():
            continue
        st = path.stat()
        key = str(path.resolve())
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = memo.get(key)
        if entry is None or entry[:3] != stamp:
            if not compute:
                return None
            with path.open("rb") as f:
                entry = [*stamp, hashlib.file_digest(f, "sha256").hexdigest()]
            memo[key] = entry
            changed = True
        total.update(f"{name}\0{entry[3]}\0".encode())
    if changed:
        private_dir(cache_root)
        _write_json_atomically(memo_path, memo)
    return total.hexdigest()


def cached_export(cache_root: Path, key: str) -> ExportedModel | None:
    """The finished export stored under ``key``, if there is one."""
    directory = cache_root / key
    manifest = _read_json(directory / MANIFEST)
    return ExportedModel(directory, manifest) if manifest is not None else None


def build_once(
    cache_root: Path, key: str, source: str, build: Callable[[Path], dict[str, Any]]
) -> ExportedModel:
    """The export under ``key``, built by ``build(folder) -> manifest`` if missing.

    One process builds while others wait on the lock; the result appears by
    an atomic rename, complete or not at all. Earlier exports of the same
    ``source`` are removed once the new one is in place.
    """
    private_dir(cache_root)
    with _locked(cache_root / f".{key}.lock"):
        found = cached_export(cache_root, key)
        if found is not None:
            return found
        # Holding the lock, any leftover work folder for this key is from a crash.
        for stale in cache_root.glob(f".{key}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=cache_root))
        try:
            manifest = {**build(work), "source": source, "key": key}
            _write_json_atomically(work / MANIFEST, manifest)
            try:
                work.rename(cache_root / key)
            except OSError:
                # Another process without a working lock finished first: use its export.
                found = cached_export(cache_root, key)
                if found is None:
                    raise
                return found
        finally:
            shutil.rmtree(work, ignore_errors=True)
    _remove_older_exports(cache_root, key, source)
    return ExportedModel(cache_root / key, manifest)


def _remove_older_exports(cache_root: Path, key: str, source: str) -> None:
    for directory in cache_root.iterdir():
        if directory.name == key or not directory.is_dir():
            continue
        manifest = _read_json(directory / MANIFEST)
        if manifest is not None and manifest.get("source") == source:
            log.info("removing the superseded ONNX export %s", directory)
            shutil.rmtree(directory, ignore_errors=True)
            (cache_root / f".{directory.name}.lock").unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (a no-op where flock is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone keeps the cache whole.
        yield
        return
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process to finish exporting the ONNX model")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _write_json_atomically(path: Path, data: Any) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
