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

- Points posted by a closing are dated at the start of the closing day, however late the
  tick runs.

Built: the charter's validated settings (jifen.charters.document.NoticeScope; the first
version's `public_notice.days`/`categories` are refused), the pure calendar and decision
policy (jifen.notice.policy), the stored lists (jifen.models.notice), recording onto lists
(`join`, `open_list_for`, called by jifen.records.service), the clock (`tick`, run by
`jifen tick`), objections and late appeals (`raise_objection`, `object_for_member`,
`decide_objection`), reading lists (`list_lists`, `get_list_view`), outbox events
(notice_list.opened/closed, objection.raised/decided), the balance split (`holdings`) and
statement notes (`notes_for_entries`), and the API (jifen.notice.router). The public
display of lists is the boards work's, built on `list_lists` and `get_list_view`.
"""
