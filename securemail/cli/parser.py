"""The command line grammar of `securemail`, one sub-command per verb."""

import argparse
from typing import Any, NoReturn

from securemail import __version__
from securemail.cli import backup as bk
from securemail.cli import handlers as h
from securemail.cli import keys as k
from securemail.cli import migrate_store as ms
from securemail.cli import outbound as o

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"securemail: {message} (see {self.prog} --help)\n")


def _verb(sub: Any, name: str, handler: Any, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
    parser.add_argument("--config", metavar="FILE", help="TOML config file (or SECUREMAIL_CONFIG)")
    parser.set_defaults(handler=handler)
    return parser


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _group(sub: Any, name: str, text: str) -> Any:
    parser = sub.add_parser(name, help=text, description=text)
    inner = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", parser_class=_Parser)
    inner.required = True
    return inner


def _org_and_domain(sub: Any) -> None:
    org = _group(sub, "org", "organisations")
    p = _verb(org, "create", h.org_create, "create an organisation with its first mail domain")
    p.add_argument("name")
    p.add_argument("--domain", required=True)
    _json(p)
    _json(_verb(org, "list", h.org_list, "list organisations"))
    domain = _group(sub, "domain", "mail domains")
    p = _verb(domain, "add", h.domain_add, "add a mail domain to an organisation")
    p.add_argument("org", metavar="ORG", help="organisation name")
    p.add_argument("domain", metavar="DOMAIN")


def _users(sub: Any) -> None:
    user = _group(sub, "user", "users")
    p = _verb(user, "create", h.user_create, "create a user and their personal mailbox")
    p.add_argument("address")
    p.add_argument("--name", help="display name")
    p.add_argument("--admin", action="store_true", help="an administrator of the organisation")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _json(p)
    p = _verb(user, "list", h.user_list, "list users")
    p.add_argument("--org", help="only this organisation")
    _json(p)
    for verb, text in (("disable", "disable a user"), ("enable", "enable a user")):
        p = _verb(user, verb, h.user_disable if verb == "disable" else h.user_enable, text)
        p.add_argument("address")
    p = _verb(user, "app-password", h.user_app_password, "create an app password for mail clients")
    p.add_argument("address")
    p.add_argument("--label", default="mail client", help="what the password is for")
    p.add_argument("--protocols", default="imap,pop3,smtp", help="comma list of imap,pop3,smtp")
    p = _verb(user, "reset-password", h.user_reset_password, "set a new password")
    p.add_argument("address")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


def _groups(sub: Any) -> None:
    group = _group(sub, "group", "group mailboxes")
    p = _verb(group, "create", h.group_create, "create a group mailbox")
    p.add_argument("address")
    p.add_argument("--name", help="display name")
    _json(p)
    p = _verb(group, "list", h.group_list, "list group mailboxes")
    p.add_argument("--org", help="only this organisation")
    _json(p)
    rights_help = "comma list of read,write,mail,delete,manage"
    p = _verb(sub, "grant", h.grant, "grant rights on a group mailbox to a user")
    p.add_argument("group", metavar="GROUP_ADDRESS")
    p.add_argument("user", metavar="USER_ADDRESS")
    p.add_argument("rights", metavar="RIGHTS", help=rights_help)
    p = _verb(sub, "revoke", h.revoke, "revoke rights (all when RIGHTS is left out)")
    p.add_argument("group", metavar="GROUP_ADDRESS")
    p.add_argument("user", metavar="USER_ADDRESS")
    p.add_argument("rights", metavar="RIGHTS", nargs="?", help=rights_help)
    p = _verb(sub, "grants", h.grants, "list who holds which rights on a group mailbox")
    p.add_argument("group", metavar="GROUP_ADDRESS")
    _json(p)


def _operations(sub: Any) -> None:
    _verb(sub, "migrate", h.migrate, "apply database migrations")
    ms.add_arguments(_verb(sub, "migrate-store", ms.migrate_store, ms.SUMMARY))
    bk.add_backup_arguments(_verb(sub, "backup", bk.backup, bk.BACKUP_SUMMARY))
    bk.add_restore_arguments(_verb(sub, "restore", bk.restore, bk.RESTORE_SUMMARY))
    keys = _group(sub, "keys", "the data keys that seal mail and secrets at rest")
    _verb(keys, "status", k.status, k.STATUS_SUMMARY)
    p = _verb(keys, "rotate", k.rotate, k.ROTATE_SUMMARY)
    p.description = k.ROTATE_DESCRIPTION
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    _verb(keys, "reseal", k.reseal_again, k.RESEAL_SUMMARY)
    _verb(keys, "stage", k.stage, k.STAGE_SUMMARY)
    _verb(sub, "serve", h.serve, "run the service")
    _verb(sub, "demo", h.demo, "load the demo organisation (once) and print its passwords")
    audit = _group(sub, "audit", "the audit log")
    _verb(audit, "verify", h.audit_verify, "check the audit hash chain")
    p = _verb(audit, "list", h.audit_list, "show recent audit entries")
    p.add_argument("--mailbox", help="only entries about this mailbox")
    p.add_argument("--limit", type=int, default=50)
    _json(p)
    p = _verb(sub, "deliver", h.deliver, "deliver a message from stdin to local addresses")
    p.add_argument("recipients", nargs="+", metavar="ADDRESS")


def _outbound(sub: Any) -> None:
    dkim = _group(sub, "dkim", "DKIM signing keys of the mail domains")
    p = _verb(dkim, "generate", o.dkim_generate, "create or rotate a domain's DKIM key")
    p.add_argument("domain", metavar="DOMAIN")
    p.add_argument("--selector", help="DKIM selector (default: [relay] dkim_selector-YYYYMMDD)")
    _json(p)
    p = _verb(dkim, "list", o.dkim_list, "list DKIM keys and their DNS record names")
    p.add_argument("--org", help="only this organisation")
    _json(p)
    policy = _group(sub, "policy", "outbound mail policy of an organisation")
    tls = _group(policy, "tls-required", "recipient domains reached only over verified TLS")
    for verb, handler in (("add", o.policy_tls_add), ("remove", o.policy_tls_remove)):
        p = _verb(tls, verb, handler, f"{verb} a TLS-required recipient domain")
        p.add_argument("org", metavar="ORG", help="organisation name")
        p.add_argument("domain", metavar="DOMAIN")
    p = _verb(tls, "list", o.policy_tls_list, "list an organisation's TLS-required domains")
    p.add_argument("org", metavar="ORG", help="organisation name")
    _json(p)
    queue = _group(sub, "queue", "the outbound mail queue")
    p = _verb(queue, "list", o.queue_list, "list queued (or, with --status, other) messages")
    p.add_argument(
        "--status",
        default="queued,bouncing",
        help="comma list of queued,sent,bouncing,bounced, or all (default: queued,bouncing)",
    )
    p.add_argument("--limit", type=int, default=100)
    _json(p)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="securemail",
        description="securemail: self-hosted secure email with group mailboxes.",
        epilog="Settings: a TOML file (--config) where SECUREMAIL_<SECTION>_<KEY> overrides each "
        "key; SECUREMAIL_DATABASE_URL=postgresql://... selects PostgreSQL. Bad input exits 2.",
    )
    parser.add_argument("--version", action="version", version=f"securemail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _org_and_domain(sub)
    _users(sub)
    _groups(sub)
    _operations(sub)
    _outbound(sub)
    return parser
