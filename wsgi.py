"""The WSGI entry point for gunicorn: ``gunicorn -c config/gunicorn.conf.py wsgi:app``."""

import sys

from app import create_app
from app.settings import SettingsError

try:
    app = create_app()
except SettingsError as error:
    sys.exit(f"sinch-recorder cannot start: {error}")
