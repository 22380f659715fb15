"""Member points cards (积分卡): signed tokens, re-issue, what the till asks of a card,
the QR images, the village's card sheet, and binding with a card."""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jifen.access import cards, credentials
from jifen.access.errors import CardInvalid, CardOfAnotherVillage, CardRevoked
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import Member, MemberCredential, Township, Village
from jifen.problems import NotFound, Problem
from jifen.tenancy import service as tenancy
from tests.api.helpers import ok, problem
from tests.factories import make_household, make_member, make_township, make_village

# Characters of a QR code's alphanumeric mode.
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _refusal(session: Session, token: str, village_id: uuid.UUID | None) -> Problem:
    with pytest.raises(Problem) as refused:
        cards.member_for_card(session, token, village_id=village_id)
    return refused.value


def _key(session: Session) -> bytes:
    key = credentials.stored_key(session, credentials.CARD_KEY_NAME)
    assert key is not None
    return key


def _card_rows(session: Session, member_id: uuid.UUID) -> list[MemberCredential]:
    return list(
        session.execute(
            select(MemberCredential)
            .where(MemberCredential.member_id == member_id, MemberCredential.kind == "card")
            .order_by(MemberCredential.created_at)
        ).scalars()
    )


@pytest.fixture
def village(db: Database) -> Village:
    with db.unit_of_work() as session:
        made = make_village(session, name="清泉村")
        cards.make_key(session, utc_now())
    return made


# --- tokens -------------------------------------------------------------------------------


def test_a_card_verifies_and_prints_the_same_every_time(db: Database, village: Village) -> None:
    with db.unit_of_work() as session:
        member = make_member(session, village, name="王建国")
        card = cards.get_card(session, member.id)
        assert (card.serial, card.issued_at) == (0, None)
        assert card.token.startswith(cards.TOKEN_PREFIX)
        assert set(card.token) <= QR_ALPHANUMERIC
        assert cards.member_for_card(session, card.token, village_id=village.id) is member
        # A scanner typing with caps lock on, and the Enter key it sends.
        typed = f" {card.token.lower()}\n"
        assert cards.member_for_card(session, typed, village_id=village.id) is member
        assert cards.get_card(session, member.id).token == card.token
        # Printing wrote nothing.
        assert _card_rows(session, member.id) == []


def test_a_tampered_misread_or_forged_token_is_refused(db: Database, village: Village) -> None:
    with db.unit_of_work() as session:
        member = make_member(session, village)
        token = cards.get_card(session, member.id).token
        body_at = len(cards.TOKEN_PREFIX)
        # Every single character changed, in the member's id, the serial or the signature.
        for i in range(body_at, len(token)):
            other = BASE32[(BASE32.index(token[i]) + 1) % len(BASE32)]
            tampered = token[:i] + other + token[i + 1 :]
            assert _refusal(session, tampered, village.id).code == "card_invalid", i
        raw = base64.b32decode(token[body_at:] + "=" * (-len(token[body_at:]) % 8))
        forged = [
            # Signed with another key.
            cards.card_token(secrets.token_bytes(32), member.id, 0),
            # A serial the service never issued (a database restored from a backup).
            cards.card_token(_key(session), member.id, 5),
            # The same bytes, spelt with the unused low bits set.
            token[:-1] + BASE32[BASE32.index(token[-1]) | 1],
            cards.TOKEN_PREFIX + base64.b32encode(raw[:-1]).decode().rstrip("="),
            token + "A",
            token[:-1],
            cards.TOKEN_PREFIX,
            "",
            str(member.id),
            "jfc_" + secrets.token_urlsafe(24),
        ]
        for bad in forged:
            assert bad != token
            refused = _refusal(session, bad, village.id)
            assert (refused.code, refused.status) == ("card_invalid", 422), bad
        assert cards.member_for_card(session, token, village_id=village.id) is member


def test_re_issuing_a_card_revokes_the_old_one_at_once(db: Database, village: Village) -> None:
    with db.unit_of_work() as session:
        member = make_member(session, village)
        first = cards.get_card(session, member.id).token
        row, second = cards.issue_card(
            session, member_id=member.id, created_by="clerk", now=utc_now()
        )
        assert second != first
        # In the same transaction, and in every one after it.
        refused = _refusal(session, first, village.id)
        assert refused.code == "card_revoked"
        assert refused.extra["member_id"] == str(member.id)
        assert refused.extra["replaced_at"] == row.created_at.isoformat()
        assert cards.member_for_card(session, second, village_id=village.id) is member
        card = cards.get_card(session, member.id)
        assert (card.serial, card.token, card.issued_at) == (1, second, row.created_at)
    with db.unit_of_work() as session:
        assert _refusal(session, first, village.id).code == "card_revoked"
        _row, third = cards.issue_card(
            session, member_id=member.id, created_by="clerk", now=utc_now()
        )
    with db.unit_of_work(write=False) as session:
        assert _refusal(session, second, village.id).code == "card_revoked"
        assert cards.member_for_card(session, third, village_id=village.id).id == member.id
        rows = _card_rows(session, member.id)
        assert [r.revoked_at is None for r in rows] == [False, True]
        assert rows[1].secret_hash == credentials.digest(third)


def test_a_card_of_another_village_is_refused(db: Database, village: Village) -> None:
    with db.unit_of_work() as session:
        township = session.get(Township, village.township_id)
        assert township is not None
        sibling = make_village(session, township)
        member = make_member(session, sibling)
        token = cards.get_card(session, member.id).token
        assert _refusal(session, token, village.id).code == "card_other_village"
        cards.issue_card(session, member_id=member.id, created_by="clerk", now=utc_now())
        # Revoked too, but another village's: the till learns nothing more of it.
        refused = _refusal(session, token, village.id)
        assert refused.code == "card_other_village" and "member_id" not in refused.extra
        assert isinstance(refused, CardOfAnotherVillage)
        assert isinstance(_refusal(session, token, sibling.id), CardRevoked)


def test_cards_issued_before_signing_stay_valid_until_the_next_issue(
    db: Database, village: Village
) -> None:
    legacy = "jfc_" + secrets.token_urlsafe(24)
    with db.unit_of_work() as session:
        member = make_member(session, village)
        session.add(
            MemberCredential(
                id=uuid.uuid4(),
                member_id=member.id,
                village_id=village.id,
                kind="card",
                secret_hash=credentials.digest(legacy),
                created_at=utc_now() - timedelta(days=30),
                created_by="before",
                expires_at=None,
                used_at=None,
                revoked_at=None,
            )
        )
        session.flush()
        assert cards.member_for_card(session, legacy, village_id=village.id) is member
        # The old card counts as the first issued: what prints now is serial 1.
        printed = cards.get_card(session, member.id)
        assert printed.serial == 1
        assert cards.member_for_card(session, printed.token, village_id=village.id) is member
        _row, new = cards.issue_card(
            session, member_id=member.id, created_by="clerk", now=utc_now()
        )
        assert _refusal(session, legacy, village.id).code == "card_revoked"
        assert _refusal(session, printed.token, village.id).code == "card_revoked"
        assert cards.member_for_card(session, new, village_id=village.id) is member
        assert isinstance(_refusal(session, legacy.upper(), village.id), CardInvalid)


# --- the till's lookups -------------------------------------------------------------------


def test_find_members_by_phone_or_member_number(db: Database, village: Village) -> None:
    with db.unit_of_work() as session:
        household = make_household(session, village)
        father = make_member(session, village, name="王大", phone="13800138000")
        mother = make_member(session, village, name="李二", phone="13800138000")
        son = make_member(session, village, name="王小", household_id=household.id)
        elsewhere = make_member(session, make_village(session), phone="13800138000")

        def found(query: str) -> list[Member]:
            return cards.find_members(session, village_id=village.id, query=query)

        assert found("13800138000") == [mother, father]  # one phone, two members: by name
        assert found(" 138-0013-8000 ") == [mother, father]
        number = cards.member_number(son.id)
        assert re.fullmatch(r"\d{8}", number)
        assert found(number) == [son]
        assert found(f"{number[:4]} {number[4:]}") == [son]
        assert found(cards.member_number(elsewhere.id)) == []
        assert found("13900000000") == []
        assert found("   ") == []
        with pytest.raises(NotFound):
            cards.find_members(session, village_id=uuid.uuid4(), query="13800138000")


# --- over the API -------------------------------------------------------------------------


def test_the_card_and_its_qr_code(client: TestClient, db: Database, village: Village) -> None:
    with db.unit_of_work() as session:
        member = make_member(session, village, name="张伟")
    card = ok(client.get(f"/v1/members/{member.id}/card"))
    assert card["serial"] == 0 and card["issued_at"] is None
    assert card["member_number"] == cards.member_number(member.id)
    svg = client.get(card["qr_code_url"])
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["cache-control"] == "no-store"
    # The image is of the card's token.
    assert svg.content == cards.qr_image(card["token"], kind="svg", title="张伟 积分卡")
    png = client.get(card["qr_code_url"], params={"format": "png"})
    assert png.headers["content-type"] == "image/png"
    assert png.content == cards.qr_image(card["token"], kind="png")
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    problem(client.get(card["qr_code_url"], params={"format": "gif"}), 422, "validation_failed")
    problem(client.get(f"/v1/members/{uuid.uuid4()}/card"), 404, "not_found")
    problem(client.get(f"/v1/members/{uuid.uuid4()}/card/qr-code"), 404, "not_found")

    issued = ok(client.post(f"/v1/members/{member.id}/card"), 201)
    again = ok(client.get(f"/v1/members/{member.id}/card"))
    assert again["token"] == issued["secret"] != card["token"]
    assert again["serial"] == 1 and again["issued_at"] is not None


def test_the_first_card_printed_makes_the_card_key_in_a_write(
    client: TestClient, db: Database
) -> None:
    with db.unit_of_work() as session:
        member = make_member(session, make_village(session))
        assert credentials.stored_key(session, credentials.CARD_KEY_NAME) is None
    token = ok(client.get(f"/v1/members/{member.id}/card"))["token"]
    # A read that made the key itself would have lost it with its transaction.
    with db.unit_of_work(write=False) as session:
        assert credentials.stored_key(session, credentials.CARD_KEY_NAME) is not None
        assert cards.member_for_card(session, token, village_id=member.village_id).id == member.id
    assert ok(client.get(f"/v1/members/{member.id}/card"))["token"] == token


_CARD = re.compile(
    r'<article class="card" data-member-id="([0-9a-f-]+)">(.*?)<div class="qr">(.*?)</div>',
    re.DOTALL,
)


def _sheet(client: TestClient, village_id: uuid.UUID, **params: Any) -> tuple[str, list[Any]]:
    response = client.get(f"/v1/villages/{village_id}/card-sheet", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    return response.text, _CARD.findall(response.text)


def test_the_sheet_prints_every_member_on_the_roll_with_their_qr(
    client: TestClient, db: Database, village: Village, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.unit_of_work() as session:
        by_number = {
            n: make_household(session, village, number=n) for n in ["10", "2", "3-12", "3-2"]
        }
        expected: list[Member] = []
        for number in ["2", "3-2", "3-12", "10"]:
            household = by_number[number]
            head = make_member(
                session, village, name=f"户主{number}", household_id=household.id, is_head=True
            )
            others = [
                make_member(session, village, name=f"成员{number}-{i}", household_id=household.id)
                for i in range(2)
            ]
            expected += [head, *sorted(others, key=lambda m: (m.name, m.id))]
        loner = make_member(session, village, name="无户者")
        expected.append(loner)
        gone = make_member(
            session,
            village,
            name="已迁出",
            household_id=by_number["2"].id,
            joined_on=date.today() - timedelta(days=30),
        )
        tenancy.deactivate_member(
            session, gone.id, on=date.today() - timedelta(days=2), reason="moved_away"
        )
        stranger = make_member(session, make_village(session), name="外村人")
        cards.issue_card(session, member_id=expected[1].id, created_by="clerk", now=utc_now())
        rows_before = session.execute(
            select(func.count()).select_from(MemberCredential)
        ).scalar_one()
    tokens = {m.id: ok(client.get(f"/v1/members/{m.id}/card"))["token"] for m in expected}

    html, printed = _sheet(client, village.id)
    assert [uuid.UUID(member_id) for member_id, _face, _qr in printed] == [m.id for m in expected]
    for (_member_id, face, qr), member in zip(printed, expected, strict=True):
        # Each card's QR code is of the member's current card.
        assert qr == cards.qr_svg_inline(tokens[member.id]), member.name
        number = cards.member_number(member.id)
        assert member.name in face and f"{number[:4]} {number[4:]}" in face
        assert "户号" in face and "编号" in face and "清泉村" in face
    assert "补卡" in printed[1][1] and "补卡" not in printed[0][1]
    assert "3-12（" in printed[7][1]
    assert "已迁出" not in html and "外村人" not in html and stranger.name not in html
    assert f"共 {len(expected)} 人" in html
    assert html.count('<section class="a4">') == 2  # 13 cards, ten to a page
    assert "@page { size: A4" in html

    # Printing changed nothing: the same tokens, no card issued.
    assert {m.id: ok(client.get(f"/v1/members/{m.id}/card"))["token"] for m in expected} == tokens
    with db.unit_of_work(write=False) as session:
        assert (
            session.execute(select(func.count()).select_from(MemberCredential)).scalar_one()
            == rows_before
        )

    # One household's cards.
    _html, one = _sheet(client, village.id, household_id=str(by_number["3-2"].id))
    assert [uuid.UUID(p[0]) for p in one] == [m.id for m in expected[3:6]]
    problem(
        client.get(
            f"/v1/villages/{village.id}/card-sheet", params={"household_id": str(uuid.uuid4())}
        ),
        404,
        "not_found",
    )
    problem(
        client.get(f"/v1/villages/{village.id}/card-sheet", params={"page": 2}), 404, "not_found"
    )
    problem(client.get(f"/v1/villages/{uuid.uuid4()}/card-sheet"), 404, "not_found")

    # A village too large for one request is printed in runs.
    monkeypatch.setattr(cards, "SHEET_CARDS_MAX", 5)
    runs = [_sheet(client, village.id, page=n) for n in (1, 2, 3)]
    assert [len(run) for _html, run in runs] == [5, 5, 3]
    assert [uuid.UUID(p[0]) for _html, run in runs for p in run] == [m.id for m in expected]
    assert "第 2 批（第 6–10 人），下一批请加参数 page=3" in runs[1][0]
    problem(
        client.get(f"/v1/villages/{village.id}/card-sheet", params={"page": 4}), 404, "not_found"
    )


def test_an_empty_village_prints_an_empty_sheet(client: TestClient, village: Village) -> None:
    html, printed = _sheet(client, village.id)
    assert printed == [] and "没有可打印的积分卡" in html


# --- binding with a card ------------------------------------------------------------------


def _mini_program(client: TestClient, township_id: uuid.UUID) -> dict[str, str]:
    """The Authorization header of a new mini-program client of the township."""
    registered = ok(
        client.post(
            "/v1/clients",
            json={
                "township_id": str(township_id),
                "name": "积分小程序",
                "scopes": ["members:read", "members:bind"],
            },
        ),
        201,
    )
    answer = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(registered["client_id"], registered["client_secret"]),
        headers={"Authorization": ""},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_binding_with_a_signed_card(client: TestClient, db: Database, village: Village) -> None:
    with db.unit_of_work() as session:
        member = make_member(session, village)
        leaver = make_member(session, village)
        tenancy.deactivate_member(session, leaver.id, on=date.today(), reason="deceased")
        stranger = make_member(session, make_village(session, make_township(session)))
    app = _mini_program(client, village.township_id)

    def bind(user_ref: str, token: str) -> Any:
        return client.post(
            "/v1/bindings", json={"user_ref": user_ref, "card_token": token}, headers=app
        )

    printed = ok(client.get(f"/v1/members/{member.id}/card"))["token"]
    first = ok(bind("openid-1", printed), 201)
    assert (first["member_id"], first["village_id"]) == (str(member.id), str(village.id))
    assert ok(bind("openid-1", printed), 201)["id"] == first["id"]  # a card is not used up
    assert ok(bind("openid-2", printed.lower()), 201)["member_id"] == str(member.id)
    tampered = printed[:-2] + ("AA" if printed[-2:] != "AA" else "BB")
    problem(bind("openid-3", tampered), 422, "credential_rejected")
    # Another township's member, and a member no longer on the roll.
    problem(
        bind("openid-3", ok(client.get(f"/v1/members/{stranger.id}/card"))["token"]),
        422,
        "credential_rejected",
    )
    problem(
        bind("openid-3", ok(client.get(f"/v1/members/{leaver.id}/card"))["token"]),
        422,
        "credential_rejected",
    )

    new = ok(client.post(f"/v1/members/{member.id}/card"), 201)["secret"]
    problem(bind("openid-3", printed), 422, "credential_rejected")
    assert ok(bind("openid-3", new), 201)["member_id"] == str(member.id)
    # Bindings made with the old card stay: they are the resident's, not the card's.
    ok(client.get(f"/v1/bindings/{first['id']}", headers=app))
