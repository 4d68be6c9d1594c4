"""The worker process: ``python -m app.worker [huey_consumer's options]`` (the Procfile's worker).

It builds the app first (settings, JSON logs, the queue and its tasks), starts the webhook
dispatcher's thread (``app.events.delivery``), then runs huey's consumer with the options
``huey_consumer`` takes (``--workers``, ``--worker-type``, ``-n`` …).
Unlike ``huey_consumer`` it adds no plain-text handler of its own, so every line the worker
writes is one JSON object. ``SIGHUP`` makes huey finish its tasks and start the worker afresh,
which reads the ruleset again.
"""

from __future__ import annotations

import logging
import sys

from huey.consumer_options import ConsumerConfig, OptionParserHandler

import app.callbacks.pruning  # noqa: F401  (the task modules the consumer runs)
import app.callbacks.recovery  # noqa: F401
import app.events.retention  # noqa: F401
import app.evidence.tasks  # noqa: F401
import app.recordings.tasks  # noqa: F401
from app import create_app, tasks
from app.events.delivery import dispatcher
from app.settings import SettingsError


def main(argv: list[str]) -> None:
    options, _ = OptionParserHandler().get_option_parser().parse_args(argv)
    config = ConsumerConfig(**{key: value for key, value in vars(options).items() if value is not None})
    config.validate()
    try:
        app = create_app()
    except SettingsError as error:
        sys.exit(f"sinch-recorder worker cannot start: {error}")
    tasks.use_app(app)
    dispatcher(app).start()  # new events numbered, webhooks sent: beside the queue, in this process
    logging.getLogger("huey").setLevel(config.loglevel)
    sys.argv = ["-m", "app.worker", *argv]  # huey re-runs `python *sys.argv` on SIGHUP: this module again
    app.extensions["huey"].create_consumer(**config.values).run()


if __name__ == "__main__":
    main(sys.argv[1:])
