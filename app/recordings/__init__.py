"""The recording catalogue: calls, recordings, and the one status machine they move through."""
