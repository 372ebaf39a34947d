"""A loopback Weaviate (REST + gRPC) for the memory plugin's tests and benchmark: see :mod:`.server`."""

from intelbot.testing.weaviate.server import LoopbackWeaviate

__all__ = ["LoopbackWeaviate"]
