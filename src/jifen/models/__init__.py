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
from jifen.models.charters import (
    Activity,
    CharterVersion,
    Project,
    Record,
    RecordReview,
)
from jifen.models.idempotency import IdempotencyRecord
from jifen.models.ledger import GENESIS_HASH, Account, AccountBalance, Book, Entry, Posting
from jifen.models.tenancy import (
    Household,
    HouseholdMembership,
    Member,
    Organisation,
    Township,
    Village,
)

__all__ = [
    "GENESIS_HASH",
    "Account",
    "AccountBalance",
    "Activity",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Book",
    "CharterVersion",
    "Entry",
    "Household",
    "HouseholdMembership",
    "IdempotencyRecord",
    "Member",
    "MemberBinding",
    "MemberCredential",
    "OAuthClient",
    "Organisation",
    "OutboxEvent",
    "Posting",
    "Principal",
    "Project",
    "Record",
    "RecordReview",
    "Role",
    "RoleGrant",
    "ServiceSecret",
    "Township",
    "Village",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
