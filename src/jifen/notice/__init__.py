"""Public notice (公示): notice lists, objections, late appeals.

Invariants (see docs/public-notice.md):
- A notice list gathers the records of one period (month M) under one charter setting; it
  opens on the charter's day of month M+1 and runs the charter's number of days.
- `before` mode: an entry on an open list is pending (held, not spendable); it posts when
  the list closes, unless an objection holds it: upheld -> voided, rejected -> posted on the
  later of the decision day and the closing day.
- `after` mode: points count when recorded; an upheld objection books a reversal dated at the
  decision; the original entry stays.
- An objection names one entry on an open list (or, as a late appeal, on a list closed less
  than the appeal window ago) and holds back only that entry.

Built: the charter's validated settings (jifen.charters.document.NoticeScope), the pure
calendar and decision policy (jifen.notice.policy), the stored lists (jifen.models.notice),
recording onto lists (`join`, `open_list_for`, called by jifen.records.service), the clock
(`tick`, run by `jifen tick`) and objections/late appeals (`raise_objection`,
`decide_objection`). Not built yet: the API, outbox events of lists and objections, the
balance split and the public display. Until the API lands, a charter naming notice lists
is refused (document.NOTICE_LISTS_APPLIED).
"""
