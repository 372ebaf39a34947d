"""The ``weaviate`` backend: one tenant per scope in a multi-tenant collection, through weaviate-client v4."""
