"""FastAPI dependencies: the request's session, the caller, the clock.

They do no I/O, so they are async: FastAPI runs them on the event loop instead of
sending each to the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from jifen.access.guard import Caller
from jifen.config import Settings
from jifen.kit.clock import utc_now
from jifen.ledger.service import Clock


async def get_session(request: Request) -> Session:
    """The session of the request's unit of work (opened by UnitOfWorkRoute)."""
    session: Session = request.state.session
    return session


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_caller(request: Request) -> Caller:
    """The authenticated caller (UnitOfWorkRoute admitted it before the endpoint)."""
    caller: Caller = request.state.caller
    return caller


async def get_clock(request: Request) -> Clock:
    # Reads the settings itself: one dependency to solve, not two, on every write.
    return Clock(now=utc_now(), settings=request.app.state.settings)


SessionDep = Annotated[Session, Depends(get_session)]
CallerDep = Annotated[Caller, Depends(get_caller)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]

# Query parameters of every list.
Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=500)]
