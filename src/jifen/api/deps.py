"""FastAPI dependencies: the request's session, the acting principal, the clock.

They do no I/O, so they are async: FastAPI runs them on the event loop instead of
sending each to the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from jifen.config import Settings
from jifen.kit.clock import utc_now
from jifen.ledger.service import Clock
from jifen.problems import ValidationFailed

ACTOR_HEADER = "X-Jifen-Actor"
ACTOR_LENGTH_MAX = 200


async def get_session(request: Request) -> Session:
    """The session of the request's unit of work (opened by UnitOfWorkRoute)."""
    session: Session = request.state.session
    return session


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def actor_of(request: Request) -> str:
    """Who is acting, as the caller names itself (until authentication arrives)."""
    actor = request.headers.get(ACTOR_HEADER) or "anonymous"
    if len(actor) > ACTOR_LENGTH_MAX:
        message = f"{ACTOR_HEADER} must be at most {ACTOR_LENGTH_MAX} characters"
        raise ValidationFailed(
            message,
            errors=[{"location": ["header", ACTOR_HEADER], "message": message, "type": "too_long"}],
        )
    return actor


async def get_actor(
    request: Request,
    _header: Annotated[
        str | None,
        Header(alias=ACTOR_HEADER, description="Who is acting (recorded on every entry)."),
    ] = None,
) -> str:
    return actor_of(request)


async def get_clock(settings: Annotated[Settings, Depends(get_settings)]) -> Clock:
    return Clock(now=utc_now(), settings=settings)


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ActorDep = Annotated[str, Depends(get_actor)]
ClockDep = Annotated[Clock, Depends(get_clock)]
