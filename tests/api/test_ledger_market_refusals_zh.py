"""Refusals of the ledger and the supermarket in Chinese (issue #13): the detail a Chinese
reader gets says the same facts as the English one, in Chinese; the English is unchanged."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import Village, award, ok, problem, unique

ZH = {"Accept-Language": "zh-CN"}
_HAN = re.compile(r"[\u4e00-\u9fff]")
# An English sentence: three words of letters in a row.
_ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{2,}[ ,]+[A-Za-z]{2,}[ ,]+[A-Za-z]{2,}")


def _both(send: Any, status: int, code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same refused request asked in English and in Chinese: (english, chinese)."""
    english: httpx.Response = send({})
    chinese: httpx.Response = send(ZH)
    english_body = problem(english, status, code)
    chinese_body = problem(chinese, status, code)
    assert _HAN.search(chinese_body["detail"]), chinese_body
    assert not _ENGLISH_SENTENCE.search(chinese_body["detail"]), chinese_body
    assert chinese_body["title"] != english_body["title"]
    # The extension members are facts, the same in either language.
    facts = {k: v for k, v in english_body.items() if k not in ("title", "detail")}
    assert {k: v for k, v in chinese_body.items() if k not in ("title", "detail")} == facts
    return english_body, chinese_body


@pytest.fixture
def rice(client: TestClient, village: Village) -> dict[str, Any]:
    """Rice at 30 points, 2 bags on the shelf."""
    goods = ok(
        client.post(
            f"/v1/villages/{village.id}/goods",
            json={"name": "大米", "unit": "袋", "category": "粮油", "price_points": 30},
        ),
        201,
    )
    ok(
        client.post(
            f"/v1/villages/{village.id}/stock-movements",
            json={
                "goods_id": goods["id"],
                "kind": "donation",
                "quantity": 2,
                "value_fen": 200,
                "donor": {"kind": "other", "name": "爱心企业"},
            },
        ),
        201,
    )
    return goods  # type: ignore[no-any-return]


def _sell(
    client: TestClient, village: Village, member_id: str, lines: list[tuple[str, int]]
) -> Any:
    body = {"member_id": member_id, "lines": [{"goods_id": g, "quantity": q} for g, q in lines]}

    def send(headers: dict[str, str]) -> httpx.Response:
        return client.post(
            f"/v1/villages/{village.id}/sales",
            json=body,
            headers={**headers, "Idempotency-Key": unique("sale-")},
        )

    return send


def test_a_short_shelf_and_a_repeated_line_in_chinese(
    client: TestClient, village: Village, rice: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 500)
    english, chinese = _both(
        _sell(client, village, member_id, [(rice["id"], 3)]), 409, "insufficient_stock"
    )
    assert chinese["detail"] == "大米库存不足：剩 2袋，要 3袋（第 1 行）"
    assert english["detail"].endswith("line 1: 2 of 大米 on the shelf, 3 requested")
    english, chinese = _both(
        _sell(client, village, member_id, [(rice["id"], 1), (rice["id"], 1)]),
        422,
        "basket_invalid",
    )
    assert chinese["detail"] == "第 2 行：大米 在购物篮中出现了两次；请改为修改数量"
    assert english["detail"] == "line 2: 大米 is in the basket twice; change its quantity"


def test_a_refund_beyond_the_sale_in_chinese(
    client: TestClient, village: Village, rice: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 100)
    sale = ok(_sell(client, village, member_id, [(rice["id"], 1)])({}), 201)

    def refund(headers: dict[str, str]) -> httpx.Response:
        return client.post(
            f"/v1/sales/{sale['id']}/refunds",
            json={"lines": [{"position": 0, "quantity": 2}], "reason": "包装破损"},
            headers={**headers, "Idempotency-Key": unique("refund-")},
        )

    english, chinese = _both(refund, 409, "refund_exceeds_sale")
    assert chinese["detail"] == "大米：还可退 1，申请退 2"
    assert english["detail"] == "大米: 1 left to refund, 2 asked"


def test_a_second_reversal_in_chinese(client: TestClient, village: Village) -> None:
    _, account = village.member()
    original = award(client, village, account, 8)
    url = f"/v1/entries/{original['id']}/reversals"
    reversal = ok(client.post(url, json={"reason": "录入错误"}), 201)
    english, chinese = _both(
        lambda headers: client.post(url, json={"reason": "录入错误"}, headers=headers),
        409,
        "entry_already_reversed",
    )
    assert chinese["detail"] == f"分录 {original['id']} 已被分录 {reversal['id']} 冲正"
    assert english["detail"] == (f"entry {original['id']} was reversed by entry {reversal['id']}")
    english, chinese = _both(
        lambda headers: client.post(
            f"/v1/entries/{reversal['id']}/reversals", json={"reason": "录入错误"}, headers=headers
        ),
        409,
        "entry_not_reversible",
    )
    assert chinese["detail"] == f"分录 {reversal['id']} 是 reversal，本身不能被冲正"


def test_a_validator_s_own_refusal_in_chinese(
    client: TestClient, village: Village, rice: dict[str, Any]
) -> None:
    """A cross-field check in a request schema says it in Chinese too (message_zh of the
    failing field and the detail), not the general 取值无效."""
    body = {"lines": [{"goods_id": rice["id"], "quantity": 1}]}  # no member, no card
    url = f"/v1/villages/{village.id}/sales"
    english = problem(
        client.post(url, json=body, headers={"Idempotency-Key": unique("sale-")}),
        422,
        "validation_failed",
    )
    chinese = problem(
        client.post(url, json=body, headers={**ZH, "Idempotency-Key": unique("sale-")}),
        422,
        "validation_failed",
    )
    [error] = chinese["errors"]
    assert error["message_zh"] == "member_id 与 card_token 须且只须给出一个"
    assert "give exactly one of member_id and card_token" in error["message"]
    assert "member_id 与 card_token 须且只须给出一个" in chinese["detail"]
    assert english["errors"][0]["message"] == error["message"]
    assert not _HAN.search(english["detail"])
