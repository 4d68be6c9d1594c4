from tests import payloads


def test_healthz_does_no_io(make_app):
    app = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_database_and_queue(app):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "ok" and response.json["checks"] == {"database": "ok", "queue": "ok"}
    assert response.json["rules"]["file"].endswith("minimal.yaml") and response.json["rules"]["demo"] is False


def test_readyz_says_migrations_are_pending_on_a_database_without_them(make_app, databases):
    response = make_app(DATABASE_URL=databases.new("unmigrated")).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"].startswith("migrations pending (the database has no tables yet")
    assert response.json["checks"]["database"].endswith("run flask --app wsgi db upgrade")


def test_metrics_count_callbacks_and_signature_failures(app, sinch):
    sinch.post(payloads.ICE_PSTN)
    app.test_client().post("/sinch/callback", json=payloads.ICE_PSTN)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'sinch_callbacks_total{event="ice",outcome="answered"}' in text
    assert 'sinch_signature_failures_total{reason="missing_authorization"}' in text
    assert "sinch_callback_reply_seconds_bucket" in text


def test_metrics_include_recordings_by_status_and_queue_depth(app, queue):
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "sinch_queue_depth 0.0" in text and "# TYPE sinch_recordings gauge" in text


def test_metrics_add_up_across_gunicorn_workers(database_url, tmp_path):
    import json

    import requests

    from app.sinch.signing import sign
    from tests.processes import gunicorn
    from tests.support import APP_KEY, APP_SECRET

    env = {"DATABASE_URL": database_url, "SINCH_APPLICATION_KEY": APP_KEY, "SINCH_APPLICATION_SECRET": APP_SECRET,
           "INSTANCE_PATH": str(tmp_path / "instance"), "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": ""}
    with gunicorn("wsgi:app", env, tmp_path / "web.log") as (base, _):
        for i in range(20):  # new connections: both workers get some
            body = json.dumps(payloads.ICE_PSTN | {"callid": f"m{i}"}).encode()
            headers = sign(APP_KEY, APP_SECRET, method="POST", path="/sinch/callback", body=body)
            assert requests.post(f"{base}/sinch/callback", data=body, headers=headers, timeout=5).status_code == 200
        text = requests.get(f"{base}/metrics", timeout=5).text
    line = next(l for l in text.splitlines() if l.startswith('sinch_callbacks_total{event="ice",outcome="answered"}'))
    assert float(line.split()[-1]) == 20.0


def test_metrics_count_recordings_overdue_at_scrape_time(app):
    from datetime import datetime, timedelta, timezone

    from app.db import db
    from app.recordings.catalogue import new_recording

    now = datetime.now(timezone.utc)
    with app.app_context(), db.engine.begin() as connection:
        new_recording(connection, call_id="late", destination_url="s3://b/late.mp3", format="mp3", requested_at=now - timedelta(hours=2),
                      expected_by=now - timedelta(minutes=1))                    # never available in time
        new_recording(connection, call_id="unproven", destination_url="s3://b/unproven.mp3", format="mp3", initial="available",
                      requested_at=now - timedelta(hours=2), available_at=now - timedelta(hours=1))  # never proven
        new_recording(connection, call_id="fine", destination_url="s3://b/fine.mp3", format="mp3", requested_at=now,
                      expected_by=now + timedelta(minutes=10))
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "sinch_recordings_overdue 2.0" in text
