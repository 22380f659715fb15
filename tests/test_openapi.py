"""openapi/openapi.json is the API reference clients read: it must match the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jifen.cli import openapi_text

DOCUMENT = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_exported_document_matches_the_code() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == openapi_text(), (
        "openapi/openapi.json is stale: run `make openapi` (jifen export-openapi) and commit it"
    )


def test_every_operation_declares_its_problems_and_a_summary() -> None:
    document = json.loads(openapi_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            problems = [
                status
                for status, response in operation["responses"].items()
                if "application/problem+json" in response.get("content", {})
            ]
            assert "422" in problems, f"{method.upper()} {path} does not declare its problems"
            if "{" in path:
                assert "404" in problems, f"{method.upper()} {path} does not declare not_found"


# The charter issue's endpoints show examples of what they take and give.
EXAMPLED_TAGS = {"charters", "records", "labor", "rankings"}


def _has_example(schema: object, schemas: dict[str, Any], seen: frozenset[str]) -> bool:
    if not isinstance(schema, dict):
        return False
    if "example" in schema or "examples" in schema:
        return True
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return name not in seen and _has_example(schemas.get(name), schemas, seen | {name})
    parts = [*schema.get("properties", {}).values(), schema.get("items")]
    parts += [*schema.get("anyOf", []), *schema.get("allOf", []), *schema.get("oneOf", [])]
    return any(_has_example(part, schemas, seen) for part in parts)


def test_the_charter_endpoints_show_examples() -> None:
    document = json.loads(openapi_text())
    schemas = document["components"]["schemas"]
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not EXAMPLED_TAGS & set(operation.get("tags", [])):
                continue
            contents = list(operation.get("requestBody", {}).get("content", {}).values())
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    contents += response.get("content", {}).values()
            for content in contents:
                assert "example" in content or _has_example(
                    content.get("schema"), schemas, frozenset()
                ), f"{method.upper()} {path} shows no example"
                checked += 1
    assert checked > 30
