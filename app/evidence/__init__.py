"""Evidence: a transparency log over the catalogue's events (issue 28), as RFC 9162 has one for
certificates. ``merkle`` is its pure hashing core."""
