"""Records: events scored under a village's charter, their review and revocation.

Invariants (see records.service): a record is scored by the charter version in force on
its day and names it; caps are decided under the village's books lock; a pending record
moves no balance; the same person, rule and occurrence is recorded once unless the rule
allows repeats; a revocation reverses the record's entry, and only a revocation may.
"""
