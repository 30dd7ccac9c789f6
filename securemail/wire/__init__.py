"""Sans-IO protocol codecs (SMTP, POP3, IMAP, SASL)."""
