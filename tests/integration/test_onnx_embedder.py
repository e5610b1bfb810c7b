"""The ONNX Runtime backend on the packaged model: same vectors as PyTorch, no torch at run time.

Real model, real exports (made once per session into temporary directories), real ONNX Runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from semcached.embeddings import (
    Embedder,
    OnnxEmbedder,
    OnnxEncoder,
    Pooling,
    SentenceTransformerEmbedder,
    default_model_path,
    default_onnx_dir,
    export_onnx,
)
from semcached.embeddings import onnx_embedder as onnx_embedder_module
from semcached.embeddings import onnx_export as onnx_export_module
from semcached.embeddings.atomic_dir import publish_dir
from semcached.embeddings.onnx_export import MANIFEST_FILE, ONNX_CACHE_ENV
from semcached.embeddings.onnx_runtime import default_threads, length_batches
from semcached.errors import ConfigurationError, ModelLoadError

# Varied on purpose: empty and whitespace-only, punctuation, digits and units, code, non-ASCII
# scripts and emoji, accents, zero-width and control characters, and texts far past the model's
# 256-token window (truncated the same way by both backends).
TEXTS: list[str] = [
    "What is the capital of France?",
    "Which city is France's capital?",
    "How do I reset my password?",
    "",
    " ",
    "\n\t  \n",
    "?",
    "!!! ??? ...",
    "a",
    "OK",
    "Buy 3 apples for $5.99, or 10 for $15 (save 20%)!",
    "The meeting is on 2024-03-15 at 14:30 UTC+1.",
    "def f(x):\n    return x ** 2  # square",
    "SELECT name FROM users WHERE id IN (1, 2, 3);",
    "Héllo, ça va? Crème brûlée à la française.",
    "Straße, Größe, Übung: deutsche Wörter mit Umlauten.",
    "Привет, как дела? Это тест на русском языке.",
    "東京は日本の首都です。大阪はどこですか？",  # noqa: RUF001 (full-width on purpose)
    "서울은 한국의 수도입니다.",
    "مرحبا، كيف حالك؟",
    "नमस्ते, आप कैसे हैं?",
    "Emoji: 🙂🚀🔥 and a flag 🇫🇷",
    "zero\u200bwidth\u200bspaces and a\u00a0non-breaking space",
    "control\x00chars\x07in\x1btext",
    "ﬁ ligatures and ǅ digraphs",
    "UPPER CASE SHOUTING ABOUT CACHES",
    "learn Java", "learn Python",
    "Why is the sky blue?", "When is the sky blue?",
    "http://example.com/path?query=1&other=two#fragment",
    "user@example.com wrote: see ticket #12345",
    " ".join(["word"] * 300),
    "Long text. " * 200,
    " ".join(f"token{i}" for i in range(600)),
    "supercalifragilisticexpialidocious " * 40,
    "東京" * 400,
]  # fmt: skip


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def first_use(onnx_cache: Path) -> OnnxEmbedder:
    """An OnnxEmbedder built on an empty cache: it exports the packaged model (fp32) there."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ONNX_CACHE_ENV, str(onnx_cache))
        return OnnxEmbedder()


@pytest.fixture(scope="session")
def fp32(first_use: OnnxEmbedder) -> OnnxEmbedder:
    """The fp32 embedder, loaded from that export without exporting again."""
    return OnnxEmbedder(first_use.path)


@dataclass
class RacedExport:
    out: Path
    returncodes: list[int]
    stderr: list[str]


@pytest.fixture(scope="session")
def raced_int8(tmp_path_factory: pytest.TempPathFactory) -> RacedExport:
    """Two processes export int8 into the same directory at the same time."""
    out = tmp_path_factory.mktemp("raced") / "minilm-int8"
    command = [sys.executable, "-m", "semcached.embeddings.onnx_export"]
    command += ["--out", str(out), "--quantize", "int8"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [process.communicate(timeout=300) for process in processes]
    return RacedExport(
        out, [process.returncode for process in processes], [err for _, err in results]
    )


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.mark.model
def test_first_use_exports_into_the_cache(first_use: OnnxEmbedder, onnx_cache: Path) -> None:
    """No export yet: the first construction makes one under $SEMCACHED_ONNX_CACHE."""
    assert first_use.exported
    assert first_use.path.parent == onnx_cache
    assert first_use.path.name.endswith("-fp32")
    manifest = json.loads((first_use.path / MANIFEST_FILE).read_text())
    assert manifest["quantize"] is None
    assert manifest["agreement"]["max_abs_difference"] < 1e-4
    assert not [p.name for p in onnx_cache.iterdir() if p.name.startswith(".")]


@pytest.mark.model
def test_second_construction_reuses_the_export(
    first_use: OnnxEmbedder, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cached export is loaded as it is: export_onnx is never called again."""

    def no_export(*args: object, **kwargs: object) -> Path:
        raise AssertionError("exported again although the cache holds an export")

    monkeypatch.setattr(onnx_embedder_module, "export_onnx", no_export)
    monkeypatch.setenv(ONNX_CACHE_ENV, str(onnx_cache))
    again = OnnxEmbedder()
    assert not again.exported
    assert again.path == first_use.path == default_onnx_dir(default_model_path())


@pytest.mark.model
def test_fp32_vectors_equal_pytorch(
    fp32: OnnxEmbedder, st_embedder: SentenceTransformerEmbedder
) -> None:
    ours, theirs = fp32.embed(TEXTS), st_embedder.embed(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = _cosines(ours, theirs)
    worst = int(cosines.argmin())
    assert cosines.min() > 0.9999, f"{TEXTS[worst][:40]!r}: cosine {cosines[worst]}"
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.model
def test_fp32_shares_the_pytorch_model_id(
    fp32: OnnxEmbedder, st_embedder: SentenceTransformerEmbedder
) -> None:
    """Same vectors, same model_id: caches built with either backend stay valid."""
    assert fp32.model_id == st_embedder.model_id
    assert fp32.dim == st_embedder.dim == 384
    assert isinstance(fp32, Embedder)
    assert fp32.embed([]).shape == (0, 384)


@pytest.mark.model
def test_batched_equals_one_by_one(fp32: OnnxEmbedder) -> None:
    """Length-sorted batches with padding give each text the vector it gets alone."""
    batched = fp32.embed(TEXTS)
    single = np.vstack([fp32.embed([text]) for text in TEXTS])
    assert np.abs(batched - single).max() < 1e-5
    small = OnnxEmbedder(fp32.path, batch_size=3)  # many batches, order restored
    assert np.abs(small.embed(TEXTS) - batched).max() < 1e-5


@pytest.mark.model
def test_token_counts_match_pytorch(
    fp32: OnnxEmbedder, st_embedder: SentenceTransformerEmbedder
) -> None:
    """Knowledge chunking sizes chunks with these: they must not differ between backends."""
    assert fp32.max_tokens == st_embedder.max_tokens == 256
    for text in TEXTS:
        assert fp32.count_tokens(text) == st_embedder.count_tokens(text), text[:40]
    assert fp32.count_tokens(" ".join(["word"] * 1000)) == 1000  # counted, never truncated


@pytest.mark.model
def test_concurrent_threads_get_their_own_vectors(fp32: OnnxEmbedder) -> None:
    """One embedder, four threads at once, no lock: every thread gets exactly its rows."""
    expected = fp32.embed(TEXTS)
    results: dict[int, np.ndarray] = {}

    def work(n: int) -> None:
        order = TEXTS[n:] + TEXTS[:n]
        results[n] = np.roll(fp32.embed(order), n, axis=0)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got in results.values():
        assert np.abs(got - expected).max() < 1e-5


@pytest.mark.model
@pytest.mark.slow
def test_two_processes_exporting_at_once_leave_one_complete_export(
    raced_int8: RacedExport,
) -> None:
    assert raced_int8.returncodes == [0, 0], raced_int8.stderr
    assert (raced_int8.out / MANIFEST_FILE).is_file()
    leftovers = [p.name for p in raced_int8.out.parent.iterdir() if p != raced_int8.out]
    assert leftovers == []
    OnnxEmbedder(raced_int8.out).embed(["loads and embeds"])


@pytest.mark.model
@pytest.mark.slow
def test_int8_drifts_a_little_and_has_its_own_model_id(
    raced_int8: RacedExport, fp32: OnnxEmbedder
) -> None:
    int8 = OnnxEmbedder(raced_int8.out)
    assert int8.quantize == "int8"
    assert int8.model_id != fp32.model_id
    assert int8.model_id.startswith(fp32.model_id + "-onnx-int8-")
    cosines = _cosines(int8.embed(TEXTS), fp32.embed(TEXTS))
    assert cosines.min() > 0.9  # close (about 0.99) ...
    assert cosines.min() < 0.9999  # ... but not the same vectors, hence the other model_id
    assert int8.count_tokens("same tokenizer") == fp32.count_tokens("same tokenizer")


@pytest.mark.model
def test_a_failed_export_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export that dies half-way through writing the graph publishes no directory."""

    def crash(model: object, graph_file: Path, *args: object, **kwargs: object) -> None:
        graph_file.write_bytes(b"half a graph")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(onnx_export_module, "_trace", crash)
    out = tmp_path / "cache" / "minilm"
    with pytest.raises(RuntimeError, match="killed mid-write"):
        export_onnx(default_model_path(), out)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


@pytest.mark.model
def test_an_embedding_model_keeps_its_own_max_length(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="embedding model keeps its own"):
        export_onnx(default_model_path(), tmp_path / "out", max_length=128)
    assert not (tmp_path / "out").exists()


@pytest.mark.model
def test_export_never_replaces_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ModelLoadError, match="not a semcached ONNX export") as info:
        export_onnx(default_model_path(), tmp_path)
    assert info.value.path == str(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_missing_onnx_dir_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-export"
    with pytest.raises(ModelLoadError) as info:
        OnnxEmbedder(missing)
    assert info.value.path == str(missing)
    assert str(missing) in str(info.value)
    assert "model.onnx" in str(info.value)
    assert "python -m semcached.embeddings.onnx_export" in str(info.value)


@pytest.mark.model
def test_empty_cache_without_export_names_the_cache_dir_and_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ONNX_CACHE_ENV, str(tmp_path))
    with pytest.raises(ModelLoadError) as info:
        OnnxEmbedder(export=False)
    expected = default_onnx_dir(default_model_path())
    assert info.value.path == str(expected)
    assert str(expected) in str(info.value)
    assert "python -m semcached.embeddings.onnx_export" in str(info.value)
    assert not expected.exists()


@pytest.mark.model
def test_damaged_model_file_is_refused(fp32: OnnxEmbedder, tmp_path: Path) -> None:
    """A model.onnx that is not the exported one: named, with the fix, never loaded."""
    copy = tmp_path / "damaged"
    shutil.copytree(fp32.path, copy)
    data = (copy / "model.onnx").read_bytes()
    (copy / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="changed or damaged") as info:
        OnnxEmbedder(copy)
    assert info.value.path == str(copy)
    assert "onnx_export" in str(info.value)


@pytest.mark.model
def test_broken_graph_without_manifest_raises_model_load_error(
    fp32: OnnxEmbedder, tmp_path: Path
) -> None:
    copy = tmp_path / "broken"
    shutil.copytree(fp32.path, copy)
    (copy / MANIFEST_FILE).unlink()
    (copy / "model.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ModelLoadError, match="ONNX Runtime could not load") as info:
        OnnxEmbedder(copy)
    assert info.value.path == str(copy / "model.onnx")


@pytest.mark.model
def test_unverified_export_gets_a_model_id_of_its_own(fp32: OnnxEmbedder, tmp_path: Path) -> None:
    """Without semcached's manifest nothing says the vectors match PyTorch's."""
    copy = tmp_path / "foreign"
    shutil.copytree(fp32.path, copy)
    (copy / MANIFEST_FILE).unlink()
    foreign = OnnxEmbedder(copy)
    assert foreign.model_id != fp32.model_id
    assert foreign.model_id.startswith("foreign-onnx-")


def test_onnx_dir_and_cache_arguments_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        OnnxEmbedder(tmp_path, quantize="int8")


@pytest.mark.model
def test_embedding_imports_no_torch(fp32: OnnxEmbedder) -> None:
    """A fresh process loads a pre-exported dir and embeds with torch, transformers and
    sentence-transformers not imported, and not importable either (an import hook refuses)."""
    script = f"""
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "sentence_transformers"):
            raise ImportError("refused: " + name)
        return None

sys.meta_path.insert(0, Refuse())
from semcached.embeddings import OnnxEmbedder
embedder = OnnxEmbedder({str(fp32.path)!r})
vectors = embedder.embed(["What is the capital of France?", "a second text"])
assert vectors.shape == (2, 384), vectors.shape
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("torch", "transformers", "sentence_transformers"))
print("HEAVY", heavy)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


@pytest.mark.model
@pytest.mark.slow
def test_pairs_reproduce_a_cross_encoders_logits(tmp_path: Path) -> None:
    """encode_pairs feeds segment ids as transformers does: a sequence-classification model
    (MiniLM with a seeded random head) exported to ONNX gives PyTorch's logits."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    source = tmp_path / "cross-encoder"
    model = AutoModelForSequenceClassification.from_pretrained(
        str(default_model_path()), num_labels=2, local_files_only=True
    ).eval()
    model.save_pretrained(str(source))
    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)
    tokenizer.save_pretrained(str(source))
    out = export_onnx(source, tmp_path / "cross-encoder-onnx", max_length=96)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["kind"] == "sequence-classification"
    assert manifest["max_length"] == 96
    assert manifest["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    encoder = OnnxEncoder(
        out / "model.onnx", out / "tokenizer.json", max_length=manifest["max_length"]
    )
    pairs = [(a, b) for a, b in zip(TEXTS[::2], TEXTS[1::2], strict=False)]
    with torch.inference_mode():
        encoded = tokenizer(
            [a for a, _ in pairs], [b for _, b in pairs], truncation=True,
            max_length=manifest["max_length"], padding=True, return_tensors="pt",
        )  # fmt: skip
        expected = model(**encoded).logits.numpy()
    got = encoder.encode_pairs(pairs)
    assert got.shape == (len(pairs), 2)
    assert np.abs(got - expected).max() < 1e-4
    swapped = encoder.encode_pairs([(b, a) for a, b in pairs])
    assert np.abs(swapped - got).max() > 1e-3  # segment ids matter: order is not ignored
    with pytest.raises(ModelLoadError):
        OnnxEmbedder(out)  # a cross-encoder export is not an embedding model


@pytest.mark.parametrize(
    "modes",
    [
        ("mean",),
        ("cls",),
        ("max",),
        ("mean_sqrt_len_tokens",),
        ("weightedmean",),
        ("lasttoken",),
        ("cls", "mean", "max"),
    ],
)
def test_pooling_equals_sentence_transformers(modes: tuple[str, ...]) -> None:
    """Each pooling mode, on right-padded random states, as sentence-transformers computes it."""
    import torch
    from sentence_transformers.sentence_transformer.modules import Pooling as StPooling

    rng = np.random.default_rng(0)
    states = rng.standard_normal((4, 7, 8)).astype(np.float32)
    mask = np.zeros((4, 7), dtype=np.int64)
    for row, length in enumerate([7, 3, 1, 5]):
        mask[row, :length] = 1
    reference = StPooling(8, pooling_mode=modes if len(modes) > 1 else modes[0])
    features = {
        "token_embeddings": torch.from_numpy(states),
        "attention_mask": torch.from_numpy(mask),
    }
    expected = reference(features)["sentence_embedding"].numpy()
    got = Pooling(modes)(states, mask)  # type: ignore[arg-type]
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5


def test_pooling_reads_legacy_and_new_configs(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.json"
    legacy.write_text(
        json.dumps({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True, "x": 1})
    )
    assert Pooling.from_config(legacy).modes == ("cls", "mean")
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"pooling_mode": "lasttoken"}))
    assert Pooling.from_config(new).modes == ("lasttoken",)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"pooling_mode": "median"}))
    with pytest.raises(ModelLoadError, match="median") as info:
        Pooling.from_config(bad)
    assert info.value.path == str(bad)


def test_length_batches_pad_no_text_to_more_than_twice_its_length() -> None:
    """Seven long prompts and twenty-five short ones: the short ones never share a batch with
    the long ones; every index appears once; no batch is over its size."""
    lengths = [256] * 7 + [12, 15, 9, 30, 14] * 5
    batches = length_batches(lengths, 32)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 32
        width = max(lengths[i] for i in batch)
        assert all(2 * lengths[i] >= width for i in batch)
    assert batches[0] == list(range(7))
    assert [len(b) for b in length_batches([5] * 70, 32)] == [32, 32, 6]
    assert length_batches([], 32) == []


def test_racing_publishers_never_mix_two_exports(tmp_path: Path) -> None:
    """The last step of an export is one rename. Without overwrite (first use of the cache) the
    first complete export stays and a later one is dropped; with overwrite (the command) the
    later one replaces it whole. Either way the target is one export, never parts of two."""
    target = tmp_path / "export"
    stagings = []
    for name in ("first", "second"):
        staging = tmp_path / f".export.{name}.partial"
        staging.mkdir()
        (staging / MANIFEST_FILE).write_text(json.dumps({"format": 1, "who": name}))
        (staging / "model.onnx").write_text(name)
        stagings.append(staging)
    assert publish_dir(stagings[0], target, overwrite=False, marker=MANIFEST_FILE)
    assert not publish_dir(stagings[1], target, overwrite=False, marker=MANIFEST_FILE)
    assert (target / "model.onnx").read_text() == "first"
    assert publish_dir(stagings[1], target, overwrite=True, marker=MANIFEST_FILE)
    assert (target / "model.onnx").read_text() == "second"
    assert json.loads((target / MANIFEST_FILE).read_text())["who"] == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # nothing set aside is left


@pytest.mark.model
def test_thread_count_is_a_constructor_argument(fp32: OnnxEmbedder) -> None:
    assert fp32.threads == default_threads() == min(2, len(os.sched_getaffinity(0)))
    one = OnnxEmbedder(fp32.path, threads=1)
    assert one.threads == 1
    assert np.abs(one.embed(TEXTS[:5]) - fp32.embed(TEXTS[:5])).max() < 1e-5
    with pytest.raises(ConfigurationError, match="threads must be at least 1"):
        OnnxEmbedder(fp32.path, threads=0)


@pytest.mark.model
def test_unwritable_cache_names_the_path_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache location that cannot be written (here: under a plain file) is a ModelLoadError."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(ONNX_CACHE_ENV, str(blocker / "cache"))
    with pytest.raises(ModelLoadError, match=ONNX_CACHE_ENV) as info:
        OnnxEmbedder()
    assert info.value.path == str(default_onnx_dir(default_model_path()))
