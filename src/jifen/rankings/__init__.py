"""Rankings (积分排行) and histories: read-only views of the records charters scored.

Invariants:
- only counted records (approved, or capped to zero) count towards a ranking or a total;
  pending, rejected and revoked records never do;
- a ranking sums what was booked (`records.points`, signed, or `records.merit_points`) in
  one aggregate query, over the records whose event day falls in the window; ties share
  a rank (1, 1, 3) and are listed by name, then id, so the order is stable;
- a history lists every record of a member or household, whatever its status, each with
  the rule, the charter version and the explanation it was scored with;
- nothing here writes.
"""
