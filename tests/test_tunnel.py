import sys

from click.testing import CliRunner

from app.tunnel import tunnel_command


def test_the_tunnel_is_for_development_only(monkeypatch):
    monkeypatch.setenv("DYNO", "web.1")
    result = CliRunner().invoke(tunnel_command, [])
    assert result.exit_code == 1 and "development only" in result.output


def test_without_the_extra_it_says_what_to_install(monkeypatch):
    monkeypatch.delenv("DYNO", raising=False)
    monkeypatch.setitem(sys.modules, "pyngrok", None)
    result = CliRunner().invoke(tunnel_command, ["--port", "5000"])
    assert result.exit_code == 1 and "pip install -e '.[ngrok]'" in result.output
