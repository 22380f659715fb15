"""Charter versions: upload (draft), publish, find the version in force, compile.

A version's document is never changed after upload; a change is a new version. A
version takes effect on its effective date, which must come after every published
version's and after every event already scored in the village.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from jifen.charters import errors
from jifen.charters.document import (
    Charter,
    CharterInvalid,
    DeductionFloor,
    FieldError,
    compile_charter,
    role_codes_named,
)
from jifen.kit.canonical import canonical_json
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_by_id
from jifen.ledger import writer
from jifen.models import CharterVersion, Record, Role
from jifen.problems import NotFound
from jifen.tenancy import service as tenancy

DRAFT = "draft"
PUBLISHED = "published"
_VERSION_STATUS_ZH = {DRAFT: "草稿", PUBLISHED: "已发布"}


def _invalid(problem: CharterInvalid) -> errors.CharterInvalidProblem:
    return errors.CharterInvalidProblem(
        f"{len(problem.errors)} error(s): {problem}",
        detail_zh=f"章程文件有 {len(problem.errors)} 处错误："
        + errors.fields_zh(e.field for e in problem.errors),
        errors=[e.as_error() for e in problem.errors],
    )


def validate(session: Session, *, village_id: uuid.UUID, data: Any) -> Charter:
    """Compile a document and check the roles it names exist for the village."""
    village = tenancy.get_village(session, village_id)
    try:
        charter = compile_charter(data)
    except CharterInvalid as problem:
        raise _invalid(problem) from None
    known = set(
        session.execute(
            select(Role.code).where(
                or_(Role.township_id.is_(None), Role.township_id == village.township_id)
            )
        ).scalars()
    )
    missing = [
        FieldError(field, f"no role {code!r} in this township", f"本乡镇没有角色 {code}")
        for field, code in role_codes_named(charter.document)
        if code not in known
    ]
    if missing:
        raise _invalid(CharterInvalid(missing))
    return charter


def create_version(
    session: Session,
    *,
    village_id: uuid.UUID,
    data: Any,
    actor: str,
    now: datetime,
    publish: bool = False,
) -> CharterVersion:
    charter = validate(session, village_id=village_id, data=data)
    village = tenancy.get_village(session, village_id)
    stored = charter.document.model_dump(mode="json")
    last = session.execute(
        select(func.max(CharterVersion.version)).where(CharterVersion.village_id == village_id)
    ).scalar_one()
    version = CharterVersion(
        id=new_id(),
        township_id=village.township_id,
        village_id=village_id,
        version=(last or 0) + 1,
        title=charter.document.title,
        effective_on=charter.document.effective_on,
        status=DRAFT,
        document=stored,
        document_sha256=hashlib.sha256(canonical_json(stored)).hexdigest(),
        created_at=now,
        created_by=actor,
        published_at=None,
        published_by=None,
    )
    session.add(version)
    session.flush()
    if publish:
        publish_version(session, version_id=version.id, actor=actor, now=now)
    return version


def publish_version(
    session: Session, *, version_id: uuid.UUID, actor: str, now: datetime
) -> CharterVersion:
    version = get_version(session, version_id)
    # The books lock orders publishing against scoring in the village.
    writer.lock_books(session, version.village_id)
    session.refresh(version)
    if version.status != DRAFT:
        raise errors.CharterVersionNotDraft(
            f"version {version.version} is already {version.status}",
            detail_zh=f"第 {version.version} 版的状态为"
            f"「{_VERSION_STATUS_ZH.get(version.status, version.status)}」，不是草稿",
            version=version.version,
        )
    latest = session.execute(
        select(func.max(CharterVersion.effective_on)).where(
            CharterVersion.village_id == version.village_id,
            CharterVersion.status == PUBLISHED,
        )
    ).scalar_one()
    if latest is not None and version.effective_on <= latest:
        raise errors.CharterEffectiveDateTaken(
            f"version {version.version} takes effect on {version.effective_on}, not after the "
            f"published version in force from {latest}",
            detail_zh=f"第 {version.version} 版的生效日期为 {version.effective_on}，"
            f"不晚于自 {latest} 起生效的已发布版本",
            effective_on=version.effective_on.isoformat(),
            latest_effective_on=latest.isoformat(),
        )
    scored = session.execute(
        select(func.count(Record.id)).where(
            Record.village_id == version.village_id,
            Record.occurred_on >= version.effective_on,
            # Rejected records were never booked; revoked and amended ones no longer count
            # (an amended record's correction is a record of its own).
            Record.status.not_in(("rejected", "revoked", "amended")),
        )
    ).scalar_one()
    if scored:
        raise errors.CharterWouldRescore(
            f"{scored} event(s) on or after {version.effective_on} were already scored; "
            "a new version takes effect after them",
            detail_zh=f"{version.effective_on} 当天及之后已有 {scored} 个事件计过分；"
            "新版本须在这些事件之后生效",
            records=scored,
        )
    version.status = PUBLISHED
    version.published_at = now
    version.published_by = actor
    charter = compiled(version)
    if charter.document.settings.deduction_floor is DeductionFloor.NEGATIVE:
        _allow_debt(session, version.village_id, charter)
    session.flush()
    return version


def _allow_debt(session: Session, village_id: uuid.UUID, charter: Charter) -> None:
    """A charter that lets deductions go below zero records that on the village, so the
    ledger lets those entries (and only those) pass the floor."""
    village = tenancy.get_village(session, village_id)
    codes = {deduction_code(rule.document.category) for rule in charter.rules.values()}
    current = set(village.allow_below_floor_codes or [])
    if not codes <= current:
        village.allow_below_floor_codes = sorted(current | codes)


_ASCII_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def entry_code_stem(category: str) -> str:
    """The ASCII stem of a category's entry codes, stable for as long as the category is.

    A lower_snake_case category is its own stem (the codes books already carry). Any
    other (党建引领, Eco-1) gets `cat_` and 12 hex digits of its SHA-256: it depends on
    no library's transliteration, so it never changes under a book's feet.
    """
    if _ASCII_CATEGORY.match(category):
        return category
    return "cat_" + hashlib.sha256(category.encode("utf-8")).hexdigest()[:12]


def award_code(category: str) -> str:
    return f"{entry_code_stem(category)}_award"


def deduction_code(category: str) -> str:
    return f"{entry_code_stem(category)}_deduction"


def get_version(session: Session, version_id: uuid.UUID) -> CharterVersion:
    version = session.get(CharterVersion, version_id)
    if version is None:
        raise NotFound("charter version", version_id)
    return version


def list_versions(
    session: Session, *, village_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[CharterVersion]:
    tenancy.get_village(session, village_id)
    query = select(CharterVersion).where(CharterVersion.village_id == village_id)
    return page_by_id(session, query, CharterVersion, limit=limit, cursor=cursor)


def find_in_force(session: Session, village_id: uuid.UUID, on: date) -> CharterVersion | None:
    return session.execute(
        select(CharterVersion)
        .where(
            CharterVersion.village_id == village_id,
            CharterVersion.status == PUBLISHED,
            CharterVersion.effective_on <= on,
        )
        .order_by(CharterVersion.effective_on.desc())
        .limit(1)
    ).scalar_one_or_none()


def in_force(session: Session, village_id: uuid.UUID, on: date) -> CharterVersion:
    version = find_in_force(session, village_id, on)
    if version is None:
        raise errors.NoCharterInForce(
            f"no published charter version was in force on {on}",
            detail_zh=f"{on} 没有生效的已发布章程版本",
            on=on.isoformat(),
        )
    return version


@dataclass(frozen=True)
class VersionRef:
    """What scoring needs of a version, without loading its document."""

    id: uuid.UUID
    version: int
    township_id: uuid.UUID
    document_sha256: str


_IN_FORCE_REF = (
    select(
        CharterVersion.id,
        CharterVersion.version,
        CharterVersion.township_id,
        CharterVersion.document_sha256,
    )
    .where(
        CharterVersion.village_id == bindparam("village_id"),
        CharterVersion.status == PUBLISHED,
        CharterVersion.effective_on <= bindparam("on"),
    )
    .order_by(CharterVersion.effective_on.desc())
    .limit(1)
)


def charter_in_force(
    session: Session, village_id: uuid.UUID, on: date
) -> tuple[VersionRef, Charter]:
    """The version in force on a day, compiled; the document is read only the first time
    this process sees the version."""
    row = session.connection().execute(_IN_FORCE_REF, {"village_id": village_id, "on": on}).first()
    if row is None:
        raise errors.NoCharterInForce(
            f"no published charter version was in force on {on}",
            detail_zh=f"{on} 没有生效的已发布章程版本",
            on=on.isoformat(),
        )
    ref = VersionRef(*row)
    charter = _cached(ref.id, ref.document_sha256)
    if charter is None:
        charter = compiled(get_version(session, ref.id))
    return ref, charter


# Compiled charters by (version id, document hash): a version's document never changes.
_COMPILED_MAX = 256
_compiled: dict[tuple[uuid.UUID, str], Charter] = {}
_compiled_lock = threading.Lock()


def _cached(version_id: uuid.UUID, sha256: str) -> Charter | None:
    with _compiled_lock:
        return _compiled.get((version_id, sha256))


def compiled(version: CharterVersion) -> Charter:
    """The compiled charter of a version (cached: a version's document never changes)."""
    key = (version.id, version.document_sha256)
    charter = _cached(*key)
    if charter is not None:
        return charter
    try:
        charter = compile_charter(version.document, stored=True)
    except CharterInvalid as problem:
        # Valid when uploaded: a rule type it names is no longer installed.
        raise errors.CharterUnavailable(
            f"charter version {version.version} cannot be loaded: {problem}",
            detail_zh=f"第 {version.version} 版章程无法在本服务器加载（"
            + errors.fields_zh(e.field for e in problem.errors)
            + "）",
            version=version.version,
            errors=[e.as_error() for e in problem.errors],
        ) from None
    with _compiled_lock:
        if len(_compiled) >= _COMPILED_MAX:
            _compiled.clear()
        _compiled[key] = charter
    return charter


def versions_named(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CharterVersion]:
    rows = session.execute(select(CharterVersion).where(CharterVersion.id.in_(list(ids))))
    return {row.id: row for row in rows.scalars()}
