"""jifen: an append-only, double-entry points ledger for village points schemes."""

__version__ = "0.1.0"
