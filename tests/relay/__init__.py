"""Outbound queue, relay, DKIM signing and DSN tests."""
