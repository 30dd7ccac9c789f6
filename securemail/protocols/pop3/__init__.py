"""POP3 sessions (RFC 1939) over the wire/pop3 codec: personal and group-mailbox Inboxes."""
