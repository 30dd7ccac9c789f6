"""Background loops: outbound delivery, retention, cleanup."""
