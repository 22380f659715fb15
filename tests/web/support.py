"""What the web tests share: staff users who can sign in, a real HTTP server of the app, and
signing in through the sign-in page as a person does. The fixtures are in conftest.py."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin

import uvicorn
from playwright.sync_api import Page, expect
from starlette.types import ASGIApp

from jifen.access import service as access
from jifen.access.permissions import ScopeKind
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import Village
from jifen.web.sessions import SESSION_COOKIE
from tests.factories import make_village

STAFF_PASSWORD = "村里的 correct horse 42"


@dataclass(frozen=True)
class StaffUser:
    """A user with a username and password and one built-in role."""

    id: uuid.UUID
    username: str
    password: str
    name: str
    role: str
    township_id: uuid.UUID
    village_id: uuid.UUID
    village_name: str


def make_staff_user(
    db: Database,
    *,
    role: str = "village_clerk",
    username: str = "li.wenshu",
    name: str = "李文书",
    password: str = STAFF_PASSWORD,
    village_id: uuid.UUID | None = None,
) -> StaffUser:
    """A staff user holding `role` in the village `village_id` (a new one if None); a
    township-wide role is granted on that village's township."""
    now = utc_now()
    with db.unit_of_work() as session:
        village = session.get(Village, village_id) if village_id else make_village(session)
        assert village is not None, village_id
        granted = access.builtin_role(session, role)
        on_village = ScopeKind(granted.scope) is not ScopeKind.TOWNSHIP
        user = access.create_user(
            session,
            name=name,
            township_id=village.township_id,
            village_id=village.id if on_village else None,
            username=username,
            password=password,
            created_by="test",
            now=now,
        )
        access.grant_role(
            session,
            caller=None,
            user_id=user.id,
            role_id=granted.id,
            village_id=village.id if on_village else None,
            township_id=None if on_village else village.township_id,
            created_by="test",
            now=now,
        )
        return StaffUser(
            id=user.id,
            username=username,
            password=password,
            name=name,
            role=role,
            township_id=village.township_id,
            village_id=village.id,
            village_name=village.name,
        )


def sign_in(page: Page, user: StaffUser, *, next_path: str = "/web/") -> None:
    """Sign `user` in through the sign-in page, typing as a person does, and wait until the
    browser is at `next_path` (a path under /web/) with a session. The page's context must
    have the server's base_url (the `context` fixture's has)."""
    page.goto(f"/web/login?next={quote(next_path, safe='')}")
    page.get_by_label("用户名", exact=True).fill(user.username)
    page.get_by_label("密码", exact=True).fill(user.password)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(urljoin(page.url, next_path))
    assert any(c["name"] == SESSION_COOKIE for c in page.context.cookies()), page.url


@dataclass
class LiveServer:
    """The app served over HTTP by uvicorn, on the test's own database."""

    url: str  # http://127.0.0.1:<port>, no trailing slash
    settings: Settings
    db: Database
    # Exceptions the app let out (uvicorn's "Exception in ASGI application"): none may.
    errors: list[logging.LogRecord] = field(default_factory=list)


class _Errors(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.into.append(record)


@contextmanager
def serve(app: ASGIApp, settings: Settings, db: Database) -> Iterator[LiveServer]:
    """Serve `app` from a thread of this process, on a port of its own, until the block ends."""
    # The socket is bound here and handed to uvicorn, so no other test can take the port
    # between choosing it and listening on it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: leave the process's logging (and pytest's capture of it) alone.
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    served = LiveServer(f"http://127.0.0.1:{port}", settings, db)
    errors = _Errors(served.errors)
    logging.getLogger("uvicorn.error").addHandler(errors)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"live-server-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server did not start: {served.errors or 'see the log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 30 s")
            time.sleep(0.01)
        yield served
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        logging.getLogger("uvicorn.error").removeHandler(errors)
        if thread.is_alive():
            raise RuntimeError("the server did not stop within 15 s")
