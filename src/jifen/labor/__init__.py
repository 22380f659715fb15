"""Village projects (投工投劳), activities, and check-in with a signed QR code (扫码签到).

Invariants:
- a check-in is a record made through the records service, scored by the charter in
  force on its day with the charter's review rule for `check_in`; this package never
  writes records, entries or events itself;
- one check-in per member per activity (a rejected or revoked one frees the place),
  decided under the village's books lock, whatever the rule's `allow_repeats`;
- check-in is open from 30 minutes before an activity starts until it ends or a clerk
  closes it; outside that, nothing is written;
- an activity's rule is recorded by `check_in`, needs no evidence and is no deduction,
  in the charter version in force on the start date;
- a check-in code is a token signed with the service's key for the audience
  `jifen:check-in`: an access token never passes as one, nor one as an access token; it
  names its activity and village and expires shortly after the activity ends;
- a project's labor counts approved and capped records only; pending ones are counted
  apart, rejected and revoked ones not at all.
"""
