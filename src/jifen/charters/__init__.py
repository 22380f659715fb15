"""Village charters (村规民约积分制): versioned documents whose rules score what residents do.

Invariants: a published version never changes; an event is scored by the version in force
on the day it happened; every entry a charter books names the version, the rule and a
Chinese explanation of its points.
"""
