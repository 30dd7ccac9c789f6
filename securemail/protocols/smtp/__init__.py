"""SMTP sessions: inbound MX and authenticated submission, over the wire/smtp codec."""
