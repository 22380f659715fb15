"""Every ORM table, one module per aggregate: the one place Alembic looks."""

from jifen.models.access import (
    ApiKey,
    AuditEvent,
    MemberBinding,
    MemberCredential,
    OAuthClient,
    OutboxEvent,
    Principal,
    Role,
    RoleGrant,
    ServiceSecret,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from jifen.models.base import Base
from jifen.models.boards import Board, BoardEntry
from jifen.models.charters import (
    Activity,
    CharterVersion,
    Project,
    Record,
    RecordReview,
)
from jifen.models.checkpoints import Checkpoint, CheckpointKey
from jifen.models.evidence import EvidencePhoto, EvidencePhotoRecord
from jifen.models.expiry import ExpiryNotice
from jifen.models.idempotency import IdempotencyRecord
from jifen.models.ledger import GENESIS_HASH, Account, AccountBalance, Book, Entry, Posting
from jifen.models.market import (
    AlliedSettlement,
    AlliedShop,
    Goods,
    GoodsPrice,
    Refund,
    RefundLine,
    Sale,
    SaleLine,
    StockMovement,
)
from jifen.models.notice import NoticeList, NoticeListItem, NoticeObjection
from jifen.models.spaces import Space, SpaceClaim, SpaceInspection
from jifen.models.subsidies import (
    Contribution,
    Meeting,
    ProjectScore,
    SchemeVersion,
    Settlement,
    SettlementApproval,
    WageRate,
)
from jifen.models.tenancy import (
    Household,
    HouseholdMembership,
    Member,
    Organisation,
    Township,
    Village,
)
from jifen.models.withholding import ProjectAcceptance, SubsidyRelease, SubsidyWithholding

__all__ = [
    "GENESIS_HASH",
    "Account",
    "AccountBalance",
    "Activity",
    "AlliedSettlement",
    "AlliedShop",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Board",
    "BoardEntry",
    "Book",
    "CharterVersion",
    "Checkpoint",
    "CheckpointKey",
    "Contribution",
    "Entry",
    "EvidencePhoto",
    "EvidencePhotoRecord",
    "ExpiryNotice",
    "Goods",
    "GoodsPrice",
    "Household",
    "HouseholdMembership",
    "IdempotencyRecord",
    "Meeting",
    "Member",
    "MemberBinding",
    "MemberCredential",
    "NoticeList",
    "NoticeListItem",
    "NoticeObjection",
    "OAuthClient",
    "Organisation",
    "OutboxEvent",
    "Posting",
    "Principal",
    "Project",
    "ProjectAcceptance",
    "ProjectScore",
    "Record",
    "RecordReview",
    "Refund",
    "RefundLine",
    "Role",
    "RoleGrant",
    "Sale",
    "SaleLine",
    "SchemeVersion",
    "ServiceSecret",
    "Settlement",
    "SettlementApproval",
    "Space",
    "SpaceClaim",
    "SpaceInspection",
    "StockMovement",
    "SubsidyRelease",
    "SubsidyWithholding",
    "Township",
    "Village",
    "WageRate",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
