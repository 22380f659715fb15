"""ledger core: tenancy, books, accounts, balances, entries, postings, idempotency

Besides the tables, this revision installs the triggers that make entries and postings
append-only and balanced, on SQLite and on PostgreSQL alike.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 20:20:39.950381
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_table(
        "townships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_townships")),
        sa.UniqueConstraint("code", name=op.f("uq_townships_code")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["township_id"], ["townships.id"], name=op.f("fk_organisations_township_id_townships")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("township_id", "name", name=op.f("uq_organisations_township_id_name")),
    )
    op.create_index(
        op.f("ix_organisations_township_id"), "organisations", ["township_id"], unique=False
    )
    op.create_table(
        "villages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("allow_below_floor_codes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["township_id"], ["townships.id"], name=op.f("fk_villages_township_id_townships")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_villages")),
        sa.UniqueConstraint("id", "township_id", name=op.f("uq_villages_id_township_id")),
        sa.UniqueConstraint("township_id", "code", name=op.f("uq_villages_township_id_code")),
    )
    op.create_index(op.f("ix_villages_township_id"), "villages", ["township_id"], unique=False)
    op.create_table(
        "books",
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_books_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("village_id", name=op.f("pk_books")),
    )
    op.create_index(op.f("ix_books_township_id"), "books", ["township_id"], unique=False)
    op.create_table(
        "entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_pending", sa.Boolean(), nullable=False),
        sa.Column("allow_below_floor", sa.Boolean(), nullable=False),
        sa.Column("pending_entry_id", sa.Uuid(), nullable=True),
        sa.Column("reverses_entry_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("posting_count", sa.SmallInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("posting_count >= 2", name=op.f("ck_entries_two_postings")),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_entries_seq_positive")),
        sa.ForeignKeyConstraint(
            ["pending_entry_id"], ["entries.id"], name=op.f("fk_entries_pending_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_entry_id"], ["entries.id"], name=op.f("fk_entries_reverses_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_entries_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint("id", "village_id", name=op.f("uq_entries_id_village_id")),
        sa.UniqueConstraint("pending_entry_id", name=op.f("uq_entries_pending_entry_id")),
        sa.UniqueConstraint("reverses_entry_id", name=op.f("uq_entries_reverses_entry_id")),
        sa.UniqueConstraint(
            "village_id",
            "actor",
            "idempotency_key",
            name=op.f("uq_entries_village_id_actor_idempotency_key"),
        ),
        sa.UniqueConstraint("village_id", "seq", name=op.f("uq_entries_village_id_seq")),
    )
    op.create_index(op.f("ix_entries_township_id"), "entries", ["township_id"], unique=False)
    op.create_table(
        "households",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("split_from_household_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["split_from_household_id"],
            ["households.id"],
            name=op.f("fk_households_split_from_household_id_households"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_households_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
        sa.UniqueConstraint("id", "village_id", name=op.f("uq_households_id_village_id")),
        sa.UniqueConstraint("village_id", "number", name=op.f("uq_households_village_id_number")),
    )
    op.create_index(op.f("ix_households_township_id"), "households", ["township_id"], unique=False)
    op.create_index(op.f("ix_households_village_id"), "households", ["village_id"], unique=False)
    op.create_table(
        "members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("id_number_tail", sa.String(length=8), nullable=True),
        sa.Column("deactivated_on", sa.Date(), nullable=True),
        sa.Column("deactivation_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_members_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("id", "village_id", name=op.f("uq_members_id_village_id")),
    )
    op.create_index(op.f("ix_members_township_id"), "members", ["township_id"], unique=False)
    op.create_index(op.f("ix_members_village_id"), "members", ["village_id"], unique=False)
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("balance_floor", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("household_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("owner_ref", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'household') = (household_id IS NOT NULL)",
            name=op.f("ck_accounts_household_owner"),
        ),
        sa.CheckConstraint(
            "(kind = 'member') = (member_id IS NOT NULL)", name=op.f("ck_accounts_member_owner")
        ),
        sa.CheckConstraint(
            "(kind = 'organisation') = (organisation_id IS NOT NULL)",
            name=op.f("ck_accounts_organisation_owner"),
        ),
        sa.CheckConstraint("asset IN ('POINTS', 'CNY')", name=op.f("ck_accounts_asset")),
        sa.ForeignKeyConstraint(
            ["household_id", "village_id"],
            ["households.id", "households.village_id"],
            name=op.f("fk_accounts_household_id_village_id_households"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id", "village_id"],
            ["members.id", "members.village_id"],
            name=op.f("fk_accounts_member_id_village_id_members"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_accounts_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_accounts_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("id", "village_id", name=op.f("uq_accounts_id_village_id")),
        sa.UniqueConstraint(
            "village_id",
            "kind",
            "category",
            "asset",
            "owner_ref",
            name=op.f("uq_accounts_village_id_kind_category_asset_owner_ref"),
        ),
    )
    op.create_index(op.f("ix_accounts_household_id"), "accounts", ["household_id"], unique=False)
    op.create_index(op.f("ix_accounts_member_id"), "accounts", ["member_id"], unique=False)
    op.create_index(
        op.f("ix_accounts_organisation_id"), "accounts", ["organisation_id"], unique=False
    )
    op.create_index(op.f("ix_accounts_township_id"), "accounts", ["township_id"], unique=False)
    op.create_index(op.f("ix_accounts_village_id"), "accounts", ["village_id"], unique=False)
    op.create_table(
        "household_memberships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("is_head", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id", "village_id"],
            ["households.id", "households.village_id"],
            name=op.f("fk_household_memberships_household_id_village_id_households"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id", "village_id"],
            ["members.id", "members.village_id"],
            name=op.f("fk_household_memberships_member_id_village_id_members"),
        ),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["townships.id"],
            name=op.f("fk_household_memberships_township_id_townships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_memberships")),
    )
    op.create_index(
        op.f("ix_household_memberships_household_id"),
        "household_memberships",
        ["household_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_household_memberships_member_id"),
        "household_memberships",
        ["member_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_household_memberships_township_id"),
        "household_memberships",
        ["township_id"],
        unique=False,
    )
    op.create_index(
        "uq_household_memberships_open_member",
        "household_memberships",
        ["member_id"],
        unique=True,
        sqlite_where=sa.text("left_on IS NULL"),
        postgresql_where=sa.text("left_on IS NULL"),
    )
    op.create_table(
        "account_balances",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("posted", sa.BigInteger(), nullable=False),
        sa.Column("pending_debits", sa.BigInteger(), nullable=False),
        sa.Column("pending_credits", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "pending_debits >= 0 AND pending_credits >= 0",
            name=op.f("ck_account_balances_pending_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "village_id"],
            ["accounts.id", "accounts.village_id"],
            name=op.f("fk_account_balances_account_id_village_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_account_balances_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_balances")),
    )
    op.create_index(
        op.f("ix_account_balances_township_id"), "account_balances", ["township_id"], unique=False
    )
    op.create_index(
        op.f("ix_account_balances_village_id"), "account_balances", ["village_id"], unique=False
    )
    op.create_table(
        "postings",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("effect", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "effect IN ('posted', 'pending', 'pending_posted', 'pending_voided')",
            name=op.f("ck_postings_effect"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_postings_amount_non_zero")),
        sa.ForeignKeyConstraint(
            ["account_id", "village_id"],
            ["accounts.id", "accounts.village_id"],
            name=op.f("fk_postings_account_id_village_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id", "village_id"],
            ["entries.id", "entries.village_id"],
            name=op.f("fk_postings_entry_id_village_id_entries"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_postings_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("entry_id", "position", name=op.f("pk_postings")),
    )
    op.create_index(
        "ix_postings_account_occurred", "postings", ["account_id", "occurred_at"], unique=False
    )
    op.create_index("ix_postings_account_seq", "postings", ["account_id", "seq"], unique=False)
    op.create_index(op.f("ix_postings_township_id"), "postings", ["township_id"], unique=False)

    _create_guards()


def downgrade() -> None:
    _drop_guards()
    op.drop_index(op.f("ix_postings_township_id"), table_name="postings")
    op.drop_index("ix_postings_account_seq", table_name="postings")
    op.drop_index("ix_postings_account_occurred", table_name="postings")
    op.drop_table("postings")
    op.drop_index(op.f("ix_account_balances_village_id"), table_name="account_balances")
    op.drop_index(op.f("ix_account_balances_township_id"), table_name="account_balances")
    op.drop_table("account_balances")
    op.drop_index(
        "uq_household_memberships_open_member",
        table_name="household_memberships",
        sqlite_where=sa.text("left_on IS NULL"),
        postgresql_where=sa.text("left_on IS NULL"),
    )
    op.drop_index(op.f("ix_household_memberships_township_id"), table_name="household_memberships")
    op.drop_index(op.f("ix_household_memberships_member_id"), table_name="household_memberships")
    op.drop_index(op.f("ix_household_memberships_household_id"), table_name="household_memberships")
    op.drop_table("household_memberships")
    op.drop_index(op.f("ix_accounts_village_id"), table_name="accounts")
    op.drop_index(op.f("ix_accounts_township_id"), table_name="accounts")
    op.drop_index(op.f("ix_accounts_organisation_id"), table_name="accounts")
    op.drop_index(op.f("ix_accounts_member_id"), table_name="accounts")
    op.drop_index(op.f("ix_accounts_household_id"), table_name="accounts")
    op.drop_table("accounts")
    op.drop_index(op.f("ix_members_village_id"), table_name="members")
    op.drop_index(op.f("ix_members_township_id"), table_name="members")
    op.drop_table("members")
    op.drop_index(op.f("ix_households_village_id"), table_name="households")
    op.drop_index(op.f("ix_households_township_id"), table_name="households")
    op.drop_table("households")
    op.drop_index(op.f("ix_entries_township_id"), table_name="entries")
    op.drop_table("entries")
    op.drop_index(op.f("ix_books_township_id"), table_name="books")
    op.drop_table("books")
    op.drop_index(op.f("ix_villages_township_id"), table_name="villages")
    op.drop_table("villages")
    op.drop_index(op.f("ix_organisations_township_id"), table_name="organisations")
    op.drop_table("organisations")
    op.drop_table("townships")
    op.drop_table("idempotency_records")


# --- database guards --------------------------------------------------------------------
# The ledger's invariants live in Python and here, in the database, so that a bug or a
# hand-written statement cannot break them. Postings are inserted before their entry;
# the entry's insert checks that its postings are complete and balanced per asset.

_APPEND_ONLY_TABLES = ("entries", "postings")

_SQLITE_GUARDS = [
    *[
        f"""CREATE TRIGGER {table}_refuse_{op_name} BEFORE {op_name.upper()} ON {table}
        BEGIN SELECT RAISE(ABORT, 'jifen: {table} are append-only; {op_name} refused'); END"""
        for table in _APPEND_ONLY_TABLES
        for op_name in ("update", "delete")
    ],
    """CREATE TRIGGER entries_check_balanced BEFORE INSERT ON entries
    BEGIN
        SELECT RAISE(ABORT, 'jifen: unbalanced entry')
        WHERE (SELECT count(*) FROM postings WHERE entry_id = NEW.id) <> NEW.posting_count
           OR EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.id
                      GROUP BY asset HAVING sum(amount) <> 0);
    END""",
    """CREATE TRIGGER postings_refuse_late BEFORE INSERT ON postings
    BEGIN
        SELECT RAISE(ABORT, 'jifen: cannot add postings to a booked entry')
        WHERE EXISTS (SELECT 1 FROM entries WHERE id = NEW.entry_id);
    END""",
]

_POSTGRESQL_GUARDS = [
    """CREATE FUNCTION jifen_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'jifen: % are append-only; % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'JF001';
    END $$""",
    """CREATE FUNCTION jifen_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (SELECT count(*) FROM postings WHERE entry_id = NEW.id) <> NEW.posting_count
           OR EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.id
                      GROUP BY asset HAVING sum(amount) <> 0) THEN
            RAISE EXCEPTION 'jifen: unbalanced entry %', NEW.id USING ERRCODE = 'JF002';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE FUNCTION jifen_refuse_late_posting() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM entries WHERE id = NEW.entry_id) THEN
            RAISE EXCEPTION 'jifen: cannot add postings to booked entry %', NEW.entry_id
                USING ERRCODE = 'JF003';
        END IF;
        RETURN NEW;
    END $$""",
    *[
        f"""CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change()"""
        for table in _APPEND_ONLY_TABLES
    ],
    *[
        f"""CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change()"""
        for table in _APPEND_ONLY_TABLES
    ],
    """CREATE TRIGGER entries_check_balanced BEFORE INSERT ON entries
    FOR EACH ROW EXECUTE FUNCTION jifen_check_entry_balanced()""",
    """CREATE TRIGGER postings_refuse_late BEFORE INSERT ON postings
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_late_posting()""",
]


def _create_guards() -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _SQLITE_GUARDS, "postgresql": _POSTGRESQL_GUARDS}[dialect]
    for statement in statements:
        op.execute(statement)


def _drop_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in (
            "jifen_refuse_change",
            "jifen_check_entry_balanced",
            "jifen_refuse_late_posting",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {function}() CASCADE")
    # On SQLite the triggers go with their tables.
