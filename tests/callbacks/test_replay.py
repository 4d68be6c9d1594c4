"""flask journal replay: callbacks lost to an outage are applied again, idempotently."""

from app.db import db
from app.recordings.models import Recording
from tests.support import SinchClient

ICE = {"event": "ice", "callid": "rp-1", "cli": "+46701111111", "to": {"type": "number", "endpoint": "+46812345678"},
       "domain": "pstn"}


def test_replay_applies_what_the_outage_lost_and_repeats_nothing(make_app, tmp_path, queue):
    (tmp_path / "rules.yaml").write_text(
        "version: 1\nallow_literal_credentials: true\ndestinations:\n  d: {url: 's3://b/{callid}-{segment}.{format}', "
        "sinch_credentials: 'k:s:r'}\nrules:\n  - id: all\n    record: {destination: d}\n")
    app = make_app(RULES_FILE=str(tmp_path / "rules.yaml"))
    sinch = SinchClient(app.test_client())
    uri = sinch.post(ICE).json["instructions"][0]["options"]["destinationUrl"]
    finished = {"event": "notify", "callid": "rp-1", "version": 1, "type": "recording_finished", "destination": uri}
    sinch.post(finished)

    def status():
        with app.app_context():
            value = db.session.scalars(db.select(Recording.status)).one()
            db.session.close()
            return value
    assert status() == "finished"
    with app.app_context():  # pretend the catalogue update was lost (the journal row survived)
        db.session.execute(db.update(Recording).values(status="requested", finished_at=None))
        db.session.commit()

    runner = app.test_cli_runner()
    dry = runner.invoke(args=["journal", "replay", "--since", "2000-01-01T00:00:00Z", "--dry-run"])
    assert dry.exit_code == 0 and "1 callback(s): would apply 1" in dry.output and status() == "requested"
    done = runner.invoke(args=["journal", "replay", "--since", "2000-01-01T00:00:00Z"])
    assert done.exit_code == 0 and "applied 1" in done.output and status() == "finished"
    again = runner.invoke(args=["journal", "replay", "--since", "2000-01-01T00:00:00Z"])
    assert again.exit_code == 0 and status() == "finished"
    bad = runner.invoke(args=["journal", "replay", "--since", "yesterday"])
    assert bad.exit_code == 2 and "ISO-8601" in bad.output
