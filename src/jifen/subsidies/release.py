"""以奖代补 withholding and release: part of an award held back until the village's
projects pass acceptance (验收).

Invariants:
- with a scheme's `withholding` (share s, 0 < s < 1), each village's award A is split at
  settlement time: withheld W = A × s rounded down to the scheme's rounding unit, paid now
  P = A − W; P + W = A to the fen;
- approval books P FUNDING(township_subsidy) → SUBSIDY(main) as every award, and W
  FUNDING(township_subsidy) → SUBSIDY(withheld), each with its own idempotency key; both
  entries say where the money may go (earmark project_construction, the project ids);
- W moves once: SUBSIDY(withheld) → SUBSIDY(main) when every project of the village in
  the period has passed acceptance, or SUBSIDY(withheld) → FUNDING(township_subsidy)
  (back to the township's pool) when one failed; never before every project has an
  acceptance; a retry answers the first release and books nothing;
- a project's acceptance is recorded once.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.kit.ids import new_id
from jifen.labor import service as labor
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import (
    Project,
    ProjectAcceptance,
    Settlement,
    SubsidyRelease,
    SubsidyWithholding,
)
from jifen.problems import NotFound
from jifen.subsidies import errors
from jifen.subsidies.plugins import format_value, yuan
from jifen.subsidies.scheme import Rounding, Scheme
from jifen.webhooks import events

EARMARK = "project_construction"
FUNDING_TOWNSHIP = "township_subsidy"
SUBSIDY_MAIN = "main"
SUBSIDY_WITHHELD = "withheld"
CODE_WITHHELD = "subsidy_withheld"
CODE_RELEASE = "subsidy_release"
CODE_RETURN = "subsidy_return"
ACTOR = "system:subsidies"
PASSED, FAILED = "passed", "failed"
RELEASED, RETURNED = "released", "returned"

# --- the split (pure) -----------------------------------------------------------------------


def split(award_fen: int, share: Decimal, unit_fen: int) -> tuple[int, int]:
    """(paid now, withheld): the withheld part is award × share rounded down to the unit,
    the paid part the rest, so that they add up to the award exactly."""
    units = (Decimal(award_fen) * share / unit_fen).to_integral_value(rounding=ROUND_FLOOR)
    withheld = int(units) * unit_fen
    return award_fen - withheld, withheld


def annotate(scheme: Scheme, outcome: dict[str, Any]) -> dict[str, Any]:
    """The settlement's villages with their paid-now and withheld parts, when the scheme
    withholds; the outcome unchanged when it does not."""
    withholding = scheme.document.withholding
    if withholding is None:
        return outcome
    unit = 100 if scheme.document.rounding.unit is Rounding.YUAN else 1
    share_text = format_value(withholding.share, "ratio")
    villages = []
    for village in outcome["villages"]:
        paid, withheld = split(int(village["award_fen"]), withholding.share, unit)
        explanation = village["explanation"]
        if withheld > 0:
            explanation += (
                f"其中即付 {yuan(paid)} 元，暂扣 {yuan(withheld)} 元（{share_text}），"
                "待本期项目验收合格后拨付，限用于项目建设。"
            )
        villages.append(
            {**village, "paid_now_fen": paid, "withheld_fen": withheld, "explanation": explanation}
        )
    return {
        **outcome,
        "villages": villages,
        "withholding": {
            "share": format(withholding.share.normalize(), "f"),
            "released_on": withholding.released_on.value,
        },
        "paid_now_total_fen": sum(v["paid_now_fen"] for v in villages),
        "withheld_total_fen": sum(v["withheld_fen"] for v in villages),
    }


# --- accounts and projects ------------------------------------------------------------------


def _account(
    session: Session,
    village_id: uuid.UUID,
    kind: AccountKind,
    category: str,
    name: str,
    now: Any,
) -> uuid.UUID:
    found = ledger.find_account_id(
        session, village_id=village_id, kind=kind, asset=Asset.CNY, category=category
    )
    if found is None:
        found = ledger.open_account(
            session,
            village_id=village_id,
            kind=kind,
            asset=Asset.CNY,
            category=category,
            name=name,
            now=now,
        ).id
    return found


def subsidy_account(session: Session, village_id: uuid.UUID, now: Any) -> uuid.UUID:
    return _account(
        session,
        village_id,
        AccountKind.SUBSIDY,
        SUBSIDY_MAIN,
        "以奖代补资金（限用于项目建设）",
        now,
    )


def withheld_account(session: Session, village_id: uuid.UUID, now: Any) -> uuid.UUID:
    return _account(
        session,
        village_id,
        AccountKind.SUBSIDY,
        SUBSIDY_WITHHELD,
        "以奖代补暂扣资金（待项目验收）",
        now,
    )


def township_account(session: Session, village_id: uuid.UUID, now: Any) -> uuid.UUID:
    return _account(
        session, village_id, AccountKind.FUNDING, FUNDING_TOWNSHIP, "乡镇以奖代补资金", now
    )


def project_ids_of(session: Session, village_id: uuid.UUID, first: date, last: date) -> list[str]:
    """The village's projects of the period (those a settlement counts: not cancelled, dates
    overlapping the period), in code order: where the award may go."""
    return [
        project_id.hex
        for project_id in session.execute(
            select(Project.id)
            .where(
                Project.village_id == village_id,
                Project.status != "cancelled",
                or_(Project.starts_on.is_(None), Project.starts_on <= last),
                or_(Project.ends_on.is_(None), Project.ends_on >= first),
            )
            .order_by(Project.code, Project.id)
        ).scalars()
    ]


# --- withholding at approval ----------------------------------------------------------------


def withhold(
    session: Session,
    *,
    settlement: Settlement,
    village_id: uuid.UUID,
    amount_fen: int,
    project_ids: list[str],
    memo: str,
    clock: ledger.Clock,
) -> SubsidyWithholding:
    """Book the withheld part of a village's award; the row is the caller's to add once
    the approval it hangs on is written."""
    entry = ledger.book(
        session,
        village_id=village_id,
        code=CODE_WITHHELD,
        postings=[
            ledger.PostingInput(township_account(session, village_id, clock.now), -amount_fen),
            ledger.PostingInput(withheld_account(session, village_id, clock.now), amount_fen),
        ],
        actor=ACTOR,
        clock=clock,
        memo=memo[:500],
        details={
            "settlement_id": settlement.id.hex,
            "result_sha256": settlement.result_sha256,
            "earmark": EARMARK,
            "project_ids": project_ids,
            "withheld_until": "acceptance",
        },
        idempotency_key=f"subsidy-settlement:{settlement.id.hex}:withheld",
    )
    return SubsidyWithholding(
        settlement_id=settlement.id,
        village_id=village_id,
        township_id=settlement.township_id,
        amount_fen=amount_fen,
        entry_id=entry.entry.id,
        project_ids=project_ids,
        created_at=clock.now,
    )


def withholdings_of(session: Session, settlement_id: uuid.UUID) -> list[SubsidyWithholding]:
    return list(
        session.execute(
            select(SubsidyWithholding)
            .where(SubsidyWithholding.settlement_id == settlement_id)
            .order_by(SubsidyWithholding.village_id)
        ).scalars()
    )


def releases_of(session: Session, settlement_id: uuid.UUID) -> dict[uuid.UUID, SubsidyRelease]:
    return {
        r.village_id: r
        for r in session.execute(
            select(SubsidyRelease).where(SubsidyRelease.settlement_id == settlement_id)
        ).scalars()
    }


# --- acceptance and release -----------------------------------------------------------------


def find_acceptance(session: Session, project_id: uuid.UUID) -> ProjectAcceptance | None:
    return session.execute(
        select(ProjectAcceptance).where(ProjectAcceptance.project_id == project_id)
    ).scalar_one_or_none()


def accept_project(
    session: Session,
    *,
    project_id: uuid.UUID,
    accepted_on: date,
    accepted_by: str,
    outcome: str,
    note: str,
    actor: str,
    clock: ledger.Clock,
) -> tuple[ProjectAcceptance, list[SubsidyRelease]]:
    """Record the project's acceptance, once; then release (or return to the pool) every
    withheld part that waited for it and whose projects are now all accepted."""
    project = labor.get_project(session, project_id)
    if find_acceptance(session, project_id) is not None:
        raise errors.ProjectAlreadyAccepted(
            f"project {project_id} has its acceptance",
            detail_zh=f"项目 {project_id} 已登记验收结果",
            project_id=str(project_id),
        )
    if project.status == "cancelled":
        raise errors.ProjectCancelled(
            f"project {project_id} is cancelled",
            detail_zh=f"项目 {project_id} 已取消",
            project_id=str(project_id),
        )
    acceptance = ProjectAcceptance(
        id=new_id(),
        township_id=project.township_id,
        village_id=project.village_id,
        project_id=project.id,
        accepted_on=accepted_on,
        accepted_by=accepted_by,
        outcome=outcome,
        note=note,
        created_at=clock.now,
        created_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(acceptance)
    except IntegrityError:
        raise errors.ProjectAlreadyAccepted(
            f"project {project_id} has its acceptance",
            detail_zh=f"项目 {project_id} 已登记验收结果",
            project_id=str(project_id),
        ) from None
    if outcome == PASSED:
        project.status = "accepted"
    session.flush()
    events.emit(
        session,
        event_type=events.EventType.PROJECT_ACCEPTED,
        township_id=project.township_id,
        village_id=project.village_id,
        data={
            "project_id": str(project.id),
            "project_code": project.code,
            "acceptance_id": str(acceptance.id),
            "accepted_on": accepted_on.isoformat(),
            "accepted_by": accepted_by,
            "outcome": outcome,
        },
        now=clock.now,
    )
    waiting = session.execute(
        select(SubsidyWithholding)
        .outerjoin(
            SubsidyRelease,
            (SubsidyRelease.settlement_id == SubsidyWithholding.settlement_id)
            & (SubsidyRelease.village_id == SubsidyWithholding.village_id),
        )
        .where(
            SubsidyWithholding.village_id == project.village_id,
            SubsidyRelease.settlement_id.is_(None),
        )
        .order_by(SubsidyWithholding.created_at, SubsidyWithholding.settlement_id)
    ).scalars()
    released = []
    for held in list(waiting):
        if project.id.hex not in held.project_ids:
            continue
        decided = _acceptances(session, held)
        if all(decided.get(p) is not None for p in held.project_ids):
            released.append(_release(session, held, decided, actor=actor, clock=clock))
    return acceptance, released


def _acceptances(session: Session, held: SubsidyWithholding) -> dict[str, ProjectAcceptance | None]:
    ids = [uuid.UUID(p) for p in held.project_ids]
    found = {
        a.project_id.hex: a
        for a in session.execute(
            select(ProjectAcceptance).where(ProjectAcceptance.project_id.in_(ids))
        ).scalars()
    }
    return {p: found.get(p) for p in held.project_ids}


def release(
    session: Session,
    *,
    settlement_id: uuid.UUID,
    village_id: uuid.UUID,
    actor: str,
    clock: ledger.Clock,
) -> SubsidyRelease:
    """Release the village's withheld part (or return it to the pool after a failed
    acceptance); refused while a project of the period has no acceptance. Once."""
    if session.get(Settlement, settlement_id) is None:
        raise NotFound("subsidy settlement", settlement_id)
    done = session.get(SubsidyRelease, (settlement_id, village_id))
    if done is not None:
        return done
    held = session.get(SubsidyWithholding, (settlement_id, village_id))
    if held is None:
        raise errors.NothingWithheld(
            f"settlement {settlement_id} withheld nothing of village {village_id}",
            detail_zh=f"结算单 {settlement_id} 没有暂扣村 {village_id} 的奖补资金",
            village_id=str(village_id),
        )
    if not held.project_ids:
        raise errors.ReleaseNoProject(
            f"village {village_id} had no project in the period",
            detail_zh=f"村 {village_id} 本期没有项目",
            village_id=str(village_id),
        )
    decided = _acceptances(session, held)
    missing = [p for p, a in decided.items() if a is None]
    if missing:
        raise errors.ReleaseNotAccepted(
            f"projects {', '.join(missing)} have no acceptance yet",
            detail_zh=f"项目 {'、'.join(missing)} 尚未验收",
            project_ids=[str(uuid.UUID(p)) for p in missing],
        )
    return _release(session, held, decided, actor=actor, clock=clock)


def _release(
    session: Session,
    held: SubsidyWithholding,
    decided: dict[str, ProjectAcceptance | None],
    *,
    actor: str,
    clock: ledger.Clock,
) -> SubsidyRelease:
    acceptances = [a for a in decided.values() if a is not None]
    failed = [a for a in acceptances if a.outcome == FAILED]
    outcome = RETURNED if failed else RELEASED
    village_id, amount = held.village_id, held.amount_fen
    withheld = withheld_account(session, village_id, clock.now)
    target = (
        township_account(session, village_id, clock.now)
        if failed
        else subsidy_account(session, village_id, clock.now)
    )
    acceptance_ids = [a.id.hex for a in acceptances]
    memo = (
        f"以奖代补暂扣资金 {yuan(amount)} 元：项目验收不合格，退回乡镇奖补资金池"
        if failed
        else f"以奖代补暂扣资金 {yuan(amount)} 元：本期项目验收合格，拨付村以奖代补资金"
    )
    entry = ledger.book(
        session,
        village_id=village_id,
        code=CODE_RETURN if failed else CODE_RELEASE,
        postings=[ledger.PostingInput(withheld, -amount), ledger.PostingInput(target, amount)],
        actor=ACTOR,
        clock=clock,
        memo=memo,
        details={
            "settlement_id": held.settlement_id.hex,
            "withheld_entry_id": held.entry_id.hex,
            "earmark": EARMARK,
            "project_ids": held.project_ids,
            "acceptance_ids": acceptance_ids,
            "outcome": outcome,
        },
        idempotency_key=f"subsidy-release:{held.settlement_id.hex}",
    )
    if entry.replayed:
        # Another request released it between our read and the books lock.
        done = session.get(SubsidyRelease, (held.settlement_id, village_id))
        if done is not None:
            return done
    row = SubsidyRelease(
        settlement_id=held.settlement_id,
        village_id=village_id,
        township_id=held.township_id,
        outcome=outcome,
        amount_fen=amount,
        entry_id=entry.entry.id,
        acceptance_ids=acceptance_ids,
        released_at=clock.now,
        released_by=actor,
    )
    session.add(row)
    session.flush()
    events.emit(
        session,
        event_type=events.EventType.SUBSIDY_RELEASED,
        township_id=held.township_id,
        village_id=village_id,
        data={
            "settlement_id": str(held.settlement_id),
            "village_id": village_id.hex,
            "outcome": outcome,
            "amount_fen": amount,
            "entry_id": str(entry.entry.id),
            "withheld_entry_id": str(held.entry_id),
            "project_ids": [str(uuid.UUID(p)) for p in held.project_ids],
            "acceptance_ids": [str(uuid.UUID(a)) for a in acceptance_ids],
            "released_by": actor,
        },
        now=clock.now,
    )
    return row
