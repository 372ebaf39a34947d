"""Persistence: the async engine, the kernel's tables and the usage ledger."""
