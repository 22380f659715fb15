"""Every problem code speaks English and Chinese, is in the catalog, and docs/errors.md
is current (regenerate it with `jifen export-errors`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jifen import error_catalog
from jifen.main import create_app
from jifen.problems import Problem, preferred_language

_HAN = re.compile(r"[\u4e00-\u9fff]")
DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def test_every_problem_class_names_itself_in_both_languages() -> None:
    classes = error_catalog.problem_classes()
    assert len(classes) > 100
    missing = [c.__name__ for c in classes if "title_zh" not in vars(c)]
    assert not missing, f"classes without their own title_zh: {missing}"
    for cls in classes:
        assert cls.code and re.fullmatch(r"[a-z][a-z0-9_]*", cls.code), cls
        assert cls.title.strip(), cls
        assert _HAN.search(cls.title_zh), (cls, cls.title_zh)
        # An English title, not only a Chinese one.
        assert re.search(r"[A-Za-z]{3}", cls.title), cls


def test_every_code_is_in_the_catalog_and_docs_are_current() -> None:
    codes = {entry.code for entry in error_catalog.entries()}
    assert {cls.code for cls in error_catalog.problem_classes()} <= codes
    assert {"method_not_allowed", "malformed_request"} <= codes
    for entry in error_catalog.entries():
        assert entry.title and _HAN.search(entry.title_zh), entry
        assert entry.advice and _HAN.search(entry.advice_zh), entry
    text = DOC.read_text(encoding="utf-8")
    for code in codes:
        assert f"## `{code}`" in text, code
    assert text == error_catalog.markdown(), "docs/errors.md is stale: run jifen export-errors"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("fr-FR", "en"),
        ("zh-CN", "zh"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.5, zh;q=0.5", "zh"),
        ("zh-TW;q=0, en", "en"),
        ("fr, zh-Hans;q=0.3", "zh"),
        ("zh;q=bogus, en;q=0.1", "en"),
    ],
)
def test_accept_language_chooses(header: str | None, language: str) -> None:
    assert preferred_language(header) == language


def test_problem_body_in_each_language() -> None:
    class Sample(Problem):
        code = "sample"
        title = "Sample refusal"
        title_zh = "示例拒绝"

    assert Sample().body(language="zh")["detail"] == "示例拒绝"
    assert Sample("more words").body(language="zh")["detail"] == "more words"
    zh = Sample("x", detail_zh="中文说明", balance_points=3).body(language="zh")
    assert (zh["title"], zh["detail"], zh["balance_points"]) == ("示例拒绝", "中文说明", 3)
    en = Sample("x", detail_zh="中文说明").body()
    assert (en["title"], en["detail"], en["type"]) == ("Sample refusal", "x", "/v1/errors#sample")
    assert "detail_zh" not in en


def test_http_problems_follow_accept_language_and_link_to_the_served_catalog() -> None:
    client = TestClient(create_app())
    english = client.get("/v1/no-such-thing")
    assert english.status_code == 404
    assert english.headers["content-language"] == "en"
    body = english.json()
    assert body["code"] == "not_found"
    assert body["title"] == "Not found"
    assert body["detail"] == "route /v1/no-such-thing does not exist"
    assert body["type"] == "/v1/errors#not_found"

    chinese = client.get("/v1/no-such-thing", headers={"Accept-Language": "zh-CN,en;q=0.5"})
    assert chinese.headers["content-language"] == "zh-CN"
    body = chinese.json()
    assert (body["code"], body["title"]) == ("not_found", "资源不存在")
    assert body["detail"] == "路径 /v1/no-such-thing 不存在"

    page = client.get(body["type"].split("#")[0])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for entry in error_catalog.entries():
        assert f'id="{entry.code}"' in page.text, entry.code
    assert "资源不存在" in page.text and "Not found" in page.text
