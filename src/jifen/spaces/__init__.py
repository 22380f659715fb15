"""Adopted spaces (认领 / 认捐认管): a village's spaces and who cares for them, when.

Invariants:
- a space belongs to one village; a claimant (member, household or organisation) belongs
  to the same village (an organisation, being township-wide, to the same township);
- unless the space allows shared care, at most one claim covers any date;
- claims are never deleted: ending one dates it (never before it started, never later than
  planned), passing one on ends it the day before the next claim starts, in one step;
- every claim, ending and transfer adds its outbox event in the same transaction.
"""
