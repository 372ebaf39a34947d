"""The default embedder: all-MiniLM-L6-v2 on ONNX Runtime, loading in the background, without PyTorch.

Uses the real model: the export ``make install`` writes into the virtual environment
and the sentence-transformers backend as the reference.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from intelbot.embedding import BackgroundEmbedder, Embedder, build_embedder, wait_until_ready
from intelbot.embedding.bundled import BUNDLED_NAME
from intelbot.embedding.onnx_files import (
    MANIFEST_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    find_or_export,
    installed_export_dir,
    read_export,
)
from intelbot.errors import ConfigurationError

REPOSITORY = Path(__file__).parents[1]
SENTENCES = [
    "What is the capital of France?",
    "what is the capital of france",
    "How do I reset my password?",
    "hi",
    "",
    "   leading and trailing spaces   ",
    "Tabs\tand\nnew lines\r\nin one text.",
    "Ünïcödé, accents: café, naïve, façade; Japanese 東京; emoji 😀🚀.",
    "Numbers 3.14159, 42, 1e-9 and symbols #@$%^&*()[]{}<>",
    "A much longer question that goes on and on, asking about the history of the Roman empire, "
    "its emperors, its roads, its aqueducts, and why it eventually declined and fell in the west.",
    "token " * 400,  # longer than the model's 256 tokens: truncated the same way
    "Why is the sky blue during the day but red at sunset?",
    "Best pizza recipe without an oven?",
    "Quel est le meilleur moyen d'apprendre le français ?",
    "Wie spät ist es in Berlin?",
    "ok",
    "Is it safe to eat raw cookie dough?",
    "SELECT * FROM users WHERE id = 1; -- not an injection, just text",
]


def onnx_embedder(**config: object) -> BackgroundEmbedder:
    embedder = build_embedder({"backend": "onnx", **config})
    assert isinstance(embedder, BackgroundEmbedder)
    assert embedder.wait_ready_blocking(), embedder.error
    return embedder


@pytest.fixture(scope="module")
def onnx() -> BackgroundEmbedder:
    return onnx_embedder(lru_size=0)


@pytest.fixture(scope="module")
def reference() -> Embedder:
    embedder = build_embedder({"backend": "sentence-transformers", "lru_size": 0})
    assert embedder is not None
    return embedder


async def test_onnx_vectors_match_sentence_transformers_on_every_sentence(
    onnx: BackgroundEmbedder, reference: Embedder
) -> None:
    assert onnx.name == reference.name == BUNDLED_NAME and onnx.dimensions == reference.dimensions == 384
    batched = await onnx.embed(SENTENCES)  # one padded batch
    one_by_one = np.vstack([await onnx.embed([text]) for text in SENTENCES])
    expected = await reference.embed(SENTENCES)
    assert batched.dtype == np.float32 and batched.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    for vectors in (batched, one_by_one):
        cosines = (vectors * expected).sum(axis=1)
        worst = int(np.argmin(cosines))
        assert cosines.min() >= 0.9999, f"cosine {cosines[worst]:.6f} for {SENTENCES[worst]!r}"


async def test_onnx_ranks_a_paraphrase_first(onnx: BackgroundEmbedder) -> None:
    vectors = await onnx.embed(
        ["How do I bake bread?", "What is the way to bake a loaf of bread?", "Who won the world cup in 2010?"]
    )
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.3


def test_default_settings_import_no_torch_during_a_cached_turn(tmp_path: Path) -> None:
    """A kernel on the repository's settings answers, loads the embedder, serves from the cache: no torch."""
    shutil.copyfile(REPOSITORY / "settings.toml", tmp_path / "settings.toml")
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        from pathlib import Path
        from intelbot import Kernel, TurnContext
        from intelbot.embedding import BackgroundEmbedder, embedder_from_settings
        from intelbot.settings import load_settings

        async def main():
            settings = load_settings(Path(sys.argv[1]))
            kernel = await Kernel.start(settings)
            try:
                first = await kernel.ask("How do I reset my password?", TurnContext(guild_id=1))
                embedder = embedder_from_settings(settings)
                ready = isinstance(embedder, BackgroundEmbedder) and await embedder.wait_ready(float("inf"))
                stored = await kernel.ask("What is the capital of France?", TurnContext(guild_id=1))
                exact = await kernel.ask("What is the capital of France?", TurnContext(guild_id=1))
                semantic = await kernel.ask("How can I reset my password?", TurnContext(guild_id=1))
            finally:
                await kernel.stop()
            print(json.dumps({
                "backend": type(embedder).__name__, "ready": ready,
                "sources": [r.source.value for r in (first, stored, exact, semantic)],
                "hits": [r.metadata.get("cache_hit") for r in (exact, semantic)],
                "loaded": sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules),
            }))

        asyncio.run(main())
        """
    )
    environment = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "BackgroundEmbedder" and report["ready"] is True
    assert report["sources"][2:] == ["cache", "cache"] and report["hits"] == ["exact", "semantic"]
    assert report["loaded"] == []


@pytest.fixture
def export_copy(tmp_path: Path) -> Path:
    """A copy of the installed export, to damage."""
    source = installed_export_dir()
    read_export(source)  # the installed one is intact (make install wrote it)
    target = tmp_path / "export"
    shutil.copytree(source, target)
    return target


def test_damaged_exports_are_reported_and_never_loaded(export_copy: Path) -> None:
    weights = export_copy / WEIGHTS_FILE
    with weights.open("r+b") as handle:  # same size, different bytes
        handle.seek(weights.stat().st_size // 2)
        handle.write(b"\x00corrupt\x00")
    with pytest.raises(ConfigurationError, match=r"does not match its SHA-256.*corrupt") as failure:
        find_or_export(export_copy, None, export=False)
    assert str(weights) in str(failure.value) and "make install" in str(failure.value)
    with weights.open("r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(ConfigurationError, match="truncated or replaced"):
        find_or_export(export_copy, None, export=False)
    shutil.copyfile(installed_export_dir() / WEIGHTS_FILE, weights)
    read_export(export_copy)  # whole again
    (export_copy / TOKENIZER_FILE).unlink()
    with pytest.raises(ConfigurationError, match=rf"{TOKENIZER_FILE} is missing"):
        find_or_export(export_copy, None, export=False)
    (export_copy / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ConfigurationError, match="unreadable"):
        find_or_export(export_copy, None, export=False)


def test_an_unchanged_export_is_not_hashed_again_and_a_changed_file_is(
    export_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SHA-256 check is skipped only for a file whose size, times and inode are the ones last verified."""
    import os

    from intelbot.embedding import onnx_files

    hashed: list[str] = []
    real_file_record = onnx_files.file_record

    def counting_file_record(path: Path) -> onnx_files.FileRecord:
        hashed.append(path.name)
        return real_file_record(path)

    monkeypatch.setattr(onnx_files, "file_record", counting_file_record)
    read_export(export_copy)
    assert sorted(hashed) == sorted(onnx_files.EXPORT_FILES)
    hashed.clear()
    read_export(export_copy)  # nothing changed since the check: no hashing
    assert hashed == []
    weights = export_copy / WEIGHTS_FILE
    before = weights.stat()
    with weights.open("r+b") as handle:  # same size, different bytes, modification time put back
        handle.seek(before.st_size // 2)
        handle.write(b"\x00corrupt\x00")
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(onnx_files.ExportProblem, match="does not match its SHA-256"):
        read_export(export_copy)
    assert hashed == [WEIGHTS_FILE]


async def test_a_damaged_export_fails_the_background_load_with_the_reason(export_copy: Path) -> None:
    (export_copy / MANIFEST_FILE).unlink()
    embedder = build_embedder({"backend": "onnx", "onnx_dir": str(export_copy), "export_on_first_use": False})
    assert isinstance(embedder, BackgroundEmbedder)
    assert await embedder.wait_ready(float("inf")) is False
    assert embedder.state == "failed" and embedder.error is not None and MANIFEST_FILE in embedder.error.message
    with pytest.raises(ConfigurationError, match="no usable ONNX export"):
        await embedder.embed(["anything"])


async def test_a_corrupt_export_is_rebuilt_on_first_use(export_copy: Path, onnx: BackgroundEmbedder) -> None:
    weights = export_copy / WEIGHTS_FILE
    with weights.open("r+b") as handle:
        handle.seek(4096)
        handle.write(b"\xff" * 4096)
    rebuilt = onnx_embedder(onnx_dir=str(export_copy), lru_size=0)  # exports in a child process (a minute)
    read_export(export_copy)
    np.testing.assert_allclose(await rebuilt.embed(SENTENCES[:4]), await onnx.embed(SENTENCES[:4]), atol=1e-5)


async def test_a_turn_does_not_wait_longer_than_the_bound_for_a_loading_model(onnx: BackgroundEmbedder) -> None:
    release = threading.Event()

    def slow_load() -> Embedder:
        release.wait(30)
        assert onnx.inner is not None
        return onnx.inner

    loading = BackgroundEmbedder(slow_load, name=onnx.name, dimensions=onnx.dimensions, wait_seconds=0.05)
    assert loading.state == "loading"
    assert await wait_until_ready(loading) is False  # waited about 0.05 s, not 30
    pending = asyncio.ensure_future(loading.embed(["waits for the load"]))
    await asyncio.sleep(0.05)
    assert not pending.done()
    release.set()
    assert (await pending).shape == (1, 384)
    assert await wait_until_ready(loading) is True and loading.state == "ready"


async def test_semantic_cache_skips_the_semantic_lookup_while_the_model_loads(
    make_kernel: object, onnx: BackgroundEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    from intelbot import Source, TurnContext
    from intelbot_semantic_cache.plugin import SemanticCachePlugin

    release = threading.Event()

    def slow_load() -> Embedder:
        release.wait(30)
        assert onnx.inner is not None
        return onnx.inner

    loading = BackgroundEmbedder(slow_load, name=onnx.name, dimensions=onnx.dimensions, wait_seconds=0.05)
    settings = {"plugins": {"semantic_cache": {"similarity_threshold": 0.8}}}
    kernel = await make_kernel(plugins=[SemanticCachePlugin.configured(embedder=loading)], settings=settings)  # type: ignore[operator]
    with caplog.at_level(logging.INFO, logger="intelbot_semantic_cache"):
        first = await kernel.ask("How do I reset my password?", TurnContext(guild_id=1))
        exact = await kernel.ask("How do I reset my password?", TurnContext(guild_id=1))
        paraphrase = await kernel.ask("How can I reset my password?", TurnContext(guild_id=1))
    assert first.source is Source.PROVIDER and exact.source is Source.CACHE  # an exact hit needs no model
    assert paraphrase.source is Source.PROVIDER
    assert "skipped the semantic lookup" in caplog.text and "stored for exact match only" in caplog.text
    release.set()
    assert await loading.wait_ready(float("inf"))
    await kernel.ask("Where is the Eiffel Tower?", TurnContext(guild_id=1))
    later = await kernel.ask("Where can I find the Eiffel Tower?", TurnContext(guild_id=1))
    assert later.source is Source.CACHE and later.metadata["cache_hit"] == "semantic"


def test_onnx_runs_the_bundled_model_only() -> None:
    with pytest.raises(ConfigurationError, match=r"embedding\.model"):
        build_embedder({"backend": "onnx", "model": "BAAI/bge-small-en-v1.5"})
