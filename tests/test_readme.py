"""The README's two set-up commands stay true: CI runs the test one verbatim."""

import re

from tests.processes import ROOT


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(python3 -m venv .*)\n```", (ROOT / "README.md").read_text())


def test_readme_has_exactly_two_setup_commands():
    run, test = readme_commands()
    assert "honcho start web worker" in run and "db upgrade" in run
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = readme_commands()
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_procfile_has_web_worker_and_release():
    kinds = [line.split(":", 1)[0] for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert kinds == ["web", "worker", "release"]
