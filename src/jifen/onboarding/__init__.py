"""Moving a village onto jifen: its households, members and opening balances from the
sheet (XLSX or CSV) it kept its points in.

Invariants:
- Reading a sheet is pure (sheet.py): every row is either understood or refused with a
  reason, never guessed at; the sheet is named by the SHA-256 of its bytes.
- An import is all or nothing: a sheet with a refused row writes nothing (a dry run
  lists what would be created and every refused row).
- Each holder (household or member) gets at most one opening entry, ever, whichever
  sheet it came from: its idempotency key is the holder's, and the entry records the
  sheet's digest and row. Running the same import again is a no-op.
- Opening entries are ordinary ledger entries (code `opening_balance`), from the
  village's issuance accounts: the spendable track from the general one, the merit
  track (累计积分) from the merit one.
"""
