"""The service's own web pages (the supermarket till, the township dashboard), under /web.

Invariants:
- A page is served to a signed-in user only through `signed_in`/`current_user`, which
  re-read the user on every request: a disabled user, or one whose password changed, is
  signed out at once. A session cookie is HttpOnly, SameSite=Lax, Path=/web, signed and
  timestamped with a key derived from the database-held service key (all workers agree),
  and worth nothing after `web_session_ttl_seconds`.
- No state-changing request passes without a CSRF token bound to the browser's own
  session (or pre-session) nonce and, when the browser names it, this very Origin.
- Redirects after sign-in go only to paths under /web/.
- Pages carry a Content-Security-Policy without inline script or style, are never framed
  and never stored.
"""

from jifen.web.app import build_web_app
from jifen.web.pages import current_user, form_of, render, signed_in
from jifen.web.till import redirect_to_till

__all__ = ["build_web_app", "current_user", "form_of", "redirect_to_till", "render", "signed_in"]
