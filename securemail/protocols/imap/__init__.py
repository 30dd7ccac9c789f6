"""The IMAP server: sessions that turn IMAP commands into service calls."""
