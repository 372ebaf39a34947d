"""The cache's figures: Prometheus metrics ``intelbot_cache_*`` and an in-process summary for stats.

Metric names (Prometheus adds ``_total`` to counters):

- ``intelbot_cache_hits{kind="exact|semantic"}``, ``intelbot_cache_misses``,
  ``intelbot_cache_bypassed`` (requests marked uncacheable)
- ``intelbot_cache_stores``, ``intelbot_cache_skipped{reason}`` (responses not stored and why)
- ``intelbot_cache_evictions{reason="expired|entries|memory|cleared"}``
- ``intelbot_cache_lookup_seconds`` (whole lookup, embedding included),
  ``intelbot_cache_index_search_seconds`` (the vector index alone)
- ``intelbot_cache_saved_tokens``, ``intelbot_cache_saved_usd``
- ``intelbot_cache_entries``, ``intelbot_cache_bytes`` (gauges)
"""

from __future__ import annotations

from collections import Counter as Tally
from collections import deque
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LOOKUP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class CacheMetrics:
    """Counts and latencies of one cache; registers on ``registry`` (the kernel's) or a private one."""

    def __init__(self, registry: CollectorRegistry | None = None, *, window: int = 10_000) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.hits = Counter("intelbot_cache_hits", "Cache hits by kind", ["kind"], registry=r)
        self.misses = Counter("intelbot_cache_misses", "Lookups that found nothing", registry=r)
        self.bypassed = Counter("intelbot_cache_bypassed", "Requests marked uncacheable", registry=r)
        self.stores = Counter("intelbot_cache_stores", "Responses stored", registry=r)
        self.skipped = Counter("intelbot_cache_skipped", "Responses not stored, by reason", ["reason"], registry=r)
        self.evictions = Counter("intelbot_cache_evictions", "Entries removed, by reason", ["reason"], registry=r)
        self.lookup_seconds = Histogram(
            "intelbot_cache_lookup_seconds", "Whole lookup time, embedding included", buckets=LOOKUP_BUCKETS, registry=r
        )
        self.index_seconds = Histogram(
            "intelbot_cache_index_search_seconds", "Vector index search time", buckets=LOOKUP_BUCKETS, registry=r
        )
        self.saved_tokens = Counter("intelbot_cache_saved_tokens", "Tokens not spent thanks to hits", registry=r)
        self.saved_usd = Counter("intelbot_cache_saved_usd", "USD not spent thanks to hits", registry=r)
        self.feedback = Counter(
            "intelbot_cache_feedback", "Votes and re-asks on cached answers", ["evidence"], registry=r
        )
        self.entries = Gauge("intelbot_cache_entries", "Entries held", registry=r)
        self.bytes = Gauge("intelbot_cache_bytes", "Bytes held (index and texts)", registry=r)
        self.tally: Tally[str] = Tally()
        self.tokens_saved = 0
        self.usd_saved = 0.0
        self._lookups: deque[float] = deque(maxlen=window)
        self._searches: deque[float] = deque(maxlen=window)

    def hit(self, kind: str, tokens: int, usd: float) -> None:
        self.hits.labels(kind).inc()
        self.tally[f"hits_{kind}"] += 1
        self.saved_tokens.inc(tokens)
        self.saved_usd.inc(usd)
        self.tokens_saved += tokens
        self.usd_saved += usd

    def miss(self) -> None:
        self.misses.inc()
        self.tally["misses"] += 1

    def bypass(self) -> None:
        self.bypassed.inc()
        self.tally["bypassed"] += 1

    def stored(self) -> None:
        self.stores.inc()
        self.tally["stores"] += 1

    def skip(self, reason: str) -> None:
        self.skipped.labels(reason).inc()
        self.tally[f"skipped_{reason}"] += 1

    def evicted(self, reason: str, count: int) -> None:
        if count:
            self.evictions.labels(reason).inc(count)
            self.tally[f"evicted_{reason}"] += count

    def evidence(self, kind: str) -> None:
        """Count one piece of evidence taken in: ``down``, ``up`` (votes) or ``reask``."""
        self.feedback.labels(kind).inc()
        self.tally[f"feedback_{kind}"] += 1

    def lookup_took(self, seconds: float) -> None:
        self.lookup_seconds.observe(seconds)
        self._lookups.append(seconds)

    def search_took(self, seconds: float) -> None:
        self.index_seconds.observe(seconds)
        self._searches.append(seconds)

    def size(self, entries: int, size_bytes: int) -> None:
        self.entries.set(entries)
        self.bytes.set(size_bytes)

    def summary(self) -> dict[str, Any]:
        """Flat JSON-able figures (latencies in milliseconds over the last ``window`` lookups)."""
        hits = self.tally["hits_exact"] + self.tally["hits_semantic"]
        lookups = hits + self.tally["misses"]
        figures: dict[str, Any] = {
            "hits_exact": self.tally["hits_exact"],
            "hits_semantic": self.tally["hits_semantic"],
            "misses": self.tally["misses"],
            "bypassed": self.tally["bypassed"],
            "hit_rate": round(hits / lookups, 4) if lookups else 0.0,
            "stores": self.tally["stores"],
            "tokens_saved": self.tokens_saved,
            "usd_saved": round(self.usd_saved, 6),
        }
        for key, value in sorted(self.tally.items()):
            if key.startswith(("skipped_", "evicted_", "feedback_")):
                figures[key] = value
        for name, samples in (("lookup", self._lookups), ("index_search", self._searches)):
            if samples:
                values = np.asarray(samples) * 1000
                figures[f"{name}_ms_p50"] = round(float(np.percentile(values, 50)), 3)
                figures[f"{name}_ms_p99"] = round(float(np.percentile(values, 99)), 3)
        return figures
