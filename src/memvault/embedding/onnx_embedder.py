"""The default model run by onnxruntime on the CPU: same vectors, several times faster.

The model is exported once per machine (``onnx_export.py``) into a cache keyed
by the checksum of its files (``onnx_cache.py``), then run with the model's own
tokenizer, in length-sorted batches. Runtimes:

- ``onnx-int8``: int8 weights; fastest.
- ``onnx``: float32; identical to torch within float error.
- ``auto``: int8 if it passed the quality gate at export, else float32.

If the model cannot be exported here (no torch or onnx package, an unusable
cache directory, or the export fails), the embedder says so once, with what to
do, and runs the torch model instead; if torch cannot run either, loading fails
with one error saying what is missing. Nothing is loaded before the first
``embed`` or ``load``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput, MemvaultError
from ..onnx_sessions import cpu_session
from .onnx_cache import build_once, cached_export, source_checksum
from .onnx_export import FILES, RECIPE, ExportFailed, export_model
from .sentence import SentenceTransformerEmbedder, default_model_dir

log = logging.getLogger(__name__)

RUNTIMES = ("auto", *FILES)
_warned: set[str] = set()  # models whose fallback to torch was already announced


class OnnxEmbedder:
    """Loads lazily, once, thread-safely; exports the model first if it is not cached."""

    def __init__(
        self, model_dir: str | Path | None, cache_dir: Path, runtime: str = "auto"
    ) -> None:
        if runtime not in RUNTIMES:
            raise InvalidInput(
                f"embedding runtime must be one of {', '.join(RUNTIMES)} or torch, got {runtime!r}",
                field="embedding_runtime",
            )
        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        self.torch = SentenceTransformerEmbedder(self.model_dir)  # checks the directory
        self.cache_dir = Path(cache_dir)
        self.requested = runtime
        self._running: str | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    # The model (name, dimension, window) is the torch model's, however it runs.
    spec = property(lambda self: self.torch.spec)
    max_tokens = property(lambda self: self.torch.max_tokens)
    loaded = property(lambda self: self._running is not None)

    @property
    def runtime(self) -> str:
        """The runtime in use, or before loading the one that would run, if known cheaply."""
        if self._running is not None:
            return self._running
        if self.requested != "auto":
            return self.requested
        key = self._cache_key(compute=False)
        found = cached_export(self.cache_dir, key) if key else None
        return self._choose(found.passes_gate("onnx-int8")) if found else "auto"

    def load(self) -> None:
        if self._running is not None:
            return
        with self._lock:
            if self._running is None:
                self._load()

    def _load(self) -> None:
        try:
            key = self._cache_key(compute=True)
            assert key is not None, "a computed checksum is never empty"
            exported = build_once(
                self.cache_dir, key, str(self.model_dir.resolve()), lambda work: self._export(work)
            )
            runtime = self._choose(exported.passes_gate("onnx-int8"))
            if runtime == "onnx-int8" and not exported.passes_gate(runtime):
                log.warning(
                    "the int8 model of %s fails the quality gate (%s); running it "
                    "because MEMVAULT_EMBEDDING_RUNTIME=onnx-int8",
                    self.spec.model,
                    exported.manifest["gate"][runtime],
                )
            from .tokens import load_tokenizer

            self._tokenizer = load_tokenizer(self.model_dir, self.max_tokens)
            self._session = cpu_session(exported.path(runtime), spin_within_runs=True)
        except (ExportFailed, ImportError, OSError) as exc:
            self._fall_back_to_torch(*self._why_not_onnx(exc))
            runtime = "torch"
        self._running = runtime

    def _why_not_onnx(self, exc: Exception) -> tuple[str, str]:
        """What stopped the ONNX runtime, and what the user can do about it."""
        if isinstance(exc, OSError):
            return (
                f"the model cache {self.cache_dir} is not usable: {exc.strerror or exc}",
                "set MEMVAULT_MODEL_CACHE_DIR to a writable directory",
            )
        not_installed = exc if isinstance(exc, ImportError) else exc.__cause__
        if isinstance(not_installed, ImportError) and not_installed.name:
            missing = not_installed.name
            return (
                str(exc) if isinstance(exc, ExportFailed) else f"{missing} is not installed",
                f"install {missing} (pip install {missing}) and memvault exports the model "
                f"once into {self.cache_dir}",
            )
        return str(exc), "set MEMVAULT_EMBEDDING_RUNTIME=torch to stop trying"

    def _fall_back_to_torch(self, reason: str, remedy: str) -> None:
        try:
            self.torch.load()
        except (ImportError, OSError) as exc:
            why = f"{exc.name} is not installed" if isinstance(exc, ImportError) else str(exc)
            raise MemvaultError(
                f"cannot embed with {self.spec.model}: onnxruntime has no model to run "
                f"({reason}) and the torch runtime cannot load ({why}). To fix: {remedy}, "
                f"or install torch and sentence-transformers for the torch runtime",
                field="embedding_runtime",
            ) from exc
        if str(self.model_dir) not in _warned:
            _warned.add(str(self.model_dir))
            log.warning(
                "memvault: cannot run %s with onnxruntime (%s); using the slower "
                "torch runtime instead. To fix: %s.",
                self.spec.model,
                reason,
                remedy,
            )

    def _export(self, work: Path) -> dict[str, Any]:
        log.warning(
            "memvault: exporting %s to ONNX for this machine, once (about a minute); cached in %s",
            self.spec.model,
            self.cache_dir,
        )
        try:
            return export_model(self.model_dir, self.max_tokens, work)
        except ExportFailed:
            raise
        except Exception as exc:  # torch/onnx raise many kinds; any means "cannot export"
            raise ExportFailed(f"{type(exc).__name__}: {exc}") from exc

    def _choose(self, int8_passes: bool) -> str:
        if self.requested == "auto":
            return "onnx-int8" if int8_passes else "onnx"
        return self.requested

    def _cache_key(self, *, compute: bool) -> str | None:
        """The export's cache key; None only when not computing and no checksum is kept."""
        checksum = source_checksum(self.model_dir, self.cache_dir, RECIPE, compute=compute)
        return f"{self.spec.model}-{checksum[:16]}" if checksum else None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        if self._running == "torch":
            return self.torch.embed(texts)
        if not texts:
            return np.zeros((0, self.spec.dimension), dtype=np.float32)
        from .tokens import embed_in_batches

        return embed_in_batches(
            self._tokenizer,
            texts,
            self.spec.dimension,
            lambda inputs: self._session.run(None, inputs)[0],
        )
