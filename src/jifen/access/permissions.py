"""The permission catalog, the OAuth2 scopes, and the built-in roles.

A role is data (a row in `roles`): a set of these permissions and the kind of scope it is
granted on. The built-in roles below are inserted by migration 0002; townships and
villages define their own (组长, 村务监督委员会, ...) through the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    TOWNSHIPS_CREATE = "townships:create"
    TOWNSHIP_MANAGE = "township:manage"
    VILLAGES_MANAGE = "villages:manage"
    TENANCY_READ = "tenancy:read"
    MEMBERS_WRITE = "members:write"
    ACCOUNTS_OPEN = "accounts:open"
    BALANCES_READ = "balances:read"
    ENTRIES_READ = "entries:read"
    POINTS_AWARD = "points:award"
    # A raw points entry to a member or household where a charter is in force (手工调整).
    POINTS_ADJUST = "points:adjust"
    POINTS_REDEEM = "points:redeem"
    POINTS_REFUND = "points:refund"
    ENTRIES_REVERSE = "entries:reverse"
    FUNDS_WRITE = "funds:write"
    BOOKS_READ = "books:read"
    BOOKS_VERIFY = "books:verify"
    FINANCE_SETTLE = "finance:settle"
    FINANCE_EXPORT = "finance:export"
    ACCESS_MANAGE = "access:manage"
    ROLES_MANAGE = "roles:manage"
    CLIENTS_MANAGE = "clients:manage"
    BINDINGS_ISSUE = "bindings:issue"
    AUDIT_READ = "audit:read"
    WEBHOOKS_MANAGE = "webhooks:manage"
    CHARTERS_READ = "charters:read"
    CHARTERS_WRITE = "charters:write"
    RECORDS_CREATE = "records:create"
    RECORDS_REVIEW = "records:review"
    RECORDS_REVOKE = "records:revoke"
    ACTIVITIES_MANAGE = "activities:manage"
    RANKINGS_READ = "rankings:read"
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    STOCK_WRITE = "stock:write"
    PROJECTS_ACCEPT = "projects:accept"
    NOTICE_READ = "notice:read"
    NOTICE_OBJECT = "notice:object"
    NOTICE_DECIDE = "notice:decide"
    BOARDS_WRITE = "boards:write"


PERMISSION_LABELS: dict[Permission, str] = {
    Permission.TOWNSHIPS_CREATE: "开设乡镇",
    Permission.TOWNSHIP_MANAGE: "管理乡镇及其村",
    Permission.VILLAGES_MANAGE: "修改村设置",
    Permission.TENANCY_READ: "查看村、户、村民",
    Permission.MEMBERS_WRITE: "登记与变更户、村民、组织",
    Permission.ACCOUNTS_OPEN: "开设账户",
    Permission.BALANCES_READ: "查看余额与明细",
    Permission.ENTRIES_READ: "查看记账凭证",
    Permission.POINTS_AWARD: "记积分（奖励、扣分、公示后入账）",
    Permission.POINTS_ADJUST: "手工调整积分（须注明原因）",
    Permission.POINTS_REDEEM: "积分兑换",
    Permission.POINTS_REFUND: "兑换退货",
    Permission.ENTRIES_REVERSE: "冲正记账",
    Permission.FUNDS_WRITE: "资金记账",
    Permission.BOOKS_READ: "查看试算平衡",
    Permission.BOOKS_VERIFY: "核验账本",
    Permission.FINANCE_SETTLE: "结算以奖代补",
    Permission.FINANCE_EXPORT: "导出财务报表",
    Permission.ACCESS_MANAGE: "管理用户、授权与密钥",
    Permission.ROLES_MANAGE: "定义角色",
    Permission.CLIENTS_MANAGE: "登记第三方应用",
    Permission.BINDINGS_ISSUE: "发放积分卡与绑定码",
    Permission.AUDIT_READ: "查看操作日志",
    Permission.WEBHOOKS_MANAGE: "管理事件推送",
    Permission.CHARTERS_READ: "查看村规民约积分细则",
    Permission.CHARTERS_WRITE: "起草与发布村规民约版本",
    Permission.RECORDS_CREATE: "登记积分事项（劳动、行为、活动签到）",
    Permission.RECORDS_REVIEW: "审核积分登记（初审、复核）",
    Permission.RECORDS_REVOKE: "撤回已生效的积分登记",
    Permission.ACTIVITIES_MANAGE: "发起活动与村级项目",
    Permission.RANKINGS_READ: "查看积分排行",
    Permission.CATALOG_READ: "查看积分超市商品与库存",
    Permission.CATALOG_WRITE: "管理积分超市商品、价格与联盟商家",
    Permission.STOCK_WRITE: "入库、捐赠物资登记与盘点调整",
    Permission.PROJECTS_ACCEPT: "项目验收（以奖代补暂扣资金据此拨付或收回）",
    Permission.NOTICE_READ: "查看公示名单与异议",
    Permission.NOTICE_OBJECT: "代村民登记公示异议与申诉",
    Permission.NOTICE_DECIDE: "处理公示异议与申诉（须为村规民约指定的角色）",
    Permission.BOARDS_WRITE: "编制与发布红黑榜",
}


class ClientScope(StrEnum):
    """What a third-party client may ask for in its token (RFC 6749 scope values)."""

    MEMBERS_READ = "members:read"
    MEMBERS_BIND = "members:bind"
    BALANCES_READ = "balances:read"
    CATALOG_READ = "catalog:read"
    BOARDS_READ = "boards:read"
    WEBHOOKS_MANAGE = "webhooks:manage"
    RECORDS_CLAIM = "records:claim"  # a resident's own report (个人申报)
    ACTIVITIES_CHECK_IN = "activities:checkin"  # scanning an activity's QR code
    NOTICE_OBJECT = "notice:object"  # a resident's objection to a notice list entry (公示异议)


class ScopeKind(StrEnum):
    SYSTEM = "system"  # the whole platform
    TOWNSHIP = "township"  # one township and all its villages
    VILLAGE = "village"  # one village
    SELF = "self"  # one village, only what concerns the holder's own household


@dataclass(frozen=True)
class BuiltinRole:
    code: str
    label: str
    scope: ScopeKind
    permissions: frozenset[Permission]


_READ = frozenset(
    {
        Permission.TENANCY_READ,
        Permission.BALANCES_READ,
        Permission.ENTRIES_READ,
        Permission.CHARTERS_READ,
        Permission.RANKINGS_READ,
        Permission.CATALOG_READ,
        Permission.NOTICE_READ,
    }
)

BUILTIN_ROLES: tuple[BuiltinRole, ...] = (
    BuiltinRole("platform_admin", "平台管理员", ScopeKind.SYSTEM, frozenset(Permission)),
    BuiltinRole(
        "township_admin",
        "乡镇管理员",
        ScopeKind.TOWNSHIP,
        frozenset(Permission) - {Permission.TOWNSHIPS_CREATE},
    ),
    BuiltinRole(
        "village_clerk",
        "村干部",
        ScopeKind.VILLAGE,
        _READ
        | {
            Permission.MEMBERS_WRITE,
            Permission.ACCOUNTS_OPEN,
            Permission.POINTS_AWARD,
            Permission.ENTRIES_REVERSE,
            Permission.BOOKS_READ,
            Permission.BINDINGS_ISSUE,
            Permission.ACCESS_MANAGE,
            Permission.ROLES_MANAGE,
            Permission.CHARTERS_WRITE,
            Permission.RECORDS_CREATE,
            Permission.RECORDS_REVIEW,
            Permission.ACTIVITIES_MANAGE,
            Permission.CATALOG_WRITE,
            Permission.STOCK_WRITE,
            Permission.NOTICE_OBJECT,
            Permission.NOTICE_DECIDE,
            Permission.BOARDS_WRITE,
        },
    ),
    BuiltinRole(
        "supermarket_cashier",
        "积分超市收银员",
        ScopeKind.VILLAGE,
        _READ | {Permission.POINTS_REDEEM, Permission.POINTS_REFUND, Permission.STOCK_WRITE},
    ),
    BuiltinRole(
        "township_finance",
        "乡镇财政",
        ScopeKind.TOWNSHIP,
        _READ
        | {
            Permission.BOOKS_READ,
            Permission.FUNDS_WRITE,
            Permission.FINANCE_SETTLE,
            Permission.FINANCE_EXPORT,
            Permission.PROJECTS_ACCEPT,
        },
    ),
    BuiltinRole(
        "auditor",
        "纪检审计",
        ScopeKind.TOWNSHIP,
        _READ | {Permission.BOOKS_READ, Permission.BOOKS_VERIFY, Permission.AUDIT_READ},
    ),
    BuiltinRole("resident", "村民", ScopeKind.SELF, _READ),
)
