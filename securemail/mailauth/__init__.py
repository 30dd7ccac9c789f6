"""SPF, DKIM and DMARC verification and DKIM signing."""
