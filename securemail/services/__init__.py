"""Use cases. Every authorisation decision is made here and only here."""
