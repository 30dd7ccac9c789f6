"""Sockets, TLS contexts, bounded reading and timeouts."""
