"""Export a sentence-transformers model to ONNX, fused and quantized, checked by the gate.

The recipe (measured on this project's 2-core machine, see issue 8):

1. torch's TorchScript exporter (``dynamo=False``) on a wrapper that includes
   mean pooling and L2 normalization, so the graph returns finished vectors;
2. onnxruntime's BERT optimizer, which fuses embeddings, attention, GELU and
   layer norms;
3. ``quant_pre_process`` (shape inference; quantizing without it fails), then
   ``quantize_dynamic`` with per-channel int8 weights for the matrix products.
   Per-tensor weights or ``reduce_range`` lose too much; the layers listed in
   ``FP32_NODES`` stay in float32 because quantizing them costs the most
   quality for the least speed.

Both the float32 and the int8 model are measured against the torch model on the
gate texts (``quality.py``), and the results are written to the manifest:
``auto`` runs int8 only if it passed.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .quality import GateResult, compare, gate_vectors
from .tokens import embed_in_batches, load_tokenizer

log = logging.getLogger(__name__)

RECIPE = "memvault-onnx/1: torchscript opset 17, mean+l2 in graph, bert fusion, " \
         "dynamic int8 per-channel matmul+attention"
OPSET = 17
FILES = {"onnx": "model-fp32.onnx", "onnx-int8": "model-int8.onnx"}
# Nodes kept in float32 in the int8 model, by name in the fused graph.
FP32_NODES: tuple[str, ...] = ()


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
    raw, fp32, prepared, int8 = (work / "raw.onnx", work / FILES["onnx"],
                                 work / "prepared.onnx", work / FILES["onnx-int8"])
    log.info("exporting the torch graph")
    _export_graph(pooled, raw, torch)
    log.info("fusing the BERT graph")
    fused = optimizer.optimize_model(str(raw), model_type="bert",
                                     num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size)
    fused.save_model_to_file(str(fp32))
    raw.unlink()
    log.info("quantizing to int8")
    quant_pre_process(str(fp32), str(prepared))
    quantize_dynamic(str(prepared), str(int8), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Attention"],
                     nodes_to_exclude=list(FP32_NODES))
    prepared.unlink()
    log.info("checking both models against torch on the gate texts")
    gate = _gate(pooled, model_dir, max_tokens, config.hidden_size, [fp32, int8], torch)
    if not gate[0].passed:
        raise ExportFailed(f"the exported float32 model does not match torch: {gate[0]}")
    fusions = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    return {"recipe": RECIPE, "files": FILES, "fused_operators": fusions,
            "fp32_nodes": list(FP32_NODES),
            "gate": {name: result.to_dict() for name, result in zip(FILES, gate, strict=True)},
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "onnxruntime": _version("onnxruntime")}}


def _check_pooling(model_dir: Path) -> None:
    import json

    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens"):
        raise ExportFailed("only mean-pooling models are exported to ONNX")


def _load_pooled_model(model_dir: Path, torch: Any, transformers: Any) -> tuple[Any, Any]:
    """The transformer with mean pooling and L2 normalization on top, as one module."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers.utils.logging.disable_progress_bar()
    bert = transformers.AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager").float().eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
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
        torch.onnx.export(pooled, (sample, sample, torch.zeros_like(sample)), str(path),
                          dynamo=False, opset_version=OPSET, do_constant_folding=True,
                          input_names=names, output_names=["sentence_embedding"],
                          dynamic_axes={**axes, "sentence_embedding": {0: "batch"}})


def _gate(pooled: Any, model_dir: Path, max_tokens: int, dimension: int,
          models: Sequence[Path], torch: Any) -> list[GateResult]:
    """Gate results of each ONNX model against the torch module, on identical tokens."""
    from .onnx_embedder import create_session

    tokenizer = load_tokenizer(model_dir, max_tokens)

    def run_torch(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return pooled(**{k: torch.from_numpy(v) for k, v in inputs.items()}).numpy()

    reference, n_corpus = gate_vectors(
        lambda texts: embed_in_batches(tokenizer, texts, dimension, run_torch))
    results = []
    for path in models:
        session = create_session(path)
        vectors, _ = gate_vectors(lambda texts, s=session: embed_in_batches(
            tokenizer, texts, dimension, lambda inputs: s.run(None, inputs)[0]))
        results.append(compare(reference, vectors, n_corpus))
        log.info("%s: %s", path.name, results[-1])
    return results


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def fp32_node_names(layers: Sequence[int], part: str) -> list[str]:
    """Names of one part ("output", "intermediate", "attention/output") in the given layers."""
    if not re.fullmatch(r"[a-z/]+", part):
        raise ValueError(part)
    return [f"/bert/encoder/layer.{i}/{part}/dense/MatMul" for i in layers]
