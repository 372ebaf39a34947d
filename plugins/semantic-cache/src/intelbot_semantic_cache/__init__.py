"""intelbot-semantic-cache: answers a question that means the same as one already answered, without calling a model.

The plugin module is :mod:`intelbot_semantic_cache.plugin`; the cache itself is
:class:`intelbot_semantic_cache.cache.SemanticCache`.
"""
