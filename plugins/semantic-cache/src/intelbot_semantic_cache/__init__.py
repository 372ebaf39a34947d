"""intelbot-semantic-cache: answers a question that means the same as one already answered, without calling a model."""

from intelbot_semantic_cache.cache import CacheHit, SemanticCache
from intelbot_semantic_cache.settings import CacheSettings

__all__ = ["CacheHit", "CacheSettings", "SemanticCache"]
