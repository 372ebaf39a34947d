"""The loopback Weaviate's data: collections, tenants and objects in memory, and how they are searched.

Searches honour the tenant, the filter tree (equal, not equal, <, <=, >, >=, and, or,
not, contains any/all, is null, like with ``*``), ``limit``, near-vector (cosine
distance, brute force) and hybrid: BM25 over the text properties (k1 = 1.2,
b = 0.75, word tokenisation, lower-cased) fused with the vector scores by relative
score fusion (each side min-max scaled over its candidates, ``alpha`` weighing the
vector side). Not covered: HNSW itself and its quantisation (search is exact),
named vectors, references, group-by, sorting, generative and rerank modules,
replication and consistency levels, schema changes after creation (adding a
property), and search results return text[] properties but no other array types.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"[A-Za-z0-9]+")


def words(text: str) -> list[str]:
    """Weaviate's ``word`` tokenisation: alphanumeric runs, lower-cased."""
    return [word.lower() for word in _WORD.findall(text)]


@dataclass(slots=True)
class StoredObject:
    """One object: uuid, properties, its vector (unit or not; searches normalise), times in ms."""

    uuid: str
    properties: dict[str, Any]
    vector: npt.NDArray[np.float32] | None
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass(slots=True)
class Tenant:
    name: str
    status: str = "ACTIVE"
    objects: dict[str, StoredObject] = field(default_factory=dict)


@dataclass(slots=True)
class Collection:
    """A collection's schema (as the client sent it) and, with multi-tenancy, its tenants."""

    name: str
    schema: dict[str, Any]
    tenants: dict[str, Tenant] = field(default_factory=dict)
    objects: dict[str, StoredObject] = field(default_factory=dict)

    @property
    def multi_tenant(self) -> bool:
        return bool((self.schema.get("multiTenancyConfig") or {}).get("enabled"))

    def text_properties(self) -> list[str]:
        return [
            prop["name"]
            for prop in self.schema.get("properties", [])
            if any(str(kind).startswith("text") for kind in prop.get("dataType", []))
            and prop.get("indexSearchable", True)
        ]


class TenantProblem(LookupError):
    """A request named a missing or inactive tenant, or none on a multi-tenant collection (or one on another)."""


Predicate = Callable[[StoredObject], bool]


@dataclass(frozen=True, slots=True)
class Match:
    obj: StoredObject
    score: float
    distance: float | None


class WeaviateData:
    """Every collection of one loopback server."""

    def __init__(self) -> None:
        self.collections: dict[str, Collection] = {}

    def collection(self, name: str) -> Collection:
        found = self.collections.get(name) or next(
            (item for key, item in self.collections.items() if key.lower() == name.lower()), None
        )
        if found is None:
            raise KeyError(name)
        return found

    def objects_of(self, collection: str, tenant: str) -> dict[str, StoredObject]:
        """The object map a request addresses; TenantProblem when the tenant is wrong, missing or not active."""
        item = self.collection(collection)
        if not item.multi_tenant:
            if tenant:
                raise TenantProblem(f"collection {item.name} has multi-tenancy disabled, but request was with tenant")
            return item.objects
        if not tenant:
            raise TenantProblem(f"has multi-tenancy enabled, but request was without tenant (class {item.name})")
        found = item.tenants.get(tenant)
        if found is None:
            raise TenantProblem(f'tenant not found: "{tenant}"')
        if found.status not in ("ACTIVE", "HOT"):
            raise TenantProblem(f'tenant not active: "{tenant}"')
        return found.objects

    # -- searching -------------------------------------------------------------------------

    @staticmethod
    def cosine_distances(objects: list[StoredObject], vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        query = query / (np.linalg.norm(query) or 1.0)
        rows = np.vstack([obj.vector if obj.vector is not None else np.zeros_like(query) for obj in objects])
        norms = np.linalg.norm(rows, axis=1)
        norms[norms == 0] = 1.0
        distances: npt.NDArray[np.float32] = (1.0 - (rows @ query) / norms).astype(np.float32)
        return distances

    @staticmethod
    def bm25(objects: list[StoredObject], query: str, properties: Iterable[str]) -> dict[str, float]:
        """BM25 score of each object (by uuid) with at least one query term in ``properties``."""
        names = list(properties)
        terms = set(words(query))
        if not terms or not objects:
            return {}
        documents = {obj.uuid: words(" ".join(str(obj.properties.get(name, "")) for name in names)) for obj in objects}
        average = sum(len(tokens) for tokens in documents.values()) / len(documents) or 1.0
        frequency = Counter(term for tokens in documents.values() for term in set(tokens) if term in terms)
        total = len(documents)
        scores: dict[str, float] = {}
        for uuid, tokens in documents.items():
            counts = Counter(tokens)
            score = 0.0
            for term in terms:
                if counts[term] == 0:
                    continue
                idf = math.log(1 + (total - frequency[term] + 0.5) / (frequency[term] + 0.5))
                tf = counts[term]
                score += idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * len(tokens) / average))
            if score > 0:
                scores[uuid] = score
        return scores

    def near_vector(self, objects: list[StoredObject], vector: npt.NDArray[np.float32], limit: int) -> list[Match]:
        if not objects:
            return []
        distances = self.cosine_distances(objects, vector)
        order = np.argsort(distances, kind="stable")[:limit]
        return [Match(objects[i], float(1.0 - distances[i]), float(distances[i])) for i in order]

    def hybrid(
        self,
        objects: list[StoredObject],
        query: str,
        vector: npt.NDArray[np.float32] | None,
        alpha: float,
        limit: int,
        properties: list[str],
    ) -> list[Match]:
        """Relative score fusion of BM25 and vector search over ``objects``."""
        if not objects:
            return []
        keyword = self.bm25(objects, query, properties)
        vector_scores: dict[str, float] = {}
        distances: dict[str, float] = {}
        if vector is not None and alpha > 0:
            for obj, distance in zip(objects, self.cosine_distances(objects, vector).tolist(), strict=True):
                vector_scores[obj.uuid] = 1.0 - distance
                distances[obj.uuid] = distance
            candidates = sorted(vector_scores, key=lambda uuid: -vector_scores[uuid])[: max(limit, 100)]
            vector_scores = {uuid: vector_scores[uuid] for uuid in candidates}
        fused: dict[str, float] = {}
        for weight, scores in ((alpha, vector_scores), (1.0 - alpha, keyword)):
            if not scores or weight <= 0:
                continue
            low, high = min(scores.values()), max(scores.values())
            for uuid, score in scores.items():
                scaled = 1.0 if high == low else (score - low) / (high - low)
                fused[uuid] = fused.get(uuid, 0.0) + weight * scaled
        by_id = {obj.uuid: obj for obj in objects}
        ranked = sorted(fused, key=lambda uuid: (-fused[uuid], uuid))[:limit]
        return [Match(by_id[uuid], fused[uuid], distances.get(uuid)) for uuid in ranked]


def compile_filter(node: Any) -> Predicate:
    """A predicate from a ``weaviate.v1.Filters`` message (the operators listed in the module docstring)."""
    operator = node.Operator.Name(node.operator)
    if operator == "OPERATOR_AND":
        parts = [compile_filter(child) for child in node.filters]
        return lambda obj: all(part(obj) for part in parts)
    if operator == "OPERATOR_OR":
        parts = [compile_filter(child) for child in node.filters]
        return lambda obj: any(part(obj) for part in parts)
    if operator == "OPERATOR_NOT":
        parts = [compile_filter(child) for child in node.filters]
        return lambda obj: not all(part(obj) for part in parts)
    name = node.target.property if node.HasField("target") else (node.on[0] if node.on else "")
    kind = node.WhichOneof("test_value")
    value: Any = getattr(node, kind) if kind else None
    if kind and kind.endswith("_array"):
        value = list(value.values)

    def read(obj: StoredObject) -> Any:
        if name == "_id":
            return obj.uuid
        return obj.properties.get(name)

    def compare(test: Callable[[Any, Any], bool]) -> Predicate:
        def predicate(obj: StoredObject) -> bool:
            current = read(obj)
            if current is None:
                return False
            try:
                return bool(test(current, value))
            except TypeError:
                return False

        return predicate

    if operator == "OPERATOR_EQUAL":
        return compare(lambda current, expected: current == expected)
    if operator == "OPERATOR_NOT_EQUAL":
        return lambda obj: read(obj) != value
    if operator == "OPERATOR_GREATER_THAN":
        return compare(lambda current, expected: current > expected)
    if operator == "OPERATOR_GREATER_THAN_EQUAL":
        return compare(lambda current, expected: current >= expected)
    if operator == "OPERATOR_LESS_THAN":
        return compare(lambda current, expected: current < expected)
    if operator == "OPERATOR_LESS_THAN_EQUAL":
        return compare(lambda current, expected: current <= expected)
    if operator == "OPERATOR_IS_NULL":
        return lambda obj: (read(obj) is None) == bool(value)
    if operator == "OPERATOR_CONTAINS_ANY":
        return compare(lambda current, expected: bool(set(_as_list(current)) & set(expected)))
    if operator == "OPERATOR_CONTAINS_ALL":
        return compare(lambda current, expected: set(expected) <= set(_as_list(current)))
    if operator == "OPERATOR_LIKE":
        pattern = re.compile("^" + re.escape(str(value)).replace(r"\*", ".*").replace(r"\?", ".") + "$", re.I)
        return compare(lambda current, _expected: bool(pattern.match(str(current))))
    raise ValueError(f"the loopback Weaviate does not support the filter operator {operator}")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]
