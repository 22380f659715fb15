"""What-if (测算): a period under another scheme version or a draft document, side by side
with the period's approved settlement (or its latest draft, or, with neither, what the
scheme in force gives). Nothing is stored and nothing is booked.

Both sides read the books as they are now, except a stored baseline, which is what it
was when computed: `facts_changed` says whether the books moved since, so that a
difference is not mistaken for the scheme's alone.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.kit.canonical import canonical_json, sha256_hex
from jifen.models import SchemeVersion, Settlement, SettlementApproval
from jifen.problems import NotFound
from jifen.subsidies import errors
from jifen.subsidies import service as subsidies
from jifen.subsidies.scheme import SchemeInvalid, compile_scheme
from jifen.tenancy import service as tenancy

SIDE_FIELDS = ("eligible", "score", "rank", "tier_id", "tier_label", "award_fen", "explanation")


def _baseline(
    session: Session, township_id: uuid.UUID, first: date, last: date
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the baseline is, its result): approved, else the latest draft, else computed."""
    approved = session.execute(
        select(Settlement)
        .join(SettlementApproval, SettlementApproval.settlement_id == Settlement.id)
        .where(
            SettlementApproval.township_id == township_id,
            SettlementApproval.period_start == first,
            SettlementApproval.period_end == last,
        )
    ).scalar_one_or_none()
    stored = (
        approved
        or session.execute(
            select(Settlement)
            .where(
                Settlement.township_id == township_id,
                Settlement.period_start == first,
                Settlement.period_end == last,
            )
            .order_by(Settlement.created_at.desc(), Settlement.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    )
    if stored is not None:
        result = subsidies.result_of(stored)
        source = "approved" if approved is not None else "draft"
        settlement_id: str | None = str(stored.id)
    else:
        result = subsidies.compute(session, township_id=township_id, first=first, last=last).result
        source, settlement_id = "scheme_in_force", None
    scheme = result["scheme"]
    return {
        "source": source,
        "settlement_id": settlement_id,
        "scheme_version_id": str(uuid.UUID(scheme["version_id"])),
        "scheme_version": scheme["version"],
        "title": scheme["title"],
        "document_sha256": scheme["document_sha256"],
        "total_fen": int(result["total_fen"]),
    }, result


def _side(village: dict[str, Any] | None) -> dict[str, Any] | None:
    if village is None:
        return None
    return {name: village.get(name) for name in SIDE_FIELDS}


def what_if(
    session: Session,
    *,
    township_id: uuid.UUID,
    first: date,
    last: date,
    scheme_version_id: uuid.UUID | None,
    document: dict[str, Any] | None,
) -> dict[str, Any]:
    tenancy.get_township(session, township_id)
    if last < first:
        raise errors.PeriodInvalid(
            f"the period ends {last}, before it starts {first}",
            detail_zh=f"期间的结束日期 {last} 早于开始日期 {first}",
        )
    if (scheme_version_id is None) == (document is None):
        raise errors.WhatIfSchemeInvalid(
            "give exactly one of scheme_version_id and scheme",
            detail_zh="scheme_version_id 和 scheme 须且只须填写一项",
        )
    if scheme_version_id is not None:
        version = session.get(SchemeVersion, scheme_version_id)
        if version is None or version.township_id != township_id:
            raise NotFound("subsidy scheme version", scheme_version_id)
        scheme = compile_scheme(version.document)
        described: dict[str, Any] = {
            "scheme_version_id": str(version.id),
            "scheme_version": version.version,
            "title": version.title,
            "document_sha256": version.document_sha256,
        }
    else:
        try:
            scheme = compile_scheme(document)
        except SchemeInvalid as invalid:
            raise errors.SchemeInvalidProblem(
                str(invalid),
                detail_zh=f"补助方案文件有 {len(invalid.errors)} 处错误："
                + "、".join(dict.fromkeys(f"scheme.{e.field}" for e in invalid.errors)),
                errors=[e.as_error("scheme.") for e in invalid.errors],
            ) from None
        dumped = scheme.document.model_dump(mode="json")
        described = {
            "scheme_version_id": None,
            "scheme_version": None,
            "title": scheme.document.title,
            "document_sha256": sha256_hex(canonical_json(dumped)),
        }
    baseline, base_result = _baseline(session, township_id, first, last)
    facts = subsidies.village_facts(session, township_id=township_id, first=first, last=last)
    outcome = subsidies.settle_facts(scheme, facts)
    described["total_fen"] = int(outcome["total_fen"])
    before = {v["village_id"]: v for v in base_result["villages"]}
    after = {v["village_id"]: v for v in outcome["villages"]}
    rows = []
    for village_id in sorted(
        before.keys() | after.keys(), key=lambda v: ((before.get(v) or after[v])["code"], v)
    ):
        one, other = before.get(village_id), after.get(village_id)
        shown = other or one
        assert shown is not None
        rows.append(
            {
                "village_id": village_id,
                "code": shown["code"],
                "name": shown["name"],
                "region": shown.get("region"),
                "baseline": _side(one),
                "what_if": _side(other),
                "difference_fen": (int(other["award_fen"]) if other else 0)
                - (int(one["award_fen"]) if one else 0),
            }
        )
    now_facts = {f.village_id: f.as_json() for f in facts}
    return {
        "township_id": str(township_id),
        "period_start": first,
        "period_end": last,
        "baseline": baseline,
        "what_if": described,
        "facts_changed": {k: v.get("facts") for k, v in before.items()} != now_facts,
        "villages": rows,
        "total_difference_fen": described["total_fen"] - baseline["total_fen"],
    }
