"""IMAP4rev1/rev2 codec: command parsing and response building, sans I/O."""
