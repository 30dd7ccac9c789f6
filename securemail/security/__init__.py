"""Pure security primitives: password hashing and random secrets."""
