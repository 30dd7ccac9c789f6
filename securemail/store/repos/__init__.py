"""Repositories: SQL in, core dataclasses out. Callers pass the connection (the transaction)."""
