"""The embedded backend: rows in the kernel database, an HNSW index per scope, full-text keyword search."""
