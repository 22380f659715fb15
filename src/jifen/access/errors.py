"""Refusals of the access layer."""

from __future__ import annotations

from jifen.problems import Problem


class Unauthenticated(Problem):
    code = "unauthenticated"
    title = "Credentials are missing, unknown, expired or revoked"
    status = 401

    def __init__(self, detail: str | None = None, error: str = "invalid_token") -> None:
        super().__init__(detail)
        self.headers["WWW-Authenticate"] = f'Bearer realm="jifen", error="{error}"'


class Forbidden(Problem):
    code = "forbidden"
    title = "You may not do this"
    status = 403


class RateLimited(Problem):
    code = "rate_limited"
    title = "Too many requests"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests; retry after {retry_after} s", retry_after=retry_after)
        self.headers["Retry-After"] = str(retry_after)


class PermissionNotHeld(Problem):
    code = "permission_not_held"
    title = "A role cannot give permissions its author does not hold"
    status = 403


class RoleScopeMismatch(Problem):
    code = "role_scope_mismatch"
    title = "This role cannot be granted on this scope"
    status = 422


class CredentialRejected(Problem):
    code = "credential_rejected"
    title = "The member's card token or one-time code is not valid"
    status = 422


class BindingConflict(Problem):
    code = "binding_conflict"
    title = "This user is already bound to a member"
    status = 409


class CardInvalid(Problem):
    code = "card_invalid"
    title = "This is not a points card of this service"
    status = 422


class CardRevoked(Problem):
    code = "card_revoked"
    title = "This points card was replaced by a newer one"
    status = 422


class CardOfAnotherVillage(Problem):
    code = "card_other_village"
    title = "This points card belongs to another village"
    status = 422
