"""/v1 members' points cards (积分卡): the current card, its QR code, and a village's
printable card sheet. Issuing a new card is `POST /v1/members/{member_id}/card`
(access.router).

A card is a credential — whoever holds its token may bind the member in a mini-program
and spend at the till — so seeing one needs what issuing one needs: `bindings:issue`
(村干部, 乡镇管理员). Cashiers scan cards; they do not print them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from markupsafe import Markup

from jifen.access import cards
from jifen.access.guard import requires
from jifen.access.permissions import Permission
from jifen.access.schemas import CardRead
from jifen.api.deps import ClockDep, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.problems import NotFound, problem_responses
from jifen.web.pages import templates

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

# Card tokens are bearer secrets: never kept by a cache.
_NO_STORE = {"Cache-Control": "no-store"}
# The sheet is a page of its own: inline style and inline SVG, nothing else.
_SHEET_HEADERS = {
    **_NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


async def card_key_made(request: Request) -> None:
    """Cards are printed by reads, which never keep a write: the card key is made before
    the first of them, once, in a write of its own."""
    state = request.app.state
    if getattr(state, "card_key_made", False):
        return
    db: Database = state.db
    now = utc_now()
    await db.committer.run(lambda session: cards.make_key(session, now))
    state.card_key_made = True


_PRINTS = [Depends(card_key_made)]


def _image_responses(description: str, media: dict[str, Any]) -> dict[int | str, Any]:
    return {200: {"description": description, "content": media}, **problem_responses(NotFound)}


@router.get(
    "/members/{member_id}/card",
    tags=["bindings"],
    summary="The member's current points card (积分卡)",
    description="The token the card's QR code carries, and what is printed beside it. "
    "Every member holds a card from the start (serial 0); reading or printing it changes "
    "nothing. `POST` to this path issues a new one and revokes the old at once.",
    responses=problem_responses(NotFound),
    dependencies=_PRINTS,
)
@requires(Permission.BINDINGS_ISSUE, on="member_id")
def get_card(member_id: uuid.UUID, session: SessionDep, response: Response) -> CardRead:
    card = cards.get_card(session, member_id)
    response.headers.update(_NO_STORE)
    return CardRead(
        member_id=card.member.id,
        member_number=card.member_number,
        serial=card.serial,
        token=card.token,
        issued_at=card.issued_at,
        qr_code_url=f"/v1/members/{card.member.id}/card/qr-code",
    )


@router.get(
    "/members/{member_id}/card/qr-code",
    tags=["bindings"],
    summary="The member's current points card as a QR code (SVG or PNG)",
    description="Encodes the token of `GET /v1/members/{member_id}/card`.",
    response_class=Response,
    responses=_image_responses(
        "An SVG image (format=svg), or a PNG (format=png)",
        {"image/svg+xml": {"schema": {"type": "string"}}, "image/png": {}},
    ),
    dependencies=_PRINTS,
)
@requires(Permission.BINDINGS_ISSUE, on="member_id")
def get_card_qr_code(
    member_id: uuid.UUID,
    session: SessionDep,
    image_format: Annotated[Literal["svg", "png"], Query(alias="format")] = "svg",
) -> Response:
    card = cards.get_card(session, member_id)
    image = cards.qr_image(card.token, kind=image_format, title=f"{card.member.name} 积分卡")
    return Response(image, media_type=_MEDIA_TYPES[image_format], headers=_NO_STORE)


@router.get(
    "/villages/{village_id}/card-sheet",
    tags=["bindings"],
    summary="A printable sheet of the village's points cards (HTML, A4)",
    description="Every member on the village's roll today (or one household's), ten "
    "cards to an A4 page, by household number: village, name, household, member number "
    "and QR code. Printing changes no card, so a sheet can be printed again at any time. "
    f"At most {cards.SHEET_CARDS_MAX} cards a request: `page` goes through the rest.",
    response_class=Response,
    responses=_image_responses("An HTML page", {"text/html": {"schema": {"type": "string"}}}),
    dependencies=_PRINTS,
)
@requires(Permission.BINDINGS_ISSUE, on="village_id")
def get_card_sheet(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    household_id: uuid.UUID | None = None,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> Response:
    sheet = cards.card_sheet(
        session,
        village_id=village_id,
        household_id=household_id,
        page=page,
        today=clock.local_date(clock.now),
    )
    html = templates.get_template("card_sheet.html").render(
        sheet=sheet,
        # segno's own SVG, of a token in base32: nothing in it to escape.
        qr=lambda token: Markup(cards.qr_svg_inline(token)),
    )
    return Response(html, media_type="text/html; charset=utf-8", headers=_SHEET_HEADERS)
