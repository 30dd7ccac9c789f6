"""securemail: a self-hosted secure email service with group mailboxes under one rights model."""

__version__ = "0.1.0"
