"""Security tests: one file per attack, named after it."""
