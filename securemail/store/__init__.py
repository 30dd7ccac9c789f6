"""Persistence: schema, migrations, repositories, blob stores, full-text index."""
