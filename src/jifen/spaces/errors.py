"""Why a space or a claim on it is refused."""

from __future__ import annotations

import uuid
from datetime import date

from jifen.problems import Problem

_CLAIMANT_KINDS_ZH = {"member": "村民", "household": "户", "organisation": "组织"}


class SpaceAlreadyClaimed(Problem):
    code = "space_already_claimed"
    title = "The space already has a claimant on those dates"
    title_zh = "该场地在这段日期内已有认领人"
    status = 409

    def __init__(
        self,
        *,
        claim_id: uuid.UUID,
        claimant_kind: str,
        claimant_id: uuid.UUID,
        claimant_name: str,
        claim_starts_on: date,
        claim_ends_on: date | None,
    ) -> None:
        until = claim_ends_on.isoformat() if claim_ends_on else "open-ended"
        until_zh = f"至 {claim_ends_on.isoformat()}" if claim_ends_on else "未定结束日期"
        kind_zh = _CLAIMANT_KINDS_ZH.get(claimant_kind, claimant_kind)
        super().__init__(
            f"{claimant_kind} {claimant_name!r} holds this space from "
            f"{claim_starts_on.isoformat()} ({until}) and it does not allow shared care",
            detail_zh=f"该场地已由{kind_zh}「{claimant_name}」认领"
            f"（自 {claim_starts_on.isoformat()} 起，{until_zh}），且不允许共同认管",
            current_claim_id=str(claim_id),
            claimant_kind=claimant_kind,
            claimant_id=str(claimant_id),
            claimant_name=claimant_name,
        )


class ClaimantNotInVillage(Problem):
    code = "claimant_not_in_village"
    title = "The claimant does not belong to the space's village"
    title_zh = "认领人不属于该场地所在的村"
    status = 422


class ClaimantInactive(Problem):
    code = "claimant_inactive"
    title = "The member was deactivated before the claim starts"
    title_zh = "该村民在认领开始前已停用"
    status = 422


class ClaimAlreadyEnded(Problem):
    code = "space_claim_already_ended"
    title = "The claim has already been ended or passed on"
    title_zh = "该认领已结束或已转交"
    status = 409


class ClaimEndBeforeStart(Problem):
    code = "space_claim_end_before_start"
    title = "A claim cannot end before it starts"
    title_zh = "认领的结束日期不能早于开始日期"
    status = 422


class ClaimEndAfterPlannedEnd(Problem):
    code = "space_claim_end_after_planned_end"
    title = "Ending a claim can only shorten it, never extend it"
    title_zh = "提前结束只能缩短认领期，不能延长"
    status = 422


class SharedCareInUse(Problem):
    code = "shared_care_in_use"
    title = "Claims overlap on this space: shared care cannot be switched off"
    title_zh = "该场地有时间重叠的多个认领，不能取消共同认管"
    status = 409

    def __init__(self, *, first_claim_id: uuid.UUID, second_claim_id: uuid.UUID) -> None:
        super().__init__(
            f"claims {first_claim_id} and {second_claim_id} overlap; end one first",
            detail_zh=f"认领 {first_claim_id} 与 {second_claim_id} 时间重叠，请先结束其中之一",
            first_claim_id=str(first_claim_id),
            second_claim_id=str(second_claim_id),
        )


class SpaceNotInspected(Problem):
    code = "space_kind_not_inspected"
    title = "The charter in force does not inspect spaces of this kind"
    title_zh = "现行村规民约未规定此类场地的巡查"
    status = 409

    def __init__(self, kind: str, day: date) -> None:
        super().__init__(
            f"the charter in force on {day.isoformat()} has no inspections for {kind!r} "
            "spaces (charter: inspections[].space_kind)",
            detail_zh=f"{day.isoformat()} 现行村规民约未规定 {kind} 类场地的巡查",
            space_kind=kind,
            on=day.isoformat(),
        )


class InspectionAlreadyDone(Problem):
    code = "inspection_already_done"
    title = "The space was already inspected in this period"
    title_zh = "该场地本周期已巡查"
    status = 409

    def __init__(self, inspection_id: uuid.UUID, start: date, end: date) -> None:
        super().__init__(
            f"inspection {inspection_id} already counts for {start.isoformat()} to "
            f"{end.isoformat()} (exclusive)",
            detail_zh=f"巡查 {inspection_id} 已计入 {start.isoformat()} 至 {end.isoformat()}"
            "（不含该日）这一周期",
            inspection_id=str(inspection_id),
            period_start=start.isoformat(),
            period_end=end.isoformat(),
        )


class SpaceNotClaimed(Problem):
    code = "space_not_claimed"
    title = "Nobody cared for the space on the inspection's day"
    title_zh = "巡查当日该场地无人认领"
    status = 409

    def __init__(self, name: str, day: date) -> None:
        super().__init__(
            f"space {name!r} had no claimant on {day.isoformat()}",
            detail_zh=f"场地「{name}」在 {day.isoformat()} 无认领人",
            on=day.isoformat(),
        )
