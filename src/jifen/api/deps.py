"""FastAPI dependencies: the request's session, the acting principal, the clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from jifen.config import Settings
from jifen.kit.clock import utc_now
from jifen.ledger.service import Clock

ACTOR_HEADER = "X-Jifen-Actor"


def get_session(request: Request) -> Session:
    """The session of the request's unit of work (opened by UnitOfWorkRoute)."""
    session: Session = request.state.session
    return session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_actor(
    x_jifen_actor: Annotated[
        str | None,
        Header(
            alias=ACTOR_HEADER,
            max_length=200,
            description="Who is acting (recorded on every entry).",
        ),
    ] = None,
) -> str:
    # Until authentication arrives, the caller names itself; every entry records it.
    return x_jifen_actor or "anonymous"


def get_clock(settings: Annotated[Settings, Depends(get_settings)]) -> Clock:
    return Clock(now=utc_now(), settings=settings)


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ActorDep = Annotated[str, Depends(get_actor)]
ClockDep = Annotated[Clock, Depends(get_clock)]
