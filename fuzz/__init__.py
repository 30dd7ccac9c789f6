"""Fuzzing harnesses for the protocol codecs, the MIME parser and the HTML sanitiser."""
