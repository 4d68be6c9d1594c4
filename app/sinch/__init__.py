"""The Sinch Voice platform: request signing, callback schemas, SVAML and the fallback reply."""
