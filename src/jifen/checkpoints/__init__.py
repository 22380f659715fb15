"""Signed checkpoints of every village's chain head.

The chain head lives in the database it guards: whoever can write the database can drop
the newest entries and rewind the head, or edit the newest entry and recompute its hash,
and the chain alone still verifies. A checkpoint anchors the head outside the database:

- each village's (seq, head hash) at an instant is signed with an Ed25519 key that never
  enters the database (a file or an environment secret);
- every checkpoint is appended to a JSON Lines file in JIFEN_CHECKPOINT_DIR (the copy that
  survives a rewrite of the database) and stored in the database (for the API);
- `jifen verify` checks each chain against every checkpoint found in the files: the
  signature holds under a trusted key, the entry at the checkpoint's seq still has that
  hash, and the head is at or beyond it;
- a village is never signed while its chain contradicts its last checkpoint.
"""
