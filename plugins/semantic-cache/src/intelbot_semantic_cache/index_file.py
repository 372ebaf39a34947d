"""Saving the vector indexes beside the database, and restoring them only when they can be trusted.

The file (NumPy ``.npz``, no pickles) holds each scope's index arrays and a JSON
manifest: embedder, dimensions, index kind, and per scope the entry count, a
SHA-256 of its sorted ids, a SHA-256 of its rows (each id with its prompt key and
creation time, so an id the database gave to another row after an unclean stop does
not match) and a SHA-256 of each array. At start-up a scope is restored only when all
of these match what the database holds; anything else (missing file, unreadable zip,
wrong checksum, other ids or rows, other embedder) makes the caller rebuild that scope
from the vectors in the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot_semantic_cache.index import IdArray, VectorIndex, load_index

log = logging.getLogger("intelbot_semantic_cache")
FORMAT_VERSION = 2  # 2: per-scope row digests


def ids_digest(ids: IdArray) -> str:
    return hashlib.sha256(np.sort(np.asarray(ids, dtype=np.int64)).tobytes()).hexdigest()


def rows_digest(rows: Iterable[tuple[int, str, float]]) -> str:
    """SHA-256 of ``(id, prompt_key, created_at)`` rows, in id order."""
    digest = hashlib.sha256()
    for entry_id, key, created_at in sorted(rows):
        digest.update(f"{entry_id}\0{key}\0{created_at!r}\n".encode())
    return digest.hexdigest()


def _array_digest(array: npt.NDArray[np.generic]) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def save_indexes(
    path: Path,
    indexes: Mapping[str, VectorIndex],
    *,
    rows: Mapping[str, str],
    embedder: str,
    dimensions: int,
    kind: str,
) -> None:
    """Write every scope's index to ``path`` atomically (a temporary file, then a rename).

    ``rows`` maps each scope to the :func:`rows_digest` of the entries its index holds.
    """
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    scopes: list[dict[str, Any]] = []
    for number, (scope, index) in enumerate(sorted(indexes.items())):
        if len(index) == 0:
            continue
        prefix = f"s{number}"
        dumped = index.dump()
        digests = {}
        for name, array in dumped.items():
            arrays[f"{prefix}__{name}"] = array
            digests[name] = _array_digest(array)
        scopes.append(
            {
                "scope": scope,
                "prefix": prefix,
                "count": len(index),
                "ids": ids_digest(index.ids()),
                "rows": rows.get(scope, ""),
                "arrays": digests,
            }
        )
    manifest = {
        "version": FORMAT_VERSION,
        "embedder": embedder,
        "dimensions": dimensions,
        "kind": kind,
        "scopes": scopes,
    }
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
    temporary.replace(path)


def load_indexes(
    path: Path,
    expected: Mapping[str, IdArray],
    *,
    rows: Mapping[str, str],
    embedder: str,
    dimensions: int,
    kind: str,
    switch_at: int,
    expansion_search: int = 128,
) -> tuple[dict[str, VectorIndex], str]:
    """The scopes of ``expected`` (scope -> ids in the database) that the file restores exactly, and why not the others.

    ``rows`` holds each scope's :func:`rows_digest` of those rows in the database.

    Returns (restored indexes, reason); the reason is "" when every expected scope was restored.
    """
    if not expected:
        return {}, ""
    if not path.exists():
        return {}, "no index file"
    try:
        with np.load(path, allow_pickle=False) as archive:
            manifest = json.loads(bytes(archive["manifest"]).decode("utf-8"))
            if manifest.get("version") != FORMAT_VERSION:
                return {}, "index file of another format version"
            if (manifest.get("embedder"), manifest.get("dimensions"), manifest.get("kind")) != (
                embedder,
                dimensions,
                kind,
            ):
                return {}, "index file made for another embedder or index kind"
            restored: dict[str, VectorIndex] = {}
            problems: list[str] = []
            for item in manifest.get("scopes", []):
                scope = item["scope"]
                if scope not in expected:
                    continue
                ids = expected[scope]
                if item["count"] != len(ids) or item["ids"] != ids_digest(ids):
                    problems.append("entries differ from the database")
                    continue
                if item.get("rows") != rows.get(scope):
                    problems.append("rows differ from the database (an id now names another row)")
                    continue
                arrays = {name: archive[f"{item['prefix']}__{name}"] for name in item["arrays"]}
                if any(_array_digest(arrays[name]) != digest for name, digest in item["arrays"].items()):
                    problems.append("checksum mismatch")
                    continue
                index = load_index(kind, arrays, dimensions, switch_at=switch_at, expansion_search=expansion_search)
                if not np.array_equal(index.ids(), np.sort(ids)):
                    problems.append("restored ids differ")
                    continue
                restored[scope] = index
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        return {}, f"unreadable index file ({type(error).__name__})"
    missing = len(expected) - len(restored)
    reason = "; ".join(sorted(set(problems))) or (f"{missing} scope(s) not in the file" if missing else "")
    return restored, reason
