"""A charter upload refused, in Chinese for a client that asks for it (Accept-Language,
issue #13) and in English otherwise: the same code, the same fields, the detail in the
reader's language."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.helpers import create_village, problem

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
_ENGLISH_WORD = re.compile(r"\b(is|not|the|a|of|error)\b")


def test_a_document_with_errors_names_its_fields_in_chinese(client: TestClient) -> None:
    url = f"/v1/villages/{create_village(client)['id']}/charter-versions"
    document = {
        "title": "坏村规",
        "effective_on": "2026-01-01",
        "rules": [
            {
                "id": "x",
                "category": "labor",
                "label": "劳动",
                "type": "per_unit",
                "params": {"unit": "hour", "points_per_unit": "-1", "rounding": "up"},
            }
        ],
    }
    english = problem(client.post(url, json=document), 422, "charter_invalid")
    chinese = problem(client.post(url, json=document, headers=ZH), 422, "charter_invalid")

    assert english["detail"].startswith("2 error(s): ")
    assert chinese["title"] == "章程文件无效"
    assert chinese["detail"] == (
        "章程文件有 2 处错误：rules[0].params.points_per_unit、rules[0].params.rounding"
    )
    assert chinese["errors"] == english["errors"]
    # Each error says what is wrong in Chinese too, beside the English message.
    said = {e["field"]: e["message_zh"] for e in english["errors"]}
    assert said["rules[0].params.points_per_unit"] == "应大于 0"
    assert said["rules[0].params.rounding"].startswith("应为 ")


def test_the_charters_own_checks_say_what_is_wrong_in_chinese(client: TestClient) -> None:
    url = f"/v1/villages/{create_village(client)['id']}/charter-versions"
    rule = {
        "id": "x",
        "category": "labor",
        "label": "劳动",
        "type": "fixed",
        "params": {"points": 2},
    }
    twice = {"title": "坏村规", "effective_on": "2026-01-01", "rules": [rule, rule]}
    body = problem(client.post(url, json=twice, headers=ZH), 422, "charter_invalid")
    assert body["detail"] == "章程文件有 1 处错误：rules[1].id"
    assert body["errors"] == [
        {
            "field": "rules[1].id",
            "message": "rule id 'x' is used twice",
            "message_zh": "规则编号 x 重复",
        }
    ]

    unknown_role = dict(twice, rules=[{**rule, "recorders": ["no_such_role"]}])
    body = problem(client.post(url, json=unknown_role, headers=ZH), 422, "charter_invalid")
    assert [(e["field"], e["message_zh"]) for e in body["errors"]] == [
        ("rules[0].recorders[0]", "本乡镇没有角色 no_such_role")
    ]


def test_unreadable_documents_are_refused_in_chinese(client: TestClient) -> None:
    url = f"/v1/villages/{create_village(client)['id']}/charter-versions"
    yaml = {"Content-Type": "application/yaml"}

    broken = problem(
        client.post(url, content=b"title: [", headers=yaml | ZH), 422, "charter_invalid"
    )
    assert re.fullmatch(r"文件不是有效的 JSON 或 YAML（第 \d+ 行）", broken["detail"])

    not_utf8 = problem(
        client.post(url, content="title: 清泉村".encode("gbk"), headers=yaml | ZH),
        422,
        "charter_invalid",
    )
    assert not_utf8["detail"] == "文件不是 UTF-8 编码的文本"

    xml = {"Content-Type": "application/xml"}
    refused = problem(
        client.post(url, content=b"<charter/>", headers=xml | ZH), 415, "unsupported_media_type"
    )
    assert refused["detail"] == "application/xml 不是章程文件的格式"
    assert not _ENGLISH_WORD.search(refused["detail"] + broken["detail"])
    english = problem(
        client.post(url, content=b"<charter/>", headers=xml), 415, "unsupported_media_type"
    )
    assert english["detail"] == "application/xml is not a charter format"
