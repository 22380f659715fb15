"""Space and claim services. They flush, never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_by_id
from jifen.models import Household, Member, Organisation, Space, SpaceClaim
from jifen.problems import AlreadyExists, NotFound
from jifen.spaces import errors
from jifen.tenancy import service as tenancy
from jifen.webhooks import events

KINDS = ("green_space", "public_space", "facility")
END_ENDED = "ended"
END_TRANSFERRED = "transferred"
_END_REASONS_ZH = {END_ENDED: "结束", END_TRANSFERRED: "转交他人"}


@dataclass(frozen=True)
class Claimant:
    """Exactly one of the three is set."""

    member_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None

    @property
    def kind(self) -> str:
        if self.member_id is not None:
            return "member"
        if self.household_id is not None:
            return "household"
        return "organisation"


# --- spaces ----------------------------------------------------------------------------


def create_space(
    session: Session,
    *,
    village_id: uuid.UUID,
    name: str,
    kind: str,
    area_hundredths_m2: int,
    location: str,
    photo_url: str | None,
    allow_shared_care: bool,
    now: datetime,
) -> Space:
    village = tenancy.get_village(session, village_id)
    space = Space(
        id=new_id(),
        township_id=village.township_id,
        village_id=village.id,
        name=name,
        kind=kind,
        area_hundredths_m2=area_hundredths_m2,
        location=location,
        photo_url=photo_url,
        allow_shared_care=allow_shared_care,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(space)
    except IntegrityError as exc:
        raise AlreadyExists(
            f"space {name!r} already exists in this village",
            detail_zh=f"本村已有名为「{name}」的场地",
        ) from exc
    return space


def get_space(session: Session, space_id: uuid.UUID, *, for_update: bool = False) -> Space:
    query = select(Space).where(Space.id == space_id)
    if for_update:
        # Serialises claims on one space (PostgreSQL; SQLite has one writer anyway).
        query = query.with_for_update()
    space = session.execute(query).scalar_one_or_none()
    if space is None:
        raise NotFound("space", space_id)
    return space


def list_spaces(
    session: Session, *, village_id: uuid.UUID | None, limit: int, cursor: str | None
) -> Page[Space]:
    query = select(Space)
    if village_id is not None:
        query = query.where(Space.village_id == village_id)
    return page_by_id(session, query, Space, limit, cursor)


def update_space(
    session: Session, space_id: uuid.UUID, *, changes: dict[str, Any], now: datetime
) -> Space:
    """`changes` holds only the fields given. Refusing shared care again is refused while
    claims that overlap each other remain."""
    space = get_space(session, space_id, for_update=True)
    if changes.get("allow_shared_care") is False and space.allow_shared_care:
        claims = _claims_of(session, space.id)
        for i, first in enumerate(claims):
            for second in claims[i + 1 :]:
                if _overlap(first.starts_on, first.ends_on, second.starts_on, second.ends_on):
                    raise errors.SharedCareInUse(first_claim_id=first.id, second_claim_id=second.id)
    for field, value in changes.items():
        setattr(space, field, value)
    space.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(
            f"space {space.name!r} already exists in this village",
            detail_zh=f"本村已有名为「{space.name}」的场地",
        ) from exc
    return space


# --- claims ----------------------------------------------------------------------------


def get_claim(session: Session, claim_id: uuid.UUID) -> SpaceClaim:
    claim = session.get(SpaceClaim, claim_id)
    if claim is None:
        raise NotFound("space claim", claim_id)
    return claim


def list_claims(
    session: Session, *, space_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[SpaceClaim]:
    """The space's whole history, ended and passed-on claims included."""
    get_space(session, space_id)
    query = select(SpaceClaim).where(SpaceClaim.space_id == space_id)
    return page_by_id(session, query, SpaceClaim, limit, cursor)


def claim(
    session: Session,
    *,
    space_id: uuid.UUID,
    claimant: Claimant,
    starts_on: date,
    ends_on: date | None,
    note: str,
    actor: str,
    now: datetime,
) -> SpaceClaim:
    if ends_on is not None and ends_on < starts_on:
        raise errors.ClaimEndBeforeStart(
            f"ends_on {ends_on} is before starts_on {starts_on}",
            detail_zh=f"结束日期 {ends_on} 早于开始日期 {starts_on}",
            starts_on=starts_on.isoformat(),
        )
    space = get_space(session, space_id, for_update=True)
    row = _new_claim(session, space, claimant, starts_on, ends_on, note, actor, now, skip=None)
    events.emit(
        session,
        event_type=events.EventType.SPACE_CLAIMED,
        township_id=space.township_id,
        village_id=space.village_id,
        member_id=row.member_id,
        household_id=row.household_id,
        data={"space_id": str(space.id), "claim": claim_data(row)},
        now=now,
    )
    return row


def end_claim(
    session: Session, claim_id: uuid.UUID, *, ends_on: date, actor: str, now: datetime
) -> SpaceClaim:
    """Ends a claim early: ends_on is its last day of care."""
    row = get_claim(session, claim_id)
    space = get_space(session, row.space_id, for_update=True)
    session.refresh(row)
    _shorten(row, ends_on)
    row.end_reason = END_ENDED
    row.ended_at = now
    session.flush()
    events.emit(
        session,
        event_type=events.EventType.SPACE_CLAIM_ENDED,
        township_id=space.township_id,
        village_id=space.village_id,
        member_id=row.member_id,
        household_id=row.household_id,
        data={"space_id": str(space.id), "ended_by": actor, "claim": claim_data(row)},
        now=now,
    )
    return row


def transfer_claim(
    session: Session,
    claim_id: uuid.UUID,
    *,
    claimant: Claimant,
    starts_on: date,
    ends_on: date | None,
    note: str,
    actor: str,
    now: datetime,
) -> tuple[SpaceClaim, SpaceClaim]:
    """Passes a claim on: the old one ends the day before the new one starts. Returns
    (old, new)."""
    if ends_on is not None and ends_on < starts_on:
        raise errors.ClaimEndBeforeStart(
            f"ends_on {ends_on} is before starts_on {starts_on}",
            detail_zh=f"结束日期 {ends_on} 早于开始日期 {starts_on}",
            starts_on=starts_on.isoformat(),
        )
    old = get_claim(session, claim_id)
    space = get_space(session, old.space_id, for_update=True)
    session.refresh(old)
    _shorten(old, starts_on - timedelta(days=1))
    new = _new_claim(session, space, claimant, starts_on, ends_on, note, actor, now, skip=old.id)
    old.end_reason = END_TRANSFERRED
    old.transferred_to_claim_id = new.id
    old.ended_at = now
    session.flush()
    events.emit(
        session,
        event_type=events.EventType.SPACE_CLAIM_TRANSFERRED,
        township_id=space.township_id,
        village_id=space.village_id,
        member_id=new.member_id,
        household_id=new.household_id,
        data={
            "space_id": str(space.id),
            "from_claim": claim_data(old),
            "to_claim": claim_data(new),
        },
        now=now,
    )
    return old, new


def claim_data(row: SpaceClaim) -> dict[str, Any]:
    """The claim as plain JSON, for events."""
    return {
        "id": str(row.id),
        "claimant_kind": row.claimant_kind,
        "claimant_id": str(_claimant_id(row)),
        "starts_on": row.starts_on.isoformat(),
        "ends_on": row.ends_on.isoformat() if row.ends_on else None,
        "end_reason": row.end_reason,
    }


# --- helpers ---------------------------------------------------------------------------


def _overlap(a_start: date, a_end: date | None, b_start: date, b_end: date | None) -> bool:
    return (b_end is None or a_start <= b_end) and (a_end is None or b_start <= a_end)


def _claims_of(session: Session, space_id: uuid.UUID) -> list[SpaceClaim]:
    query = (
        select(SpaceClaim)
        .where(SpaceClaim.space_id == space_id)
        .order_by(SpaceClaim.starts_on, SpaceClaim.id)
    )
    return list(session.execute(query).scalars())


def _shorten(row: SpaceClaim, last_day: date) -> None:
    if row.end_reason is not None:
        raise errors.ClaimAlreadyEnded(
            f"claim {row.id} was already {row.end_reason}",
            detail_zh=f"认领 {row.id} 已{_END_REASONS_ZH.get(row.end_reason, row.end_reason)}",
            end_reason=row.end_reason,
        )
    if last_day < row.starts_on:
        raise errors.ClaimEndBeforeStart(
            f"the claim starts on {row.starts_on}; it cannot end on {last_day}",
            detail_zh=f"该认领自 {row.starts_on} 开始，不能在 {last_day} 结束",
            starts_on=row.starts_on.isoformat(),
        )
    if row.ends_on is not None and last_day > row.ends_on:
        raise errors.ClaimEndAfterPlannedEnd(
            f"the claim already ends on {row.ends_on}; it cannot run to {last_day}",
            detail_zh=f"该认领原定于 {row.ends_on} 结束，不能延长到 {last_day}",
            ends_on=row.ends_on.isoformat(),
        )
    row.ends_on = last_day


def _new_claim(
    session: Session,
    space: Space,
    claimant: Claimant,
    starts_on: date,
    ends_on: date | None,
    note: str,
    actor: str,
    now: datetime,
    *,
    skip: uuid.UUID | None,
) -> SpaceClaim:
    _check_claimant(session, space, claimant, starts_on)
    if not space.allow_shared_care:
        clash = session.execute(
            select(SpaceClaim)
            .where(
                SpaceClaim.space_id == space.id,
                SpaceClaim.id != skip if skip is not None else true(),
                or_(SpaceClaim.ends_on.is_(None), SpaceClaim.ends_on >= starts_on),
                SpaceClaim.starts_on <= ends_on if ends_on is not None else true(),
            )
            .order_by(SpaceClaim.starts_on, SpaceClaim.id)
            .limit(1)
        ).scalar_one_or_none()
        if clash is not None:
            raise errors.SpaceAlreadyClaimed(
                claim_id=clash.id,
                claimant_kind=clash.claimant_kind,
                claimant_id=_claimant_id(clash),
                claimant_name=_claimant_name(session, clash),
                claim_starts_on=clash.starts_on,
                claim_ends_on=clash.ends_on,
            )
    row = SpaceClaim(
        id=new_id(),
        township_id=space.township_id,
        village_id=space.village_id,
        space_id=space.id,
        claimant_kind=claimant.kind,
        member_id=claimant.member_id,
        household_id=claimant.household_id,
        organisation_id=claimant.organisation_id,
        starts_on=starts_on,
        ends_on=ends_on,
        note=note,
        end_reason=None,
        transferred_to_claim_id=None,
        created_by=actor,
        created_at=now,
        ended_at=None,
    )
    session.add(row)
    session.flush()
    return row


def _check_claimant(session: Session, space: Space, claimant: Claimant, starts_on: date) -> None:
    if claimant.member_id is not None:
        member = session.get(Member, claimant.member_id)
        if member is None:
            raise NotFound("member", claimant.member_id)
        if member.village_id != space.village_id:
            raise errors.ClaimantNotInVillage(claimant_kind="member")
        if member.deactivated_on is not None and member.deactivated_on <= starts_on:
            raise errors.ClaimantInactive(deactivated_on=member.deactivated_on.isoformat())
    elif claimant.household_id is not None:
        household = session.get(Household, claimant.household_id)
        if household is None:
            raise NotFound("household", claimant.household_id)
        if household.village_id != space.village_id:
            raise errors.ClaimantNotInVillage(claimant_kind="household")
    else:
        assert claimant.organisation_id is not None
        organisation = session.get(Organisation, claimant.organisation_id)
        if organisation is None:
            raise NotFound("organisation", claimant.organisation_id)
        # Organisations are registered per township: the village's own township.
        if organisation.township_id != space.township_id:
            raise errors.ClaimantNotInVillage(claimant_kind="organisation")


def _claimant_id(row: SpaceClaim) -> uuid.UUID:
    found = row.member_id or row.household_id or row.organisation_id
    assert found is not None
    return found


def _claimant_name(session: Session, row: SpaceClaim) -> str:
    model: Any = {"member": Member, "household": Household, "organisation": Organisation}[
        row.claimant_kind
    ]
    found = session.get(model, _claimant_id(row))
    return str(found.name) if found is not None else ""
