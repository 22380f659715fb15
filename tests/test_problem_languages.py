"""Every refusal speaks Chinese as well as English (issue #13).

The first test reads the source: every construction of a Problem subclass that passes an
English detail also passes `detail_zh=`; a class with a constructor of its own passes
`detail_zh` to `super().__init__`. The others ask the API for real refusals in both
languages: the Chinese detail is Chinese, the English one is as it always was.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import jifen
from jifen.db import DatabaseUnavailable
from jifen.kit.schemas import Invalid
from jifen.problems import (
    DATABASE_SLOW,
    POOL_BUSY,
    RESOURCE_ZH,
    Problem,
    ValidationFailed,
    chinese_message,
    internal_error,
    unavailable,
)
from tests.api.helpers import Village, award, make_village, problem, spend

_HAN = re.compile(r"[\u4e00-\u9fff]")
# An English sentence: three words of letters in a row ("does not exist").
_ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{2,}[ ,]+[A-Za-z]{2,}[ ,]+[A-Za-z]{2,}")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


# --- the source ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        root = Path(jifen.__file__).parents[2]
        return f"{self.path.relative_to(root)}:{self.line} {self.what}"


def _modules() -> list[ModuleType]:
    modules = [jifen]
    for info in pkgutil.walk_packages(jifen.__path__, "jifen."):
        if info.name.endswith("__main__"):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def _problem_classes() -> dict[str, list[type[Problem]]]:
    """Every Problem subclass of the package, by class name (names may repeat)."""
    by_name: dict[str, list[type[Problem]]] = {}

    def walk(cls: type[Problem]) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("jifen") and sub not in by_name.get(sub.__name__, []):
                by_name.setdefault(sub.__name__, []).append(sub)
            walk(sub)

    by_name["Problem"] = [Problem]
    walk(Problem)
    return by_name


def _resolve(
    func: ast.expr, module: ModuleType, by_name: dict[str, list[type[Problem]]]
) -> type[Problem] | None:
    """The Problem class a call names (`X(...)`, `errors.X(...)`), through the module's
    own namespace; a name bound only inside a function falls back to the class of that
    name, which must then be unique."""
    parts: list[str] = []
    node = func
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.insert(0, node.id)
    target: Any = module
    for part in parts:
        target = getattr(target, part, None)
        if target is None:
            break
    if isinstance(target, type):
        return target if issubclass(target, Problem) else None
    if target is None:
        candidates = by_name.get(parts[-1], [])
        assert len(candidates) <= 1, f"{parts[-1]} names several Problem classes: {candidates}"
        return candidates[0] if candidates else None
    return None


def _passes_detail(call: ast.Call, parameters: list[str]) -> bool:
    """Whether the call gives the constructor's `detail` parameter a value."""
    if any(k.arg == "detail" for k in call.keywords):
        return True
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    return "detail" in parameters and parameters.index("detail") < len(positional)


def _chinese_or_computed(value: ast.expr) -> bool:
    """A literal Chinese detail holds Chinese; a template's own words, if it has any, hold
    Chinese; a computed one is taken on trust."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, str) and bool(_HAN.search(value.value))
    if isinstance(value, ast.JoinedStr):
        text = "".join(str(part.value) for part in value.values if isinstance(part, ast.Constant))
        return bool(_HAN.search(text)) or not re.search(r"[A-Za-z]{3}", text)
    return True


def _check_zh(call: ast.Call, site: Site, missing: list[Site]) -> None:
    zh = [k.value for k in call.keywords if k.arg == "detail_zh"]
    if not zh:
        missing.append(site)
    elif not _chinese_or_computed(zh[0]):
        missing.append(Site(site.path, site.line, site.what + " (detail_zh is not Chinese)"))


def _own_constructor(cls: type[Problem]) -> type[Problem] | None:
    for klass in cls.__mro__:
        if klass is Problem:
            return None
        if "__init__" in vars(klass):
            return klass
    return None


def _super_calls(klass: type[Problem]) -> list[tuple[ast.Call, list[str]]]:
    """The calls of a constructor to its base's (`super().__init__(...)`, or
    `Base.__init__(self, ...)`), with the parameters their arguments fill."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(klass.__init__)))
    calls = []
    for node in ast.walk(tree):
        func = node.func if isinstance(node, ast.Call) else None
        if (
            isinstance(node, ast.Call)
            and isinstance(func, ast.Attribute)
            and func.attr == "__init__"
        ):
            explicit = not isinstance(func.value, ast.Call)  # not super()
            calls.append((node, ["self", "detail"] if explicit else ["detail"]))
    return calls


def untranslated_sites() -> list[Site]:
    modules = _modules()
    by_name = _problem_classes()
    missing: list[Site] = []
    constructors_seen: set[type[Problem]] = set()
    for module in modules:
        path = Path(module.__file__ or "")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            cls = _resolve(node.func, module, by_name)
            if cls is None:
                continue
            own = _own_constructor(cls)
            parameters = list(inspect.signature(cls).parameters)
            if own is not None and own not in constructors_seen:
                constructors_seen.add(own)
                source = Path(inspect.getsourcefile(own) or "")
                line = inspect.getsourcelines(own.__init__)[1]
                for call, parameters_of_base in _super_calls(own):
                    if _passes_detail(call, parameters_of_base):
                        site = Site(source, line + call.lineno - 1, f"{own.__name__}.__init__")
                        _check_zh(call, site, missing)
            # A constructor that takes a Chinese detail is given one wherever it is called
            # with an English one; one that builds its own details is checked above.
            if "detail_zh" in parameters and _passes_detail(node, parameters):
                _check_zh(node, Site(path, node.lineno, cls.__name__), missing)
    return sorted(set(missing), key=str)


def test_every_english_detail_has_a_chinese_one() -> None:
    missing = untranslated_sites()
    assert not missing, f"{len(missing)} refusals without detail_zh:\n" + "\n".join(
        map(str, missing)
    )


def test_the_finder_sees_what_it_must() -> None:
    """The finder itself: it resolves names through imports and flags what it should."""
    source = textwrap.dedent(
        """
        from jifen.problems import NotFound, ServiceUnavailable, ValidationFailed
        from jifen.ledger import errors
        ValidationFailed("no")
        ValidationFailed(detail="no")
        ValidationFailed("no", detail_zh="不")
        ValidationFailed("no", detail_zh="no")
        ValidationFailed()
        errors.InsufficientPoints("short", balance_points=1)
        NotFound("member", 1)
        ServiceUnavailable("down", retry_after_seconds=1, outcome="unknown")
        """
    )
    module = ModuleType("sample")
    tree = ast.parse(source)
    imports = ast.Module([n for n in tree.body if isinstance(n, ast.ImportFrom)], [])
    exec(compile(imports, "sample", "exec"), module.__dict__)
    _modules()
    by_name = _problem_classes()
    flagged = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            cls = _resolve(node.func, module, by_name)
            if cls is None:
                continue
            parameters = list(inspect.signature(cls).parameters)
            if "detail_zh" in parameters and _passes_detail(node, parameters):
                sites: list[Site] = []
                _check_zh(node, Site(Path(jifen.__file__), node.lineno, ""), sites)
                flagged += [node.lineno for _ in sites]
    assert flagged == [4, 5, 7, 9, 11]


# Calls that name the resource a NotFound will name, and which argument names it.
_NAMING_CALLS = {"NotFound": 0, "Scope": 0, "resolver": 1, "_village_row_scope": 1, "_get": 2}


def test_every_resource_not_found_has_a_chinese_name() -> None:
    unnamed = []
    root = Path(jifen.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            index = _NAMING_CALLS.get(name)
            if index is None or len(node.args) <= index:
                continue
            value = getattr(node.args[index], "value", None)
            if isinstance(value, str) and value not in RESOURCE_ZH and value != "platform":
                unnamed.append(f"{path.relative_to(root)}:{node.lineno} {value!r}")
    for kind in ("member", "household", "organisation"):  # account owners, by AccountKind
        assert kind in RESOURCE_ZH
    assert not unnamed, "resources without a Chinese name in problems.RESOURCE_ZH:\n" + "\n".join(
        unnamed
    )


# --- the messages of request validation ---------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"type": "missing"}, "缺少此项"),
        ({"type": "greater_than", "ctx": {"gt": 0}}, "应大于 0"),
        ({"type": "less_than_equal", "ctx": {"le": 500}}, "应不大于 500"),
        ({"type": "string_too_long", "ctx": {"max_length": 40}}, "最多 40 个字符"),
        ({"type": "too_short", "ctx": {"min_length": 1}}, "至少 1 项"),
        ({"type": "uuid_parsing"}, "不是有效的 UUID"),
        (
            {"type": "literal_error", "ctx": {"expected": "'a', 'b' or 'c'"}},
            "应为 'a'、'b'、'c' 之一",
        ),
        ({"type": "extra_forbidden"}, "不允许此字段"),
        (
            {"type": "string_pattern_mismatch", "ctx": {"pattern": "^[0-9]+$"}},
            "格式不符合要求（应匹配 ^[0-9]+$）",
        ),
        ({"type": "date_from_datetime_parsing"}, "应为日期（YYYY-MM-DD）"),
        ({"type": "value_error", "ctx": {"error": Invalid("bad", "某值无效")}}, "某值无效"),
        ({"type": "value_error", "ctx": {"error": ValueError("bad")}}, "取值无效"),
        ({"type": "greater_than"}, "取值无效"),
        ({"type": "some_new_type", "msg": "Whatever"}, "取值无效"),
    ],
)
def test_validation_messages_in_chinese(error: dict[str, Any], expected: str) -> None:
    assert chinese_message(error) == expected


# --- refusals from the API ----------------------------------------------------------------


def _both(send: Any) -> tuple[dict[str, Any], dict[str, Any], httpx.Response]:
    english = send({})
    chinese = send(ZH)
    assert chinese.status_code == english.status_code
    assert english.headers["content-language"] == "en"
    assert chinese.headers["content-language"] == "zh-CN"
    return english.json(), chinese.json(), chinese


def _assert_chinese(body: dict[str, Any]) -> None:
    for field in ("title", "detail"):
        assert _HAN.search(body[field]), body
        assert not _ENGLISH_SENTENCE.search(body[field]), body


@pytest.fixture
def village(client: TestClient) -> Village:
    return make_village(client)


def test_insufficient_points_in_both_languages(client: TestClient, village: Village) -> None:
    _member_id, account = village.member()
    award(client, village, account, 20)
    english, chinese, response = _both(
        lambda headers: spend(client, village, account, 30, headers=headers)
    )
    problem(response, 409, "insufficient_points")
    _assert_chinese(chinese)
    assert "20" in chinese["detail"] and "30" in chinese["detail"]
    assert english["title"] == "Not enough points available"
    assert not _HAN.search(english["detail"]) and "20" in english["detail"]
    for body in (english, chinese):
        assert (body["balance_points"], body["requested_points"]) == (20, 30)


def test_not_found_in_both_languages(client: TestClient, village: Village) -> None:
    url = f"/v1/members/{village.id}"
    english, chinese, response = _both(lambda headers: client.get(url, headers=headers))
    problem(response, 404, "not_found")
    _assert_chinese(chinese)
    assert str(village.id) in chinese["detail"]
    assert english["detail"] == f"member {village.id} does not exist"


def test_validation_failure_in_both_languages(client: TestClient, village: Village) -> None:
    body = {"village_id": village.id, "number": "3-12", "name": "", "points": 1}
    english, chinese, response = _both(
        lambda headers: client.post("/v1/households", json=body, headers=headers)
    )
    problem(response, 422, "validation_failed")
    _assert_chinese(chinese)
    assert chinese["detail"] == "字段 body.name：至少 1 个字符（另有 1 处不符合要求）"
    assert english["title"] == ValidationFailed.title
    assert english["detail"] == "The request does not match the schema"
    by_field = {e["location"][-1]: e for e in english["errors"]}
    assert by_field["name"]["message"] == "String should have at least 1 character"
    assert by_field["points"]["type"] == "extra_forbidden"
    assert by_field["points"]["message_zh"] == "不允许此字段"
    assert chinese["errors"] == english["errors"]


def test_wrong_method_in_both_languages(client: TestClient, village: Village) -> None:
    url = f"/v1/townships/{village.township_id}"
    english, chinese, response = _both(lambda headers: client.delete(url, headers=headers))
    problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, PATCH"
    _assert_chinese(chinese)
    assert "DELETE" in chinese["detail"]
    assert english["title"] == english["detail"] == "Method Not Allowed"


def test_malformed_json_in_both_languages(client: TestClient, village: Village) -> None:
    english, chinese, response = _both(
        lambda headers: client.post(
            "/v1/households",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
    )
    problem(response, 422, "validation_failed")
    _assert_chinese(chinese)
    assert chinese["errors"][0]["type"] == "json_invalid"
    assert chinese["detail"].startswith("字段 body.1：不是有效的 JSON")
    assert english["detail"] == "The request does not match the schema"


def test_a_validator_speaks_chinese(client: TestClient, village: Village) -> None:
    """A validator raising kit.schemas.Invalid gives its own Chinese message."""
    body = {"village_id": village.id, "number": "3-12", "name": "王\u0000户"}
    english, chinese, response = _both(
        lambda headers: client.post("/v1/households", json=body, headers=headers)
    )
    problem(response, 422, "validation_failed")
    assert chinese["detail"] == "字段 body.name：文本不得包含 NUL 字符"
    assert english["errors"][0]["message"] == "Value error, text must not contain NUL characters"


def test_internal_error_and_unavailable_in_chinese() -> None:
    shutting = DatabaseUnavailable("the service is shutting down", detail_zh="服务正在关闭")
    for refusal in (internal_error(), unavailable(DATABASE_SLOW, 5), unavailable(POOL_BUSY, 5)):
        _assert_chinese(refusal.body(language="zh"))
        assert not _HAN.search(refusal.body()["detail"])
    busy = unavailable(shutting, 7)
    assert busy.headers["Retry-After"] == "7"
    assert (busy.status, busy.extra["outcome"]) == (503, "not_written")
    assert busy.body()["detail"] == "the service is shutting down"
    assert busy.body(language="zh")["detail"] == "服务正在关闭"


def test_the_till_answers_in_the_language_asked(client: TestClient, village: Village) -> None:
    url = f"/web/till/villages/{village.id}/member"
    english, chinese, response = _both(
        lambda headers: client.get(
            url, params={"phone": "13800000000"}, headers={**headers, "Authorization": ""}
        )
    )
    problem(response, 401, "unauthenticated")
    assert response.headers["vary"] == "Accept-Language"
    assert (chinese["title"], chinese["detail"]) == (
        "请先登录",
        "请重新登录：会话不存在、已过期或已结束",
    )
    assert english["detail"] == "sign in again: the session is missing, has expired or was ended"
