"""What never changes about an account or a village, read once per process.

An account's kind, asset, books and owner are fixed when it is opened, and a village
never moves to another township, so the request path (access checks, webhook events)
reads them from these caches instead of asking the database each time. Ids are never
reused, so a row read in a transaction that later rolled back does no harm: nothing can
refer to an account that does not exist (the foreign keys see to that).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from jifen.db import BATCH_AWARE
from jifen.models import Account, Village

CACHED_MAX = 65_536


class AccountFacts(NamedTuple):
    township_id: uuid.UUID
    village_id: uuid.UUID
    kind: str
    asset: str
    category: str
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None


_accounts = cast(Table, Account.__table__)
_ACCOUNT_FACTS = (
    select(
        _accounts.c.id,
        _accounts.c.township_id,
        _accounts.c.village_id,
        _accounts.c.kind,
        _accounts.c.asset,
        _accounts.c.category,
        _accounts.c.member_id,
        _accounts.c.household_id,
    )
    .where(_accounts.c.id.in_(bindparam("ids", expanding=True)))
    .execution_options(**BATCH_AWARE)
)
_villages = cast(Table, Village.__table__)
# What these read never changes: no need to flush a write batch before them.
_VILLAGE_TOWNSHIP = (
    select(_villages.c.township_id)
    .where(_villages.c.id == bindparam("id"))
    .execution_options(**BATCH_AWARE)
)

_account_cache: dict[uuid.UUID, AccountFacts] = {}
_village_cache: dict[uuid.UUID, uuid.UUID] = {}


def accounts(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, AccountFacts]:
    """The facts of those of `ids` that are accounts (unknown ids are left out)."""
    wanted = set(ids)
    found = {i: _account_cache[i] for i in wanted if i in _account_cache}
    missing = wanted - found.keys()
    if missing:
        if len(_account_cache) + len(missing) > CACHED_MAX:
            _account_cache.clear()
        for row in session.connection().execute(_ACCOUNT_FACTS, {"ids": list(missing)}):
            found[row.id] = _account_cache[row.id] = AccountFacts(*row[1:])
    return found


def village_township(session: Session, village_id: uuid.UUID) -> uuid.UUID | None:
    """The township of a village, or None if there is no such village."""
    township = _village_cache.get(village_id)
    if township is None:
        township = session.connection().execute(_VILLAGE_TOWNSHIP, {"id": village_id}).scalar()
        if township is not None:
            if len(_village_cache) >= CACHED_MAX:
                _village_cache.clear()
            _village_cache[village_id] = township
    return township
