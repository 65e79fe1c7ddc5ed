"""The ONNX runtime: same vectors as sentence-transformers (the quality gate), same
order, same truncation, a cache that is reused, re-keyed and crash-safe, and a
fallback to torch when the export cannot run.

Every model here is real: the export runs torch, onnxruntime and the quantizer
on the packaged all-MiniLM-L6-v2 weights.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from memvault.config import Settings
from memvault.embedding import OnnxEmbedder, SentenceTransformerEmbedder, open_embedder
from memvault.embedding.quality import (
    MIN_COSINE,
    MIN_MEAN_COSINE,
    MIN_NEIGHBOUR_OVERLAP,
    compare,
    gate_texts,
    gate_vectors,
)
from memvault.embedding.tokens import load_tokenizer
from memvault.errors import InvalidInput
from memvault.vault import Vault

from .conftest import MODEL_CACHE, cli_env

LONG_TEXT = " ".join(f"word{i} is followed by another sentence about memory." for i in range(120))


@pytest.fixture(scope="session")
def onnx_models() -> dict[str, OnnxEmbedder]:
    """One loaded embedder per ONNX runtime, all from the shared export cache."""
    models = {
        runtime: OnnxEmbedder(None, MODEL_CACHE, runtime)
        for runtime in ("auto", "onnx", "onnx-int8")
    }
    for model in models.values():
        model.load()
    return models


@pytest.fixture(scope="session")
def reference(embedder: SentenceTransformerEmbedder) -> tuple[np.ndarray, int]:
    return gate_vectors(embedder.embed)


def test_default_runtime_is_int8_and_passes_the_quality_gate(onnx_models, reference):
    default = open_embedder(Settings.from_env({"MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE)}))
    default.load()
    assert default.runtime == onnx_models["auto"].runtime == "onnx-int8"
    expected, n_corpus = reference
    result = compare(expected, gate_vectors(default.embed)[0], n_corpus)
    assert result.mean_cosine >= MIN_MEAN_COSINE, result
    assert result.min_cosine >= MIN_COSINE, result
    assert result.neighbour_overlap >= MIN_NEIGHBOUR_OVERLAP, result
    corpus, queries = gate_texts()
    assert len(corpus) >= 250 and len(queries) == 100


def test_fp32_runtime_matches_sentence_transformers(onnx_models, reference):
    expected, n_corpus = reference
    result = compare(expected, gate_vectors(onnx_models["onnx"].embed)[0], n_corpus)
    assert result.mean_cosine > 0.9999 and result.min_cosine > 0.999, result
    assert result.neighbour_overlap >= 0.98, result


def test_every_runtime_reports_the_same_model(onnx_models, embedder):
    for model in onnx_models.values():
        assert model.spec == embedder.spec
        assert model.max_tokens == embedder.max_tokens == 256
    assert {m.runtime for m in onnx_models.values()} == {"onnx", "onnx-int8"}


def test_vectors_come_back_in_input_order(onnx_models, embedder):
    corpus, _ = gate_texts()
    texts = random.Random(7).sample(corpus, 100)  # lengths from 1 to 256 tokens, shuffled
    expected = embedder.embed(texts)
    for model in onnx_models.values():
        vectors = model.embed(texts)
        assert vectors.shape == (100, 384) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        # Each row is nearest to the reference vector of the same text.
        assert list(np.argmax(vectors @ expected.T, axis=1)) == list(range(100))
    one_by_one = np.vstack([onnx_models["onnx"].embed([t]) for t in texts])
    np.testing.assert_allclose(onnx_models["onnx"].embed(texts), one_by_one, atol=1e-5)


def test_empty_input_and_empty_text(onnx_models, embedder):
    for model in onnx_models.values():
        assert model.embed([]).shape == (0, 384)
        vector = model.embed([""])[0]
        assert float(vector @ embedder.embed([""])[0]) > 0.97


def test_long_texts_are_truncated_like_sentence_transformers(onnx_models, embedder):
    tokens = load_tokenizer(embedder.model_dir, embedder.max_tokens).encode(LONG_TEXT)
    assert len(tokens.ids) == 256  # truncated, not the shipped tokenizer's 128
    beyond_window = LONG_TEXT + " and a tail that lies past the model's window."
    within_window = "A different start. " + LONG_TEXT
    fp32 = onnx_models["onnx"]
    assert float(fp32.embed([LONG_TEXT])[0] @ embedder.embed([LONG_TEXT])[0]) > 0.9999
    for model in onnx_models.values():
        same, changed = model.embed([LONG_TEXT, beyond_window]), model.embed([within_window])
        np.testing.assert_allclose(same[0], same[1], atol=1e-6)
        assert not np.allclose(same[0], changed[0])


def test_unknown_runtime_is_refused_naming_the_setting(tmp_path):
    settings = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(tmp_path), "MEMVAULT_EMBEDDING_RUNTIME": "onnx-fp8"}
    )
    with pytest.raises(InvalidInput) as err:
        open_embedder(settings)
    assert err.value.field == "embedding_runtime"
    torch = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(tmp_path), "MEMVAULT_EMBEDDING_RUNTIME": "torch"}
    )
    assert open_embedder(torch).runtime == "torch"


def test_health_and_stats_name_the_runtime_without_loading_it(onnx_models, tmp_path):
    settings = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(tmp_path), "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE)}
    )
    with Vault.open(settings=settings) as vault:
        health = vault.health()
        assert health["runtime"] == "onnx-int8" and health["model_loaded"] is False
        assert vault.stats()["runtime"] == "onnx-int8"
        assert not vault.embedder.loaded
    empty_cache = Settings.from_env({"MEMVAULT_DATA_DIR": str(tmp_path / "other")})
    assert open_embedder(empty_cache).runtime == "auto"  # not exported yet: nothing to say


# -- the cache, in other processes ---------------------------------------------------

EMBED_SCRIPT = """
import json, logging, sys
from pathlib import Path
for name in {blocked!r}:
    sys.modules[name] = None  # as if the package were not installed
from memvault.embedding import OnnxEmbedder
model = OnnxEmbedder({model_dir!r}, Path({cache!r}), "auto")
model.load()
model.embed(["warm-up"])
print(json.dumps({{"runtime": model.runtime,
                  "vector": model.embed([{text!r}])[0].tolist()}}))
"""


def embed_in_subprocess(
    tmp_path: Path,
    cache: Path,
    model_dir: Path | None = None,
    blocked: tuple[str, ...] = (),
    text: str = "hello there",
) -> subprocess.Popen[str]:
    script = EMBED_SCRIPT.format(
        blocked=blocked,
        cache=str(cache),
        text=text,
        model_dir=str(model_dir) if model_dir else None,
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env=cli_env(tmp_path),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[str]) -> tuple[dict, str]:
    out, err = process.communicate(timeout=1800)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


def test_a_cached_export_runs_without_torch(onnx_models, tmp_path):
    result, err = finish(
        embed_in_subprocess(
            tmp_path, MODEL_CACHE, blocked=("torch", "sentence_transformers", "transformers")
        )
    )
    assert result["runtime"] == "onnx-int8"
    assert "exporting" not in err
    expected = onnx_models["auto"].embed(["hello there"])[0]
    np.testing.assert_allclose(result["vector"], expected, atol=1e-6)


def test_falls_back_to_torch_and_says_so_once_when_the_export_cannot_run(embedder, tmp_path):
    result, err = finish(embed_in_subprocess(tmp_path, tmp_path / "cache", blocked=("onnx",)))
    assert result["runtime"] == "torch"
    assert err.count("using the slower torch runtime instead") == 1, err
    assert "without onnx" in err
    np.testing.assert_allclose(result["vector"], embedder.embed(["hello there"])[0], atol=1e-5)
    assert not list((tmp_path / "cache").glob("*-*/manifest.json"))


def test_an_unusable_cache_directory_falls_back_to_torch_naming_the_setting(embedder, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    cache = tmp_path / "a-file" / "models"  # every write into it fails, even as root
    result, err = finish(embed_in_subprocess(tmp_path, cache))
    assert result["runtime"] == "torch"
    assert err.count("using the slower torch runtime instead") == 1, err
    assert f"the model cache {cache} is not usable" in err
    assert "set MEMVAULT_MODEL_CACHE_DIR to a writable directory" in err
    assert "Traceback" not in err
    np.testing.assert_allclose(result["vector"], embedder.embed(["hello there"])[0], atol=1e-5)


NO_TORCH_CLI = """
import sys
for name in ("torch", "sentence_transformers", "transformers"):
    sys.modules[name] = None  # as if torch were not installed
from memvault.__main__ import main
sys.argv = ["memvault", "store", "hello there"]
main()
"""


def test_without_torch_or_a_cached_export_the_cli_says_what_is_missing(tmp_path):
    cache = tmp_path / "empty-cache"
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH_CLI],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, MEMVAULT_MODEL_CACHE_DIR=str(cache)),
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("Error:") == 1, done.stderr
    message = " ".join(done.stderr.split())
    assert "cannot embed with all-MiniLM-L6-v2" in message
    assert "cannot export to ONNX without torch" in message
    assert "install torch (pip install torch)" in message
    assert "field: embedding_runtime" in message
    assert not list(cache.glob("*-*/manifest.json"))


def copy_of_default_model(target: Path) -> Path:
    """The packaged model under another path: config.json copied, the rest linked."""
    source = SentenceTransformerEmbedder().model_dir
    target.mkdir()
    for item in source.iterdir():
        if item.name == "config.json":
            (target / item.name).write_text(item.read_text())
        else:
            (target / item.name).symlink_to(item)
    return target


def test_export_survives_a_crash_runs_once_for_two_processes_and_follows_changes(tmp_path):
    model_dir = copy_of_default_model(tmp_path / "minilm-copy")
    cache = tmp_path / "cache"
    # A process killed in the middle of its export leaves no export behind.
    crashed = embed_in_subprocess(tmp_path, cache, model_dir)
    deadline = time.monotonic() + 900
    while not list(cache.glob(".minilm-copy-*.tmp-*/*.onnx")) and time.monotonic() < deadline:
        assert crashed.poll() is None, crashed.communicate()
        time.sleep(0.2)
    crashed.kill()
    crashed.communicate()
    assert list(cache.glob(".minilm-copy-*.tmp-*")) and not list(cache.glob("minilm-copy-*"))

    # Two processes starting together: one exports, the other waits and reuses it.
    first, second = (embed_in_subprocess(tmp_path, cache, model_dir) for _ in range(2))
    (one, err_one), (two, err_two) = finish(first), finish(second)
    assert (err_one + err_two).count("exporting minilm-copy to ONNX") == 1
    assert one["runtime"] == two["runtime"] == "onnx-int8"
    np.testing.assert_allclose(one["vector"], two["vector"], atol=1e-6)
    exports = list(cache.glob("minilm-copy-*"))
    assert len(exports) == 1 and not list(cache.glob(".minilm-copy-*.tmp-*"))

    # A changed model gets a new export; the superseded one is removed.
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "note": "re-exported"}))
    changed = OnnxEmbedder(model_dir, cache)
    changed.load()
    now = list(cache.glob("minilm-copy-*"))
    assert len(now) == 1 and now != exports
    np.testing.assert_allclose(changed.embed(["hello there"])[0], one["vector"], atol=1e-6)
    manifest = json.loads((now[0] / "manifest.json").read_text())
    assert manifest["source"] == str(model_dir.resolve()) and manifest["gate"]["onnx"]["passed"]
