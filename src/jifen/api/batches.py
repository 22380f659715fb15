"""Batches: up to `batch_items_max` writes in one request, each with its own result.

A batch endpoint (declared `@requires(..., batch=True)`) parses the request and returns a
BatchPlan: one BatchItem per write, each a plain function of a session, and nothing is
read or written yet. UnitOfWorkRoute then runs the items:

- each on its own (the default): every item is a unit of the group committer, so a
  batch of a thousand items goes in one or a few database transactions, and an item that
  is refused refuses only itself; the answer lists every item's outcome, in order;
- all or nothing (`"atomic": true`): the items run as one unit; the first refusal
  refuses the whole batch (422 batch_refused, naming the item) and nothing is written.

Every item carries an idempotency key of its own: a retried batch answers the items
done before as they were answered then (`replayed`), and does the others. An item's
key belongs to the caller, as an Idempotency-Key header does; the batch itself takes no
header. Each item done is audited as a write of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import Field
from sqlalchemy.orm import Session

from jifen.api import idempotency
from jifen.kit.canonical import canonical_json
from jifen.kit.schemas import InputSchema, Invalid, Schema
from jifen.problems import Problem, ProblemBody

T = TypeVar("T")

BATCH_ITEMS_MAX = 1000
ITEM_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


@dataclass(frozen=True)
class BatchItem:
    key: str
    # The item as the client sent it (canonical JSON): the same key with another item is
    # refused (idempotency_key_reused).
    fingerprint: str
    work: Callable[[Session], Schema]
    # Announces what the work will read, for the group commit (see routing.prepares).
    prepare: Callable[[Session], None] | None = None


@dataclass(frozen=True)
class BatchPlan:
    items: list[BatchItem]
    atomic: bool = False


def item_fingerprint(path: str, item: InputSchema) -> str:
    content = canonical_json(item.model_dump(mode="json"))
    return idempotency.request_hash("POST", path + "#item", "", content)


def check_keys_once(keys: Iterable[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise Invalid(
                f"idempotency_key {key!r} is given to two items",
                f"幂等键 idempotency_key {key!r} 被两个条目同时使用",
            )
        seen.add(key)


class BatchCreate(InputSchema):
    atomic: bool = Field(
        default=False,
        description="false: each item is done or refused on its own (the answer lists "
        "each). true: all or nothing — the first refused item refuses the whole batch and "
        "nothing is written.",
    )


class BatchItemRead(Schema, Generic[T]):
    index: int
    idempotency_key: str
    status: int = Field(description="What a request of its own would have answered: 201, 409…")
    replayed: bool = Field(description="Done by an earlier request with this key")
    result: T | None
    problem: ProblemBody | None = Field(description="Why it was refused (RFC 9457)")


class BatchRead(Schema, Generic[T]):
    atomic: bool
    done: int = Field(description="Items done by this request")
    replayed: int = Field(description="Items done before, answered as they were then")
    refused: int
    items: list[BatchItemRead[T]]


class BatchRefused(Problem):
    code = "batch_refused"
    title = "An item of an all-or-nothing batch was refused; nothing was written"
    title_zh = "整批提交中有一项被拒绝，未写入任何内容"
    status = 422


@dataclass(frozen=True)
class ItemOutcome:
    status: int
    replayed: bool = False
    # The item's result as JSON bytes (stored for replays), or its refusal.
    body: bytes | None = None
    problem: dict[str, Any] | None = None


def answer(plan: BatchPlan, outcomes: list[ItemOutcome]) -> bytes:
    """The batch's answer, built around the items' JSON as it was serialised (and
    stored) when each was done."""
    parts = []
    for index, (item, outcome) in enumerate(zip(plan.items, outcomes, strict=True)):
        head = json.dumps(
            {
                "index": index,
                "idempotency_key": item.key,
                "status": outcome.status,
                "replayed": outcome.replayed,
            },
            ensure_ascii=False,
        )[:-1]
        result = outcome.body if outcome.body is not None else b"null"
        problem = (
            json.dumps(outcome.problem, ensure_ascii=False).encode()
            if outcome.problem is not None
            else b"null"
        )
        parts.append(head.encode() + b',"result":' + result + b',"problem":' + problem + b"}")
    done = sum(1 for o in outcomes if o.problem is None and not o.replayed)
    replayed = sum(1 for o in outcomes if o.replayed)
    summary = {
        "atomic": plan.atomic,
        "done": done,
        "replayed": replayed,
        "refused": len(outcomes) - done - replayed,
    }
    return json.dumps(summary).encode()[:-1] + b',"items":[' + b",".join(parts) + b"]}"
