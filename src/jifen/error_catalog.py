"""The error catalog: every problem code, its status, meaning in English and Chinese,
the fields it carries and what a client should do.

It is built from the Problem classes themselves (so a new class joins it without a list
to keep), written to docs/errors.md by `jifen export-errors` (a test keeps the file in
step) and served as one page at /v1/errors, where each problem's `type` points.
"""

from __future__ import annotations

import ast
import html
import importlib
import inspect
import pkgutil
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

import jifen
from jifen.problems import Problem

# Fields every problem body carries (RFC 9457 and the stable code).
BASE_FIELDS = ("type", "title", "status", "detail", "code", "instance")

# Problems the HTTP layer answers itself (no Problem class of ours raises them).
HTTP_LEVEL = (
    ("malformed_request", 400, "The request could not be read", "无法识别的请求"),
    ("method_not_allowed", 405, "The method is not allowed on this path", "该路径不支持此方法"),
    ("request_too_large", 413, "The request is too large", "提交内容过大"),
    ("unsupported_media_type", 415, "The media type is not supported", "不支持该内容类型"),
    ("http_error", 400, "The HTTP request was refused", "HTTP 请求被拒绝"),
)

# What a client should do, by status: (English, Chinese).
ADVICE: dict[int, tuple[str, str]] = {
    400: ("Fix the request's syntax; do not retry it unchanged.", "修正请求格式，不要原样重试。"),
    401: (
        "Obtain a fresh token or key and send it; then retry.",
        "重新获取令牌或密钥后再重试。",
    ),
    403: (
        "The caller lacks the role or permission: ask an administrator; do not retry.",
        "调用方缺少相应角色或权限：请联系管理员，不要重试。",
    ),
    404: (
        "Check the identifier and the caller's scope; do not retry unchanged.",
        "核对编号及调用方的可见范围，不要原样重试。",
    ),
    405: ("Use a method the API documents for this path.", "改用接口文档中该路径支持的方法。"),
    409: (
        "The state does not allow it: read the resource again, resolve, then decide.",
        "当前状态不允许此操作：重新读取资源、处理冲突后再决定。",
    ),
    413: ("Send less at once (split the request).", "减少单次提交的内容（拆分请求）。"),
    415: ("Send the documented Content-Type.", "按文档使用正确的 Content-Type。"),
    422: (
        "Correct the fields the problem names; do not retry unchanged.",
        "按错误中指出的字段修正后再提交，不要原样重试。",
    ),
    429: (
        "Wait for the Retry-After seconds, then retry.",
        "等待 Retry-After 指定的秒数后重试。",
    ),
    500: (
        "Nothing was booked: retry with the same Idempotency-Key; report it if it persists.",
        "未记账：用同一个 Idempotency-Key 重试；持续出现请报告。",
    ),
    503: (
        "Wait for Retry-After, then retry with the same Idempotency-Key (see `outcome`).",
        "等待 Retry-After 后用同一个 Idempotency-Key 重试（参见 `outcome`）。",
    ),
}


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    statuses: tuple[int, ...]
    title: str
    title_zh: str
    fields: tuple[str, ...]
    advice: str
    advice_zh: str


def _import_everything() -> None:
    for module in pkgutil.walk_packages(jifen.__path__, "jifen."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


def problem_classes() -> list[type[Problem]]:
    """Every Problem subclass of the package (the base class excluded)."""
    _import_everything()
    found: list[type[Problem]] = []

    def walk(cls: type[Problem]) -> None:
        for sub in cls.__subclasses__():
            # Only the package's own classes (a test's throwaway subclass is not a code).
            if sub not in found and sub.__module__.startswith("jifen."):
                found.append(sub)
                walk(sub)

    walk(Problem)
    return found


def _extra_fields(cls: type[Problem]) -> set[str]:
    """The extra fields a class's constructor passes to Problem (read from its source)."""
    fields: set[str] = set()
    for klass in cls.__mro__:
        if klass is Problem or not issubclass(klass, Problem) or "__init__" not in vars(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass.__init__)))
        for node in ast.walk(tree):
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(node, ast.Call) and isinstance(func, ast.Attribute):
                if func.attr != "__init__":
                    continue
                for keyword in node.keywords:
                    if keyword.arg and keyword.arg != "detail_zh":
                        fields.add(keyword.arg)
    return fields


def _raise_site_fields() -> dict[str, set[str]]:
    """Extra fields passed where a class is raised: `InsufficientPoints(..., balance_points=)`."""
    by_name: dict[str, set[str]] = {}
    root = Path(jifen.__file__).parent
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else None
                if isinstance(func, ast.Attribute):
                    name = func.attr
                if name and name[:1].isupper():
                    names = {k.arg for k in node.keywords if k.arg and k.arg != "detail_zh"}
                    by_name.setdefault(name, set()).update(names)
    return by_name


@lru_cache(maxsize=1)
def entries() -> tuple[CatalogEntry, ...]:
    by_code: dict[str, list[type[Problem]]] = {}
    raised = _raise_site_fields()
    for cls in problem_classes():
        by_code.setdefault(cls.code, []).append(cls)
    result: dict[str, CatalogEntry] = {}
    for code, classes in by_code.items():
        first = classes[0]
        statuses = tuple(sorted({cls.status for cls in classes}))
        fields: set[str] = set()
        for cls in classes:
            fields |= _extra_fields(cls)
            if "__init__" not in vars(cls):  # a constructor of its own names its fields
                fields |= raised.get(cls.__name__, set())
        advice, advice_zh = ADVICE.get(statuses[0], ADVICE[400])
        result[code] = CatalogEntry(
            code=code,
            statuses=statuses,
            title=first.title,
            title_zh=first.title_zh,
            fields=(*BASE_FIELDS, *sorted(fields)),
            advice=advice,
            advice_zh=advice_zh,
        )
    for code, status, title, title_zh in HTTP_LEVEL:
        if code not in result:
            advice, advice_zh = ADVICE[status]
            result[code] = CatalogEntry(
                code, (status,), title, title_zh, BASE_FIELDS, advice, advice_zh
            )
    return tuple(result[code] for code in sorted(result))


def markdown() -> str:
    """docs/errors.md: generated by `jifen export-errors`; do not edit by hand."""
    lines = [
        "# Error catalog / 错误代码表",
        "",
        "<!-- Generated by `jifen export-errors`; do not edit. A test checks it is current. -->",
        "",
        "Every refusal is an RFC 9457 problem (`application/problem+json`) with a stable",
        "`code`; clients switch on `code`, never on the wording. Send",
        "`Accept-Language: zh-CN` for Chinese titles and details (English is the default).",
        "Each problem's `type` links to its entry in this catalog, served at `/v1/errors`.",
        "A `validation_failed` lists `errors`, each with `location`, `type`, `message`",
        "(English) and `message_zh` (Chinese), whatever the language asked for.",
        "",
        "所有错误均以 RFC 9457 problem 格式返回，`code` 稳定不变，客户端应依据 `code` 判断。",
        "请求头 `Accept-Language: zh-CN` 返回中文标题和说明（默认英文）。",
        "`validation_failed` 的 `errors` 每项含 `location`、`type`、`message`（英文）和",
        "`message_zh`（中文），与所选语言无关。",
        "",
        f"{len(entries())} codes.",
        "",
    ]
    for entry in entries():
        lines += [
            f"## `{entry.code}`",
            "",
            f"- Status: {', '.join(str(s) for s in entry.statuses)}",
            f"- Meaning: {entry.title}",
            f"- 含义：{entry.title_zh}",
            f"- Fields: {', '.join(f'`{f}`' for f in entry.fields)}",
            f"- What to do: {entry.advice}",
            f"- 处理建议：{entry.advice_zh}",
            "",
        ]
    return "\n".join(lines)


def page_html() -> str:
    rows = []
    for entry in entries():
        code = html.escape(entry.code)
        rows.append(
            f'<tr id="{code}"><td><code>{code}</code></td>'
            f"<td>{', '.join(str(s) for s in entry.statuses)}</td>"
            f"<td>{html.escape(entry.title_zh)}<br>{html.escape(entry.title)}</td>"
            f"<td>{', '.join(html.escape(f) for f in entry.fields)}</td>"
            f"<td>{html.escape(entry.advice_zh)}<br>{html.escape(entry.advice)}</td></tr>"
        )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>错误代码表 / Error catalog — jifen</title></head><body>"
        "<h1>错误代码表 / Error catalog</h1>"
        "<p>客户端应依据 <code>code</code> 判断错误；发送 <code>Accept-Language: zh-CN</code>"
        " 获取中文说明。 Clients switch on <code>code</code>; send"
        " <code>Accept-Language: zh-CN</code> for Chinese.</p>"
        "<table><thead><tr><th>代码 Code</th><th>状态 Status</th><th>含义 Meaning</th>"
        "<th>字段 Fields</th><th>处理建议 What to do</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>"
    )


async def serve_page(request: Request) -> HTMLResponse:
    """GET /v1/errors: the catalog, public like /docs (it names codes, not data)."""
    return HTMLResponse(page_html())
