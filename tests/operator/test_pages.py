"""The operator page through the test client: access, filters, paging, a recording, a call."""

import hashlib
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from app.db import db
from app.operator.access import safe_next, without_credentials
from app.operator.sessions import OperatorSession
from tests.operator.conftest import SECRET_KEY, TOKEN, csrf_of, sign_in


def signed_in(app):
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return client


def test_the_page_is_behind_the_api_tokens(catalogue):
    client = catalogue.app.test_client()
    asked = client.get("/?status=failed")
    assert asked.status_code == 302 and asked.headers["Location"] == "/login?next=/?status%3Dfailed"
    wrong = sign_in(client, "guess", next="/?status=failed")
    assert wrong.status_code == 401 and b"not one of API_TOKENS" in wrong.data
    right = sign_in(client, next="/?status=failed")
    assert right.status_code == 302 and right.headers["Location"] == "/?status=failed"
    assert TOKEN not in (right.headers.get("Set-Cookie") or "")
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_of(client, "/")}).status_code == 302
    assert client.get("/").status_code == 302
    by_header = catalogue.app.test_client().get("/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert by_header.status_code == 200


def test_a_session_ends_when_its_token_is_withdrawn(catalogue, make_app, tmp_path):
    client = signed_in(catalogue.app)
    cookie = client.get_cookie("session").value
    rotated = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), API_TOKENS="other-token", SECRET_KEY=SECRET_KEY)
    again = rotated.test_client()
    again.set_cookie("session", cookie)
    assert again.get("/").status_code == 302  # the token left API_TOKENS: signed out
    stranger = make_app(RULES_FILE=str(tmp_path / "rules.yaml"), API_TOKENS=f"other-token,{TOKEN}",
                        SECRET_KEY="another-key").test_client()
    stranger.set_cookie("session", cookie)  # a cookie signed with another key
    assert stranger.get("/").status_code == 302


def test_signing_out_ends_the_session_for_good_even_for_a_copy_of_its_cookie(catalogue):
    client = signed_in(catalogue.app)
    copy = client.get_cookie("session").value
    assert client.post("/logout", data={"csrf_token": csrf_of(client, "/")}).status_code == 302
    replayed = catalogue.app.test_client()
    replayed.set_cookie("session", copy)
    assert replayed.get("/").status_code == 302


def test_a_session_lasts_twelve_hours(catalogue):
    client = signed_in(catalogue.app)
    assert client.get("/").status_code == 200
    with catalogue.app.app_context():
        db.session.execute(update(OperatorSession).values(
            started_at=datetime.now(timezone.utc) - timedelta(hours=12, minutes=1)))
        db.session.commit()
    assert client.get("/").status_code == 302


def test_the_database_keeps_no_session_id_and_no_token(catalogue):
    client = signed_in(catalogue.app)
    with catalogue.app.app_context():
        rows = db.session.scalars(db.select(OperatorSession)).all()
    stored = " ".join(f"{row.id_hash} {row.fingerprint}" for row in rows)
    assert rows and TOKEN not in stored
    assert all(len(row.id_hash) == 64 for row in rows)
    assert client.get_cookie("session").value not in stored


def test_sign_in_and_out_need_the_form_s_csrf_token(catalogue):
    client = catalogue.app.test_client()
    forged = client.post("/login", data={"token": TOKEN})         # a post from another site's page
    assert forged.status_code == 400 and b"CSRF token is missing" in forged.data
    assert client.get("/").status_code == 302                   # not signed in
    signed = signed_in(catalogue.app)
    assert signed.post("/logout").status_code == 400            # another site cannot sign an operator out
    assert signed.get("/").status_code == 200


def test_over_https_the_cookie_is_secure_and_a_foreign_referrer_is_refused(catalogue):
    site = "https://recorder.example"
    client = catalogue.app.test_client()
    token = csrf_of(client, base_url=site)
    foreign = client.post("/login", base_url=site, data={"token": TOKEN, "csrf_token": token},
                          headers={"Referer": "https://evil.example/"})
    assert foreign.status_code == 400 and b"referrer does not match" in foreign.data
    own = client.post("/login", base_url=site, data={"token": TOKEN, "csrf_token": token},
                      headers={"Referer": f"{site}/login"})
    assert own.status_code == 302
    assert "Secure" in own.headers["Set-Cookie"] and "HttpOnly" in own.headers["Set-Cookie"]
    plain = signed_in(catalogue.app)                             # over http (local development): not Secure
    assert "Secure" not in sign_in(plain).headers["Set-Cookie"]


def test_without_secret_key_the_page_is_off_and_says_how_to_turn_it_on(make_app):
    app = make_app(API_TOKENS=TOKEN, SECRET_KEY="")
    for path in ("/", "/login"):
        answer = app.test_client().get(path)
        assert answer.status_code == 403 and b"until SECRET_KEY is set" in answer.data
    assert app.test_client().get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_in_development_a_random_key_stands_in_for_secret_key(make_app, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    client = make_app(API_TOKENS=TOKEN, SECRET_KEY="").test_client()
    assert sign_in(client).status_code == 302 and client.get("/").status_code == 200


def test_a_token_in_the_query_string_is_not_carried_into_the_sign_in_redirect(catalogue):
    asked = catalogue.app.test_client().get(f"/?status=failed&token={TOKEN}&access_token=x")
    assert asked.status_code == 302 and TOKEN not in asked.headers["Location"]
    assert asked.headers["Location"] == "/login?next=/?status%3Dfailed"
    assert without_credentials("/?Token=a&call_id=b") == "/?call_id=b"


def test_no_tokens_means_no_page(make_app):
    response = make_app().test_client().get("/")
    assert response.status_code == 403 and b"Set API_TOKENS" in response.data


def test_the_list_shows_status_and_filters(catalogue):
    client = signed_in(catalogue.app)
    page = client.get("/").get_data(as_text=True)
    for row in (catalogue.good, catalogue.bad, catalogue.live):
        assert f'data-recording="{row.id}"' in page
    assert 'class="badge verified"' in page and 'class="badge failed"' in page
    failed = client.get("/?status=failed&call_id=&since=").get_data(as_text=True)
    assert f'data-recording="{catalogue.bad.id}"' in failed and f'data-recording="{catalogue.good.id}"' not in failed
    by_call = client.get("/?call_id=op-live").get_data(as_text=True)
    assert by_call.count("data-recording=") == 1
    bad = client.get("/?since=yesterday&status=lost")
    assert bad.status_code == 400 and b"since: Not a valid date." in bad.data and b"status:" in bad.data
    assert b"Old" not in client.get("/").data  # one page only


def test_older_recordings_are_a_link_away(catalogue, monkeypatch):
    import app.operator as operator

    monkeypatch.setattr(operator, "PAGE_SIZE", 2)
    client = signed_in(catalogue.app)
    first = client.get("/?status=").get_data(as_text=True)
    assert first.count("data-recording=") == 2 and 'rel="next"' in first
    link = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(link).get_data(as_text=True)
    assert second.count("data-recording=") == 1 and 'rel="next"' not in second
    assert client.get("/?cursor=garbage").status_code == 400


def test_a_verified_recording_plays_through_a_presigned_link(catalogue):
    import requests

    client = signed_in(catalogue.app)
    page = client.get(f"/recordings/{catalogue.good.id}").get_data(as_text=True)
    link = page.split('<audio controls preload="metadata" src="')[1].split('"')[0].replace("&amp;", "&")
    assert hashlib.sha256(requests.get(link, timeout=10).content).hexdigest() == catalogue.good.sha256
    assert catalogue.good.sha256 in page and "op-good" in page
    failed = client.get(f"/recordings/{catalogue.bad.id}").get_data(as_text=True)
    assert "<audio" not in failed and "only verified recordings can be played" in failed
    assert "empty file" in failed  # why it failed
    assert client.get("/recordings/nope").status_code == 404


def test_a_call_shows_its_decision_consent_and_pauses(catalogue):
    client = signed_in(catalogue.app)
    page = client.get("/calls/op-good").get_data(as_text=True)
    assert "record-all" in page and 'data-consent="accepted"' in page
    assert "&#34;dtmf&#34;" in page or "&quot;dtmf&quot;" in page or '"dtmf"' in page
    assert "agent-7" in page and "card number" in page and "<audio" in page
    assert client.get("/calls/never").status_code == 404


def test_next_is_only_ever_a_path_here():
    assert safe_next("/?status=failed") == "/?status=failed"
    for hostile in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""):
        assert safe_next(hostile) == "/"


def test_the_list_filters_by_how_the_calls_consent_question_ended(catalogue):
    client = signed_in(catalogue.app)
    accepted = client.get("/?consent=accepted").get_data(as_text=True)
    assert f'data-recording="{catalogue.good.id}"' in accepted and f'data-recording="{catalogue.bad.id}"' not in accepted
    assert 'value="timeout"' in accepted and 'value="no_answer"' in accepted  # every outcome is offered
    none = client.get("/?consent=timeout").get_data(as_text=True)
    assert "data-recording=" not in none
    assert client.get("/?consent=maybe").status_code == 400


def test_every_page_forbids_framing_sniffing_referrers_and_caching(catalogue):
    client = signed_in(catalogue.app)
    for path in ("/", f"/recordings/{catalogue.good.id}", "/calls/op-good", "/login"):
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin" and headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
