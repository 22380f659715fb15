"""openapi/openapi.json is the API reference clients read: it must match the code."""

from __future__ import annotations

import json
from pathlib import Path

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
