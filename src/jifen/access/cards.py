"""Member points cards (积分卡): signed, revocable, re-printable card tokens, their QR
images, a village's printable card sheet, and what the supermarket's till asks of a card.

A card token is `JFC1-` and the base32 (RFC 4648, upper case, unpadded) of the member's id
(16 bytes), the card's serial (3 bytes) and the first 15 bytes of an HMAC-SHA256 over both
under the service's card key. It uses only characters of a QR code's alphanumeric mode
(a smaller code) and is read without regard to case (a scanner typing with caps lock on).
Integrators treat it as opaque.

Invariants:
- Only the service can make a token: the card key lives in its database
  (`service_secrets`) and never leaves it. The same member and serial always give the
  same token, so cards can be printed again, any number of times, without changing them.
- A member's current serial is the number of cards issued to them (their rows of kind
  "card" in member_credentials): every member holds serial 0 from the start, and issuing
  a card adds a row, which moves the serial on: every older token is refused from that
  commit on. Rows are never deleted, so a serial never comes back; each row keeps the
  digest of its token in the unique `secret_hash`, so two issues at once cannot both
  make the same serial.
- Cards issued before signed cards (random `jfc_` tokens, kept as digests) stay valid
  until the member's card is issued again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import segno
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from jifen.access import credentials
from jifen.access.errors import CardInvalid, CardOfAnotherVillage, CardRevoked
from jifen.kit.clock import as_utc
from jifen.kit.ids import new_id
from jifen.models import Household, HouseholdMembership, Member, MemberCredential, Village
from jifen.problems import NotFound

CARD = "card"
TOKEN_PREFIX = "JFC1-"
_SERIAL_BYTES = 3
_MAC_BYTES = 15
_MAC_DOMAIN = b"jifen member card v1\x00"
_BODY_LENGTH = math.ceil((16 + _SERIAL_BYTES + _MAC_BYTES) * 8 / 5)
MEMBER_NUMBER_DIGITS = 8
# One sheet (one request) prints at most this many cards: 50 A4 pages of 10.
SHEET_CARDS_MAX = 500
CARDS_PER_PAGE = 10
FIND_RESULTS_MAX = 20
# Cards are handled and worn: the code can lose a quarter of itself and still read.
_QR_ERROR = "q"


# --- tokens -------------------------------------------------------------------------------


def make_key(session: Session, now: datetime) -> bytes:
    """The card key, made if it does not exist yet. Call it in a write: reads that print
    cards only read the key (`_printing_key`), and a read never keeps what it writes."""
    return credentials.signing_key(session, now, name=credentials.CARD_KEY_NAME)


def _printing_key(session: Session) -> bytes:
    key = credentials.stored_key(session, credentials.CARD_KEY_NAME)
    if key is None:
        # The API makes it before any read that prints (cards_router); a caller of the
        # service calls make_key in a write first.
        raise RuntimeError("the card key does not exist yet: call make_key in a write first")
    return key


def _mac(key: bytes, member_id: uuid.UUID, serial: int) -> bytes:
    message = _MAC_DOMAIN + member_id.bytes + serial.to_bytes(_SERIAL_BYTES, "big")
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def card_token(key: bytes, member_id: uuid.UUID, serial: int) -> str:
    raw = member_id.bytes + serial.to_bytes(_SERIAL_BYTES, "big") + _mac(key, member_id, serial)
    return TOKEN_PREFIX + _encode(raw)


def is_signed_card(token: str) -> bool:
    """Whether the token is in the signed format (else it may be an older random card)."""
    return token.strip().upper().startswith(TOKEN_PREFIX)


@dataclass(frozen=True)
class _Claim:
    member_id: uuid.UUID
    serial: int
    mac: bytes


def _parse(token: str) -> _Claim | None:
    text = token.strip().upper()
    body = text[len(TOKEN_PREFIX) :]
    if not text.startswith(TOKEN_PREFIX) or len(body) != _BODY_LENGTH:
        return None
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        return None
    if _encode(raw) != body:
        return None  # one spelling per card: the unused low bits must be zero
    serial_end = 16 + _SERIAL_BYTES
    return _Claim(
        member_id=uuid.UUID(bytes=raw[:16]),
        serial=int.from_bytes(raw[16:serial_end], "big"),
        mac=raw[serial_end:],
    )


def _cards_issued(session: Session, member_id: uuid.UUID) -> int:
    """The member's current serial: how many cards were issued to them."""
    count: int = session.execute(
        select(func.count())
        .select_from(MemberCredential)
        .where(MemberCredential.member_id == member_id, MemberCredential.kind == CARD)
    ).scalar_one()
    return count


def member_number(member_id: uuid.UUID) -> str:
    """The member's number (编号) on their card, which a cashier may type instead of
    scanning: eight digits of the member's id (of its random part, for ids this service
    makes), the same for as long as the member exists. Unique in practice, not by
    construction: a lookup by number may find two members."""
    return f"{member_id.int % 10**MEMBER_NUMBER_DIGITS:0{MEMBER_NUMBER_DIGITS}d}"


# --- issuing and reading a member's card -------------------------------------------------


@dataclass(frozen=True)
class Card:
    member: Member
    serial: int
    token: str
    # When the card was issued; None for the card every member holds from the start.
    issued_at: datetime | None

    @property
    def member_number(self) -> str:
        return member_number(self.member.id)


def issue_card(
    session: Session, *, member_id: uuid.UUID, created_by: str, now: datetime
) -> tuple[MemberCredential, str]:
    """A new card for the member: the serial moves on, and every older card of theirs is
    refused from this commit on. Returns the card's row and its token."""
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("member", member_id)
    key = make_key(session, now)
    # Cards issued before signed cards are rows of their own: revoke them too.
    session.execute(
        update(MemberCredential)
        .where(
            MemberCredential.member_id == member.id,
            MemberCredential.kind == CARD,
            MemberCredential.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    serial = _cards_issued(session, member.id) + 1
    token = card_token(key, member.id, serial)
    credential = MemberCredential(
        id=new_id(),
        member_id=member.id,
        village_id=member.village_id,
        kind=CARD,
        secret_hash=credentials.digest(token),
        created_at=now,
        created_by=created_by,
        expires_at=None,
        used_at=None,
        revoked_at=None,
    )
    session.add(credential)
    session.flush()
    return credential, token


def get_card(session: Session, member_id: uuid.UUID) -> Card:
    """The member's current card, as it is printed."""
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("member", member_id)
    issued = session.execute(
        select(func.count(), func.max(MemberCredential.created_at)).where(
            MemberCredential.member_id == member.id, MemberCredential.kind == CARD
        )
    ).one()
    serial, issued_at = int(issued[0]), issued[1]
    return Card(member, serial, card_token(_printing_key(session), member.id, serial), issued_at)


def member_for_card(session: Session, token: str, *, village_id: uuid.UUID | None) -> Member:
    """The member a scanned (or typed) card names — what the supermarket's till calls.

    The card must be one this service made, of the village `village_id` (None: of any
    village; binding checks the township itself), and the member's current card. Checked
    in that order, so a card of another village tells nothing more about its member.
    Whether the member may still spend (deactivation) is the ledger's to say.

    Raises CardInvalid (422 `card_invalid`), CardOfAnotherVillage (422
    `card_other_village`), CardRevoked (422 `card_revoked`, with the member's id and
    when the card was replaced).
    """
    if not is_signed_card(token):
        return _member_for_random_card(session, token, village_id=village_id)
    claim = _parse(token)
    key = credentials.stored_key(session, credentials.CARD_KEY_NAME)
    if (
        claim is None
        or key is None
        or not hmac.compare_digest(claim.mac, _mac(key, claim.member_id, claim.serial))
    ):
        raise CardInvalid(
            "the card was not made by this service, or it was misread",
            detail_zh="该卡不是本系统制发的，或读卡有误",
        )
    member = session.get(Member, claim.member_id)
    if member is None:
        raise CardInvalid(
            "the card names no member of this service", detail_zh="该卡对应的村民不在本系统中"
        )
    _refuse_other_village(member, village_id)
    current = _cards_issued(session, member.id)
    if claim.serial > current:
        # Only a database restored from before the card was issued gets here.
        raise CardInvalid(
            "the card is newer than any this service issued",
            detail_zh="该卡比本系统制发过的任何卡都新",
        )
    if claim.serial < current:
        replaced_at = session.execute(
            select(MemberCredential.created_at)
            .where(MemberCredential.member_id == member.id, MemberCredential.kind == CARD)
            .order_by(MemberCredential.created_at, MemberCredential.id)
            .offset(claim.serial)
            .limit(1)
        ).scalar_one()
        raise _revoked(member, replaced_at)
    return member


def _member_for_random_card(
    session: Session, token: str, *, village_id: uuid.UUID | None
) -> Member:
    """A card issued before cards were signed: known by the digest of its token."""
    credential = session.execute(
        select(MemberCredential).where(
            MemberCredential.secret_hash == credentials.digest(token.strip())
        )
    ).scalar_one_or_none()
    member = None if credential is None else session.get(Member, credential.member_id)
    if credential is None or credential.kind != CARD or member is None:
        raise CardInvalid(
            "the card was not made by this service, or it was misread",
            detail_zh="该卡不是本系统制发的，或读卡有误",
        )
    _refuse_other_village(member, village_id)
    if credential.revoked_at is not None:
        raise _revoked(member, credential.revoked_at)
    return member


def _refuse_other_village(member: Member, village_id: uuid.UUID | None) -> None:
    if village_id is not None and member.village_id != village_id:
        raise CardOfAnotherVillage(
            "the card is another village's; it is not valid here",
            detail_zh="这是其他村的积分卡，在本村无效",
        )


def _revoked(member: Member, replaced_at: datetime) -> CardRevoked:
    return CardRevoked(
        f"a new card was issued to this member at {as_utc(replaced_at).isoformat()}; "
        "this one is no longer valid",
        detail_zh=f"已于 {as_utc(replaced_at).isoformat()} 为该村民补发新卡，此卡已失效",
        member_id=str(member.id),
        replaced_at=as_utc(replaced_at).isoformat(),
    )


def find_members(session: Session, *, village_id: uuid.UUID, query: str) -> list[Member]:
    """The village's members a cashier's typed query names: a phone number or a member
    number (spaces and dashes ignored). Possibly several — a household often shares one
    phone — in name order, at most FIND_RESULTS_MAX; none for an empty query."""
    if session.get(Village, village_id) is None:
        raise NotFound("village", village_id)
    typed = query.strip()
    compact = "".join(ch for ch in typed if ch not in " -")
    if not compact or len(compact) > 32:
        return []
    found = {
        m.id: m
        for m in session.execute(
            select(Member)
            .where(Member.village_id == village_id, Member.phone.in_(sorted({typed, compact})))
            .limit(FIND_RESULTS_MAX)
        ).scalars()
    }
    if compact.isdigit() and len(compact) == MEMBER_NUMBER_DIGITS:
        # The number is computed, not stored: look through the village's ids (a
        # village has thousands of members at most).
        ids = session.execute(select(Member.id).where(Member.village_id == village_id)).scalars()
        numbered = [i for i in ids if member_number(i) == compact and i not in found]
        if numbered:
            found.update(
                (m.id, m)
                for m in session.execute(select(Member).where(Member.id.in_(numbered))).scalars()
            )
    return sorted(found.values(), key=lambda m: (m.name, m.id))[:FIND_RESULTS_MAX]


# --- QR images ----------------------------------------------------------------------------


def qr_image(token: str, *, kind: Literal["svg", "png"], title: str = "") -> bytes:
    """The token as a QR code: an SVG document or a PNG (about 30 mm at 300 dpi)."""
    out = io.BytesIO()
    code = segno.make(token, error=_QR_ERROR, micro=False)
    if kind == "svg":
        code.save(out, kind="svg", scale=6, border=4, xmldecl=True, title=title or None)
    else:
        code.save(out, kind="png", scale=10, border=4)
    return out.getvalue()


def qr_svg_inline(token: str) -> str:
    """The token as an <svg> element for an HTML page, sized by the page's style."""
    code = segno.make(token, error=_QR_ERROR, micro=False)
    return str(code.svg_inline(scale=1, border=2, omitsize=True))


# --- the village's card sheet -------------------------------------------------------------


@dataclass(frozen=True)
class CardFace:
    """What one printed card shows."""

    member_id: uuid.UUID
    name: str
    member_number: str
    household_number: str | None
    household_name: str | None
    serial: int
    token: str


@dataclass(frozen=True)
class CardSheet:
    village: Village
    household: Household | None  # when only one household's cards are printed
    cards: list[CardFace]
    # Cards of the whole print run (every sheet page), this sheet's place in it.
    total: int
    page: int
    pages: int

    @property
    def first(self) -> int:
        return (self.page - 1) * SHEET_CARDS_MAX + 1

    def a4_pages(self) -> list[list[CardFace]]:
        return [
            self.cards[start : start + CARDS_PER_PAGE]
            for start in range(0, len(self.cards), CARDS_PER_PAGE)
        ]


def _natural(text: str | None) -> tuple[object, ...]:
    """Household numbers in the order people count them: 2 before 10, 3组-2 before 3组-10."""
    parts = re.split(r"(\d+)", text or "")
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts))


def card_sheet(
    session: Session,
    *,
    village_id: uuid.UUID,
    household_id: uuid.UUID | None,
    page: int,
    today: date,
) -> CardSheet:
    """The current cards of the village's members (or one household's) who are on the
    roll today, by household number, the head first. Printing changes no card. Up to
    SHEET_CARDS_MAX cards a page of the run; `page` counts from 1."""
    village = session.get(Village, village_id)
    if village is None:
        raise NotFound("village", village_id)
    household = None
    if household_id is not None:
        household = session.get(Household, household_id)
        if household is None or household.village_id != village.id:
            raise NotFound("household", household_id)
    query = (
        select(
            Member.id,
            Member.name,
            Household.number,
            Household.name,
            HouseholdMembership.is_head,
            HouseholdMembership.joined_on,
        )
        .select_from(Member)
        .outerjoin(
            HouseholdMembership,
            and_(
                HouseholdMembership.member_id == Member.id,
                HouseholdMembership.left_on.is_(None),
            ),
        )
        .outerjoin(Household, Household.id == HouseholdMembership.household_id)
        .where(
            Member.village_id == village.id,
            or_(Member.deactivated_on.is_(None), Member.deactivated_on >= today),
        )
    )
    if household is not None:
        query = query.where(HouseholdMembership.household_id == household.id)
    ordered = sorted(
        session.execute(query).all(),
        key=lambda r: (r[2] is None, _natural(r[2]), not r[4], r[5] or date.min, r[1], r[0]),
    )
    pages = max(1, math.ceil(len(ordered) / SHEET_CARDS_MAX))
    if page > pages:
        raise NotFound("card sheet page", page)
    chosen = ordered[(page - 1) * SHEET_CARDS_MAX : page * SHEET_CARDS_MAX]
    if not chosen:
        return CardSheet(village, household, [], 0, page, pages)
    serials: dict[uuid.UUID, int] = dict(
        session.execute(
            select(MemberCredential.member_id, func.count())
            .where(
                MemberCredential.member_id.in_([r[0] for r in chosen]),
                MemberCredential.kind == CARD,
            )
            .group_by(MemberCredential.member_id)
        ).all()
    )
    key = _printing_key(session)
    cards = [
        CardFace(
            member_id=member_id,
            name=name,
            member_number=member_number(member_id),
            household_number=number,
            household_name=household_name,
            serial=serials.get(member_id, 0),
            token=card_token(key, member_id, serials.get(member_id, 0)),
        )
        for member_id, name, number, household_name, _head, _joined in chosen
    ]
    return CardSheet(village, household, cards, len(ordered), page, pages)
