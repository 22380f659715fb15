"""The ledger: accounts, entries, postings, balances, holds and the hash chain.

Invariants (kept here and again by the database):
- every entry has at least two postings, and they sum to zero per asset;
- entries and postings are never updated or deleted; a correction is a reversal entry
  that names the entry it reverses, and an entry is reversed at most once;
- a pending entry holds its amounts until one post or one void resolves it;
- spending never takes an account with a floor below it, except through an entry that
  carries a recorded permission its village allows for that entry code (reversals always
  carry it: a correction must be possible even when the points were spent);
- balances in account_balances change only in the database transaction that writes the
  postings, and always equal what replaying the postings gives;
- every entry of a village's books has the next sequence number and a hash over its
  content and the previous entry's hash;
- only ledger.writer inserts entries and postings or changes balances.
"""
