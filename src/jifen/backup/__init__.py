"""Backups: a consistent copy of a SQLite database, and a village's or township's books
as JSON Lines that load into an empty database.

Invariants: a backup is checked (integrity and every chain) before it is called done;
an export is reproducible (the same books give the same bytes) and holds no secret;
an import writes all of a file or nothing, and only what verifies: every entry's hash,
every chain link, every posting sum, every balance.
"""
