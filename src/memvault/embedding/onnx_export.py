"""Export a sentence-transformers model to ONNX, fused and quantized, checked by the gate.

The recipe (measured on this project's 2-core AVX2 machine, docs/benchmarks.md):

1. torch's TorchScript exporter (``dynamo=False``) on a wrapper that includes
   mean pooling and L2 normalization, so the graph returns finished vectors;
2. onnxruntime's BERT optimizer, which fuses embeddings, attention, GELU and
   layer norms;
3. ``quant_pre_process`` (shape inference; quantizing without it fails), then
   ``quantize_dynamic`` with per-channel weights (per-tensor weights and
   ``reduce_range`` lose too much). ``QUANT_RECIPES`` are tried fastest
   first, and the first whose vectors pass the quality gate on this machine is
   kept: how much int8 costs depends on the CPU's integer kernels.

The float32 and the int8 model are both measured against the torch model on
the gate texts (``quality.py``) and the results go into the manifest: ``auto``
runs int8 only if it passed.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..onnx_sessions import cpu_session
from .quality import GateResult, compare, gate_vectors
from .tokens import embed_in_batches, load_tokenizer

log = logging.getLogger(__name__)

RECIPE = (
    "memvault-onnx/1: torchscript opset 17, mean+l2 in graph, bert fusion, "
    "dynamic per-channel int8 ladder"
)
OPSET = 17
FILES = {"onnx": "model-fp32.onnx", "onnx-int8": "model-int8.onnx"}


@dataclass(frozen=True)
class QuantRecipe:
    name: str
    weight_type: str  # onnxruntime.quantization.QuantType member
    fp32_layers: tuple[str, ...] = ()  # encoder parts left in float32

    def excluded_nodes(self) -> list[str]:
        return [f"/bert/encoder/{part}/dense/MatMul" for part in self.fp32_layers]


QUANT_RECIPES = (
    QuantRecipe("int8 weights, every matrix product", "QInt8"),
    # On AVX2 without VNNI, signed weights lose precision (16-bit saturation in
    # the u8s8 kernel) and the gate fails on short texts. Unsigned weights, and
    # float32 for the six products whose quantization alone costs the most
    # (measured one by one), pass: mean 0.997, min 0.979, overlap 0.94.
    QuantRecipe(
        "uint8 weights, the six most sensitive products in float32",
        "QUInt8",
        (
            "layer.0/output",
            "layer.2/output",
            "layer.4/intermediate",
            "layer.1/output",
            "layer.3/intermediate",
            "layer.0/attention/output",
        ),
    ),
)


class ExportFailed(RuntimeError):
    """The model could not be exported here (missing torch or onnx, or an export error)."""


def export_model(model_dir: Path, max_tokens: int, work: Path) -> dict[str, Any]:
    """Write ``FILES`` into ``work`` and return the manifest (versions, gate results)."""
    try:
        import onnx  # noqa: F401  (the optimizer and quantizer need it)
        import torch
        import transformers
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process
        from onnxruntime.transformers import optimizer
    except ImportError as exc:
        raise ExportFailed(f"cannot export to ONNX without {exc.name}") from exc
    _check_pooling(model_dir)
    pooled, config = _load_pooled_model(model_dir, torch, transformers)
    raw, fp32, prepared, int8 = (
        work / "raw.onnx",
        work / FILES["onnx"],
        work / "prepared.onnx",
        work / FILES["onnx-int8"],
    )
    log.info("exporting the torch graph")
    _export_graph(pooled, raw, torch)
    log.info("fusing the BERT graph")
    fused = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    fused.save_model_to_file(str(fp32))
    raw.unlink()
    gate = _Gate(pooled, load_tokenizer(model_dir, max_tokens), config.hidden_size, torch)
    results = {"onnx": gate.check(fp32)}
    if not results["onnx"].passed:
        raise ExportFailed(f"the exported float32 model does not match torch: {results['onnx']}")
    quant_pre_process(str(fp32), str(prepared))
    for recipe in QUANT_RECIPES:
        log.info("quantizing: %s", recipe.name)
        quantize_dynamic(
            str(prepared),
            str(int8),
            per_channel=True,
            weight_type=getattr(QuantType, recipe.weight_type),
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=recipe.excluded_nodes(),
        )
        results["onnx-int8"] = gate.check(int8)
        if results["onnx-int8"].passed:
            break
    prepared.unlink()
    fusions = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    return {
        "recipe": RECIPE,
        "files": FILES,
        "fused_operators": fusions,
        "quantization": recipe.name,
        "gate": {name: result.to_dict() for name, result in results.items()},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": _version("onnxruntime"),
        },
    }


def _check_pooling(model_dir: Path) -> None:
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens"):
        raise ExportFailed("only mean-pooling models are exported to ONNX")


def _load_pooled_model(model_dir: Path, torch: Any, transformers: Any) -> tuple[Any, Any]:
    """The transformer with mean pooling and L2 normalization on top, as one module."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers.utils.logging.disable_progress_bar()
    bert = (
        transformers.AutoModel.from_pretrained(
            str(model_dir), local_files_only=True, attn_implementation="eager"
        )
        .float()
        .eval()
    )

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            tokens = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return MeanPooled().eval(), bert.config


def _export_graph(pooled: Any, path: Path, torch: Any) -> None:
    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones((2, 16), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches
        torch.onnx.export(
            pooled,
            (sample, sample, torch.zeros_like(sample)),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
        )


class _Gate:
    """Checks ONNX models against the torch module on the gate texts, with identical tokens."""

    def __init__(self, pooled: Any, tokenizer: Any, dimension: int, torch: Any) -> None:
        self.tokenizer, self.dimension = tokenizer, dimension

        def run_torch(inputs: dict[str, np.ndarray]) -> np.ndarray:
            with torch.no_grad():
                return pooled(**{k: torch.from_numpy(v) for k, v in inputs.items()}).numpy()

        self.reference, self.n_corpus = gate_vectors(self._embedder(run_torch))

    def _embedder(self, run: Any) -> Any:
        return lambda texts: embed_in_batches(self.tokenizer, texts, self.dimension, run)

    def check(self, path: Path) -> GateResult:
        session = cpu_session(path, spin_within_runs=True)
        vectors, _ = gate_vectors(self._embedder(lambda inputs: session.run(None, inputs)[0]))
        result = compare(self.reference, vectors, self.n_corpus)
        log.info("quality gate of %s: %s", path.name, result)
        return result


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
