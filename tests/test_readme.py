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


WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes, base64


def fenced(kind: str) -> list[tuple[str, str]]:
    """Every fenced block of a kind in the README and docs/, with the file it is in."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found += [(page.name, block) for block in re.findall(rf"```{kind}\n(.*?)```", page.read_text(), re.S)]
    return found


def test_every_ruleset_in_the_readme_and_docs_passes_rules_check(make_app, tmp_path, monkeypatch):
    rulesets = [(page, block) for page, block in fenced("yaml") if "version: 1" in block and "rules:" in block]
    assert {page for page, _ in rulesets} >= {"README.md", "rules.md"}
    app = make_app()
    for number, (page, block) in enumerate(rulesets):
        for name in re.findall(r"\$\{([A-Z0-9_]+)", block):  # a webhook secret has a form of its own
            monkeypatch.setenv(name, WEBHOOK_SECRET if name.endswith("WEBHOOK_SECRET") else f"value-of-{name.lower()}")
        path = tmp_path / f"{number}.yaml"
        path.write_text(block)
        result = app.test_cli_runner().invoke(args=["rules", "check", str(path)])
        assert result.exit_code == 0, f"the ruleset in {page} ({number}):\n{result.output}"


def test_the_reload_recipe_reaches_the_web_and_the_worker_as_the_procfile_starts_them(database_url, tmp_path):
    import json
    import os
    import shlex
    import shutil
    import subprocess

    import requests

    from tests.processes import BIN, eventually, free_port, stop

    [recipe] = [line for _, block in fenced("sh") for line in block.splitlines() if "pkill -HUP" in line]
    rules = tmp_path / "rules.yaml"
    shutil.copy(ROOT / "tests" / "rules" / "minimal.yaml", rules)
    port = free_port()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DATABASE_URL": database_url, "RULES_FILE": str(rules), "PORT": str(port),
           "GUNICORN_HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "INSTANCE_PATH": str(tmp_path / "instance")}
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines())
    processes = {}
    for kind in ("web", "worker"):
        with open(tmp_path / f"{kind}.log", "wb") as log:
            processes[kind] = subprocess.Popen(["bash", "-c", f"exec {procfile[kind]} -n" if kind == "worker"
                                                else f"exec {procfile[kind]}"], cwd=ROOT, env=env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)

    def hash_served():
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()["rules"]["hash"]
        except (requests.RequestException, ValueError):
            return None

    def worker_hashes():
        lines = (tmp_path / "worker.log").read_text().splitlines()
        # a SIGHUP before huey's consumer has taken the signal reloads the rules in place
        return [json.loads(line).get("hash") for line in lines if '"rules loaded"' in line or '"rules reloaded"' in line]

    try:
        old = eventually(hash_served, "the web process to serve", deadline=60)
        eventually(lambda: worker_hashes() == [old], "the worker to load the rules", deadline=60)
        rules.write_text(rules.read_text() + "\n# edited: a new hash\n")
        for command in recipe.split(";"):
            subprocess.run(shlex.split(command), check=True)  # each pattern matches a running process
        new = eventually(lambda: (hash_served() or old) != old and hash_served(), "the web to reload", deadline=60)
        eventually(lambda: worker_hashes()[-1:] == [new], "the worker to reload", deadline=60)
    finally:
        for process in processes.values():
            stop(process)
