"""Schemathesis against the app, with every check: the API does what its schema says.

Bounded for the normal suite (a few examples per operation, signed in as a platform
administrator); `JIFEN_FUZZ_EXAMPLES=200 make fuzz` runs it longer.
"""

from __future__ import annotations

import itertools
import os

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from jifen.config import Settings
from jifen.db import Database
from jifen.main import create_app

EXAMPLES = int(os.environ.get("JIFEN_FUZZ_EXAMPLES", "2"))


def test_the_api_answers_as_documented(settings: Settings, db: Database, admin_key: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, db))
    headers = {"Authorization": f"Bearer {admin_key}"}
    failures: list[str] = []
    keys = itertools.count(1)
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: schemathesis.Case) -> None:
            if case.query and "cursor" in case.query:
                # A cursor is opaque: only one the list gave out is taken (422
                # invalid_cursor otherwise, as documented); tests/kit cover paging.
                del case.query["cursor"]
            if case.headers and "Idempotency-Key" in case.headers:
                # Generated keys repeat across operations (derandomized): a key reused
                # for another request is rightly refused, so each call gets its own.
                case.headers["Idempotency-Key"] = f"fuzz-{next(keys)}"
            case.call_and_validate(headers=headers)

        try:
            exercise()
        except BaseException as exc:  # every failure of every operation, not the first only
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    assert operations > 100
    assert not failures, "\n\n".join(failures)
