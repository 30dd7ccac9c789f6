"""Pure mail handling: RFC 5322 and MIME parsing with limits."""
