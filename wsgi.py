"""The WSGI entry point for gunicorn: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Settings the app refuses stop the process with one line naming the setting (gunicorn's master
has already checked the environment's, in ``config/gunicorn.conf.py``; this catches what only the
app finds, such as a rules file it refuses). In a gunicorn worker the exit code is 3, gunicorn's
"worker failed to boot": its master then stops too (and with it the dyno), where any other code
would have it start new workers that fail the same way, for ever. Elsewhere (``flask --app wsgi
…``) it is 1, as for any command that fails."""

import sys

from app import create_app
from app.settings import SettingsError

WORKER_BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR

try:
    app = create_app()
except SettingsError as error:
    print(f"sinch-recorder cannot start: {error}", file=sys.stderr)
    sys.exit(WORKER_BOOT_ERROR if "gunicorn.arbiter" in sys.modules else 1)  # a worker forked by gunicorn's master
