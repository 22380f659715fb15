"""以奖代补: what residents put into village projects, the township's subsidy schemes, and
the quarterly settlement that turns the books into awards.

Invariants:
- participation is derived from the books and records (labor records, contribution
  entries, 共评 scores, 共谋 meetings), never typed in; a contribution's money is a CNY
  entry FUNDING(contributions) → PROJECT(<project code>) in the village's books;
- labor's money value is person-days × the township's 工日单价 in force on the labor's
  day; a point cap never caps it (the records' quantities count, not their points);
- a scheme version never changes; a settlement is computed by pure policy from a
  snapshot of facts, stored once with the SHA-256 of its inputs, its result and both
  exports: the same books and scheme give the same bytes;
- a settlement is approved at most once, by someone other than its drafter, only while
  its inputs are unchanged, and only one per township and period; approval books one
  entry per village FUNDING(township_subsidy) → SUBSIDY, with a key that never books twice;
- the awards, with what rounding left to the township, add up to the pool to the fen;
- with a scheme's withholding, each award's paid-now and withheld parts add up to it; the
  withheld part waits in SUBSIDY(withheld) and moves once, after the village's projects'
  acceptance (验收), to SUBSIDY or back to the township's pool (see release.py).
"""
