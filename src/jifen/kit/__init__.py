"""Domain-free helpers: ids, clock, canonical JSON, hashing, pagination, column types."""
