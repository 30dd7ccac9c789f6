"""The SQL schema as SQLAlchemy Core tables; migrations in store/migrations build it."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Named constraints: SQLite batch migrations need them (STACK.md).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)
ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrement needs INTEGER

organisations = Table(
    "organisations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

domains = Table(
    "domains",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("organisations.id"), nullable=False, index=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("organisations.id"), nullable=True, index=True),
    Column("address", String(254), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("must_change_password", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", TS, nullable=True),
    Column("last_login_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("totp_secret", Text, nullable=True),  # a second factor is enrolled when set
    Column("totp_last_step", BigInteger, nullable=True),  # RFC 6238 step last accepted
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("organisations.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("address", String(254), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("owner_user_id", ID, ForeignKey("users.id"), nullable=True, unique=True),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
)

folders = Table(
    "folders",
    metadata,
    Column("id", ID, primary_key=True),
    Column("mailbox_id", ID, ForeignKey("mailboxes.id"), nullable=False),
    Column("name", String(400), nullable=False),
    Column("special_use", String(10), nullable=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uidnext", BigInteger, nullable=False),
    Column("highestmodseq", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False),
    # messages in the folder: +n where UIDs are taken, -1 where one leaves (repos/messages.py)
    Column("message_count", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("mailbox_id", "name", name="uq_folders_mailbox_name"),
)

grants = Table(
    "grants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("mailbox_id", ID, ForeignKey("mailboxes.id"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False, index=True),
    Column("rights", Integer, nullable=False),
    Column("granted_by", String(254), nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("mailbox_id", "user_id", name="uq_grants_mailbox_user"),
)

# Raw bytes by SHA-256 for the database blob store (multi-node deployments).
blob_data = Table(
    "blob_data",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# One row per distinct message content: the parsed fields, computed once at delivery.
contents = Table(
    "contents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("blob_id", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("from_addr", Text, nullable=False),
    Column("to_addrs", Text, nullable=False),
    Column("cc_addrs", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("date", TS, nullable=True),
    Column("message_id", Text, nullable=False),
    Column("in_reply_to", Text, nullable=False),
    Column("references", Text, nullable=False),
    Column("has_attachments", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
)

# One row per message per folder: what IMAP calls a message, with UID and MODSEQ.
messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column("folder_id", ID, ForeignKey("folders.id"), nullable=False),
    Column("content_id", ID, ForeignKey("contents.id"), nullable=False, index=True),
    Column("uid", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("keywords", Text, nullable=False),
    Column("internal_date", TS, nullable=False),
    Column("sent_by_user_id", ID, ForeignKey("users.id"), nullable=True),
    UniqueConstraint("folder_id", "uid", name="uq_messages_folder_uid"),
    Index("ix_messages_folder_date", "folder_id", "internal_date"),
    Index("ix_messages_folder_modseq", "folder_id", "modseq"),  # 0011: changes since a MODSEQ
)

# Per-user \Seen: each member of a group mailbox has their own read state.
seen = Table(
    "seen",
    metadata,
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("seen_at", TS, nullable=False),
    # The message's folder, kept with it: a folder's unread count for one user is then an
    # index range count (total - seen), not a join over every message of the folder.
    Column("folder_id", ID, nullable=False),
    Index("ix_seen_user", "user_id", "message_id"),
    Index("ix_seen_user_folder", "user_id", "folder_id"),
)

# Append-only, hash-chained audit log; audit_head serialises appenders on both engines.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=False),
    Column("at", TS, nullable=False),
    Column("actor", String(254), nullable=False),
    Column("org_id", ID, nullable=True, index=True),
    Column("action", String(40), nullable=False, index=True),
    Column("mailbox", String(254), nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

# The outbound queue: one row per remote recipient of a submitted message. Rows of one submission
# share `message_key` (and the blob), so a worker can hand them to one SMTP transaction.
# status: queued -> sent | bouncing -> bounced ("bouncing": failed, DSN not yet delivered).
outbound_queue = Table(
    "outbound_queue",
    metadata,
    Column("id", ID, primary_key=True),
    Column("message_key", String(32), nullable=False, index=True),
    Column("org_id", ID, ForeignKey("organisations.id"), nullable=True, index=True),
    Column("sender", String(254), nullable=False),  # "" is the null reverse-path
    Column("recipient", String(254), nullable=False),
    Column("blob_id", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", TS, nullable=False),
    Column("expires_at", TS, nullable=True),  # None: created_at + [relay] max_lifetime_seconds
    Column("lease_owner", String(100), nullable=True),
    Column("lease_until", TS, nullable=True),
    Column("last_attempt_at", TS, nullable=True),
    Column("last_code", Integer, nullable=True),
    Column("last_status", String(12), nullable=False),  # RFC 3463 enhanced code, "" if none
    Column("last_reply", Text, nullable=False),
    Column("remote_host", String(255), nullable=False),
    Column("last_tls", String(20), nullable=False),  # "TLSv1.3", or "" when sent in clear
    Column("created_at", TS, nullable=False),
    Column("finished_at", TS, nullable=True),
    Index("ix_outbound_queue_due", "status", "next_attempt_at"),
)

# Recipient domains to which an organisation sends only over verified TLS.
tls_required_domains = Table(
    "tls_required_domains",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("domain", String(255), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("org_id", "domain", name="uq_tls_required_domains_org_domain"),
)

# DKIM signing keys per mail domain; the newest active row signs, older rows stay for the record.
dkim_keys = Table(
    "dkim_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ID, ForeignKey("organisations.id"), nullable=False, index=True),
    Column("domain", String(255), nullable=False),
    Column("selector", String(63), nullable=False),
    Column("private_key", Text, nullable=False),  # PEM, PKCS#1
    Column("public_key", Text, nullable=False),  # base64 SubjectPublicKeyInfo, as in p=
    Column("active", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("domain", "selector", name="uq_dkim_keys_domain_selector"),
)

# POP3: a member without the Delete right who DELEs a group-mailbox message only hides it from
# their own POP3 view (a "delete after download" client cannot empty the team's mailbox).
pop3_hidden = Table(
    "pop3_hidden",
    metadata,
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("hidden_at", TS, nullable=False),
)

# IMAP LSUB/LIST (SUBSCRIBED): per user, per mailbox, folder names (may name absent folders).
imap_subscriptions = Table(
    "imap_subscriptions",
    metadata,
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("mailbox_id", ID, ForeignKey("mailboxes.id"), primary_key=True),
    Column("name", String(400), primary_key=True),
)

# App passwords for mail clients: high-entropy secrets checked with a keyed hash, per protocol.
app_passwords = Table(
    "app_passwords",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False, index=True),
    Column("label", String(100), nullable=False),
    Column("protocols", String(40), nullable=False),  # comma list: imap,pop3,smtp
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("last_used_at", TS, nullable=True),
)

# Webmail sessions: the cookie carries a random token; only its SHA-256 is stored. A session
# in stage "second-factor" has passed the password and waits for a TOTP or recovery code.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False, index=True),
    Column("stage", String(20), nullable=False),  # "second-factor" or "active"
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Column("remote", String(64), nullable=False),
    Column("user_agent", String(200), nullable=False),
)

# One-time recovery codes for a lost second-factor device: keyed hashes, each used once.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False, index=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("used_at", TS, nullable=True),
)

# Personal API tokens for /api/v1: only a keyed hash is stored; read-only or read-write; expiring.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False, index=True),
    Column("label", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scope", String(10), nullable=False),  # "read" or "write"
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("last_used_at", TS, nullable=True),
)

# Per-organisation policy set in the admin console; NULL: the server-wide default applies.
org_policies = Table(
    "org_policies",
    metadata,
    Column("org_id", ID, ForeignKey("organisations.id"), primary_key=True),
    Column("recipient_allowlist", Text, nullable=False),  # comma list of domains; "" = open
    Column("max_message_bytes", BigInteger, nullable=True),
    Column("session_idle_minutes", Integer, nullable=True),
    Column("min_password_length", Integer, nullable=True),
    Column("require_second_factor", Boolean, nullable=False),
)

# One row per message a user submitted in the last hour: the [limits] max_submissions_per_hour
# count, shared by every node. Older rows are deleted by the submissions that follow.
recent_submissions = Table(
    "recent_submissions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("at", TS, nullable=False, index=True),
    Index("ix_recent_submissions_user_at", "user_id", "at"),
)
