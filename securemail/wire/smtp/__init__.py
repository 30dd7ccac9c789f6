"""SMTP codec (RFC 5321 and extensions): command parsing, reply building, DATA framing."""
