"""Refusals of the access layer."""

from __future__ import annotations

from jifen.problems import Problem


class Unauthenticated(Problem):
    code = "unauthenticated"
    title = "Credentials are missing, unknown, expired or revoked"
    title_zh = "凭证缺失、未知、已过期或已吊销"
    status = 401

    def __init__(
        self,
        detail: str | None = None,
        error: str = "invalid_token",
        *,
        detail_zh: str | None = None,
    ) -> None:
        super().__init__(detail, detail_zh=detail_zh)
        self.headers["WWW-Authenticate"] = f'Bearer realm="jifen", error="{error}"'


class Forbidden(Problem):
    code = "forbidden"
    title = "You may not do this"
    title_zh = "无权执行此操作"
    status = 403


class RateLimited(Problem):
    code = "rate_limited"
    title = "Too many requests"
    title_zh = "请求过于频繁"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many requests; retry after {retry_after} s",
            detail_zh=f"请求过于频繁，请在 {retry_after} 秒后重试",
            retry_after=retry_after,
        )
        self.headers["Retry-After"] = str(retry_after)


class PermissionNotHeld(Problem):
    code = "permission_not_held"
    title = "A role cannot give permissions its author does not hold"
    title_zh = "角色不能授予其创建者本人没有的权限"
    status = 403


class RoleScopeMismatch(Problem):
    code = "role_scope_mismatch"
    title = "This role cannot be granted on this scope"
    title_zh = "该角色不能在此范围内授予"
    status = 422


class CredentialRejected(Problem):
    code = "credential_rejected"
    title = "The member's card token or one-time code is not valid"
    title_zh = "村民的积分卡令牌或一次性验证码无效"
    status = 422


class BindingConflict(Problem):
    code = "binding_conflict"
    title = "This user is already bound to a member"
    title_zh = "该用户已绑定其他村民"
    status = 409


class CardInvalid(Problem):
    code = "card_invalid"
    title = "This is not a points card of this service"
    title_zh = "这不是本系统的积分卡"
    status = 422


class CardRevoked(Problem):
    code = "card_revoked"
    title = "This points card was replaced by a newer one"
    title_zh = "该积分卡已被新卡替换"
    status = 422


class CardOfAnotherVillage(Problem):
    code = "card_other_village"
    title = "This points card belongs to another village"
    title_zh = "该积分卡属于其他村"
    status = 422


class PhoneNotMatched(Problem):
    code = "phone_not_matched"
    title = "No active member of the township has this phone number on record"
    title_zh = "本乡镇在册村民中没有登记此手机号"
    status = 422


class PhoneAmbiguous(Problem):
    code = "phone_ambiguous"
    title = "Several members have this phone number on record: bind with a code instead"
    title_zh = "多名村民登记了此手机号，请向村务人员索取绑定码"
    status = 409


class GraceTooLong(Problem):
    code = "grace_too_long"
    title = "The old secret may stay valid only so long after a rotation"
    title_zh = "轮换后旧密钥的宽限期超过上限"
    status = 422
