"""The three index kinds agree on nearest neighbours; removal, replacement and dump/load keep them consistent."""

from __future__ import annotations

import numpy as np
import pytest

from intelbot_semantic_cache.index import INDEX_KINDS, ExactIndex, HybridIndex, load_index, new_index


def unit_rows(count: int, dimensions: int = 32, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dimensions)).astype(np.float32)
    normalized: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return normalized


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_nearest_neighbours_and_removal(kind: str) -> None:
    vectors = unit_rows(600)
    index = new_index(kind, 32, switch_at=100)
    index.add(np.arange(600, dtype=np.int64) + 1000, vectors)
    assert len(index) == 600
    ids, similarities = index.search(vectors[42], 5)
    assert int(ids[0]) == 1042
    assert similarities[0] == pytest.approx(1.0, abs=0.02)
    assert list(similarities) == sorted(similarities, reverse=True)
    index.remove([1042, 99999])
    assert len(index) == 599
    ids, _ = index.search(vectors[42], 5)
    assert 1042 not in ids.tolist()
    assert index.ids().tolist() == sorted(set(range(1000, 1600)) - {1042})


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_adding_a_present_id_replaces_its_vector(kind: str) -> None:
    vectors = unit_rows(50, seed=1)
    index = new_index(kind, 32, switch_at=10)
    index.add(np.arange(50, dtype=np.int64), vectors)
    index.add(np.asarray([7], dtype=np.int64), vectors[30:31])
    assert len(index) == 50
    ids, _ = index.search(vectors[30], 2)
    assert set(ids.tolist()) == {7, 30}
    ids, _ = index.search(vectors[7], 1)
    assert int(ids[0]) != 7


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_dump_and_load_give_the_same_answers(kind: str) -> None:
    vectors = unit_rows(300, seed=2)
    index = new_index(kind, 32, switch_at=100)
    index.add(np.arange(300, dtype=np.int64), vectors)
    restored = load_index(kind, index.dump(), 32, switch_at=100)
    for row in (0, 150, 299):
        first, second = index.search(vectors[row], 4), restored.search(vectors[row], 4)
        assert first[0].tolist() == second[0].tolist()
        np.testing.assert_allclose(first[1], second[1], atol=1e-6)


def test_hybrid_is_exact_while_small_then_rescores_hnsw_candidates_exactly() -> None:
    vectors = unit_rows(400, seed=3)
    hybrid = HybridIndex(32, switch_at=200)
    exact = ExactIndex(32)
    hybrid.add(np.arange(150, dtype=np.int64), vectors[:150])
    assert hybrid.graph is None
    hybrid.add(np.arange(150, 400, dtype=np.int64), vectors[150:])
    exact.add(np.arange(400, dtype=np.int64), vectors)
    assert hybrid.graph is not None and len(hybrid.graph) == 400
    query = unit_rows(1, seed=4)[0]
    hybrid_ids, hybrid_similarities = hybrid.search(query, 3)
    exact_ids, exact_similarities = exact.search(query, 3)
    assert hybrid_ids.tolist() == exact_ids.tolist()
    np.testing.assert_allclose(hybrid_similarities, exact_similarities, atol=1e-6)  # float32, not int8, scores


def test_load_refuses_arrays_that_do_not_fit() -> None:
    index = new_index("exact", 32)
    index.add(np.arange(3, dtype=np.int64), unit_rows(3))
    arrays = index.dump()
    with pytest.raises(ValueError, match="shape"):
        load_index("exact", arrays, 16)
