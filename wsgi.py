"""The WSGI entry point for gunicorn: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Settings the app refuses stop the process with exit code 3, gunicorn's "worker failed to boot":
its master then stops too (and with it the dyno), where any other code would have it start new
workers that fail the same way, for ever."""

import sys

from app import create_app
from app.settings import SettingsError

WORKER_BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR

try:
    app = create_app()
except SettingsError as error:
    print(f"sinch-recorder cannot start: {error}", file=sys.stderr)
    sys.exit(WORKER_BOOT_ERROR)
