import base64

import pytest

from app.settings import PROJECT_ROOT, SettingsError, database_url, load_settings

SECRET = base64.b64encode(b"s3cr3t-bytes-for-hmac").decode()


def test_defaults_need_no_environment():
    settings = load_settings({})
    assert settings.applications == {} and settings.verify_signatures is True
    assert settings.signature_max_skew == 600 and settings.max_callback_bytes == 65536
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'instance' / 'sinch-recorder.db'}"
    assert settings.redis_url is None and settings.rules_file is None  # the demo ruleset, said loudly


def test_applications_from_the_pair_and_the_list():
    other = base64.b64encode(b"other").decode()
    settings = load_settings({"SINCH_APPLICATION_KEY": "k1", "SINCH_APPLICATION_SECRET": SECRET,
                              "SINCH_APPLICATIONS": f"k2:{other}, k3:{other}"})
    assert settings.applications == {"k1": b"s3cr3t-bytes-for-hmac", "k2": b"other", "k3": b"other"}
    assert SECRET not in repr(settings) and "k1" in repr(settings)


@pytest.mark.parametrize("url, expected", [
    ("postgres://u:p@db.example.com:5432/d", "postgresql+psycopg://u:p@db.example.com:5432/d"),
    ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
    ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
    ("sqlite:///rel/x.db", f"sqlite:///{PROJECT_ROOT / 'rel' / 'x.db'}"),
    ("sqlite:///:memory:", "sqlite:///:memory:"),
])
def test_database_url_is_normalised(url, expected):
    assert database_url(url) == expected


@pytest.mark.parametrize("env, variable", [
    ({"SINCH_SIGNATURE_MAX_SKEW": "ten"}, "SINCH_SIGNATURE_MAX_SKEW"),
    ({"SINCH_SIGNATURE_MAX_SKEW": "0"}, "SINCH_SIGNATURE_MAX_SKEW"),
    ({"SINCH_VERIFY_SIGNATURES": "maybe"}, "SINCH_VERIFY_SIGNATURES"),
    ({"SINCH_APPLICATIONS": "just-a-key"}, "SINCH_APPLICATIONS"),
    ({"SINCH_APPLICATIONS": "k:not*base64"}, "SINCH_APPLICATIONS"),
    ({"SINCH_APPLICATION_KEY": "k"}, "SINCH_APPLICATION_KEY"),
    ({"SINCH_APPLICATION_KEY": "k", "SINCH_APPLICATION_SECRET": "n0t-base64!"}, "SINCH_APPLICATION_SECRET"),
    ({"SINCH_FALLBACK_ICE_SVAML": "{not json"}, "SINCH_FALLBACK_ICE_SVAML"),
    ({"SINCH_FALLBACK_ACE_SVAML": "[1]"}, "SINCH_FALLBACK_ACE_SVAML"),
    ({"MAX_CALLBACK_BYTES": "12"}, "MAX_CALLBACK_BYTES"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"DATABASE_URL": ""}, "DATABASE_URL"),
])
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert variable in str(caught.value)


def test_secrets_are_not_echoed_in_errors():
    with pytest.raises(SettingsError) as caught:
        load_settings({"SINCH_APPLICATION_KEY": "k", "SINCH_APPLICATION_SECRET": "very-secret-value!"})
    assert "very-secret-value" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings({"SINCH_APPLICATIONS": "k:other-secret!"})
    assert "other-secret" not in str(caught.value)


def test_fallback_svaml_that_sinch_would_refuse_stops_the_app(make_app):
    with pytest.raises(SettingsError, match="SINCH_FALLBACK_ICE_SVAML: action.name: continue is not allowed"):
        make_app(SINCH_FALLBACK_ICE_SVAML='{"action": {"name": "continue"}}')
