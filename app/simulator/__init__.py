"""A faithful local Sinch platform, for development and tests (see ``flask sinch simulate``)."""
