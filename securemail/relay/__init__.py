"""Outbound SMTP client: MX lookup and TLS policy."""
