"""The Sinch Voice platform: request signing, callback schemas and SVAML."""
