"""Tenancy: township → village → household → member, and organisations.

Invariants:
- every row carries its township, and a village's households, members and accounts
  carry that village's township (composite foreign keys keep it so);
- a member has at most one open household membership; memberships are dated;
- a deactivated member keeps their history; entries dated after the deactivation date
  are refused by the ledger;
- a household split moves members, never points: points follow only by an explicit
  transfer entry booked with the split.
"""
