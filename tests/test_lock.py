"""The dependency locks: what CI installs is what Heroku's buildpack builds.

``requirements.txt`` (the app, read by Heroku's Python buildpack) and ``requirements-dev.txt``
(the app and the test tools) are generated from ``pyproject.toml`` by ``uv pip compile``; the
command that refreshes them is in docs/development.md and in each file's header.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.processes import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PYTHON = (ROOT / ".python-version").read_text().strip()


def pins(lock: Path) -> dict[str, str]:
    """``name -> version`` of every pin in a lock that applies to Linux on the deploy's Python."""
    environment = {"python_version": PYTHON, "python_full_version": f"{PYTHON}.99", "sys_platform": "linux",
                   "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
                   "platform_python_implementation": "CPython", "os_name": "posix"}
    found = {}
    for line in lock.read_text().splitlines():
        if not line or line[0] in "# -":
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        name, version = requirement.strip().split("==")
        found[canonicalize_name(name)] = version
    return found


def declared(extra: str | None = None) -> list[Requirement]:
    texts = PYPROJECT["dependencies"] + (PYPROJECT["optional-dependencies"][extra] if extra else [])
    return [Requirement(text) for text in texts]


def test_each_lock_pins_every_declared_dependency_within_its_range():
    for lock, extra in ((ROOT / "requirements.txt", None), (ROOT / "requirements-dev.txt", "dev")):
        pinned = pins(lock)
        for requirement in declared(extra):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{lock.name} has no pin for {requirement}: refresh the lock (docs/development.md)"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                f"{lock.name} pins {name}=={pinned[name]}, outside {requirement}: refresh the lock")


def test_the_test_lock_agrees_with_the_app_lock():
    app, dev = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-dev.txt")
    assert {name: dev.get(name) for name in app} == app


def test_locks_python_procfile_and_app_json_agree():
    from packaging.specifiers import SpecifierSet

    assert re.fullmatch(r"3\.\d+", PYTHON), ".python-version names a major.minor Python, as Heroku reads it"
    assert SpecifierSet(PYPROJECT["requires-python"]).contains(f"{PYTHON}.0")
    for lock in ("requirements.txt", "requirements-dev.txt"):
        header = (ROOT / lock).read_text().splitlines()[1]
        assert "uv pip compile pyproject.toml" in header and f"--python-version {PYTHON}" in header, header
    app_json = __import__("json").loads((ROOT / "app.json").read_text())
    assert [pack["url"] for pack in app_json["buildpacks"]] == ["heroku/python"]
    pinned = pins(ROOT / "requirements.txt")
    programs = {"gunicorn": "gunicorn", "python": "huey", "flask": "flask"}
    for line in (ROOT / "Procfile").read_text().splitlines():
        program = line.split(":", 1)[1].split()[0]
        assert programs[program] in pinned, f"the Procfile runs {program}, which requirements.txt does not install"
    assert set(app_json["formation"]) <= {line.split(":")[0] for line in (ROOT / "Procfile").read_text().splitlines()}


def _third_party_imports() -> dict[str, Path]:
    """Every module ``app/`` imports (inside functions too) that is not the standard library's."""
    found: dict[str, Path] = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [_module_of(node)] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                if name.split(".")[0] not in sys.stdlib_module_names | {"app", "__future__"}:
                    found.setdefault(name, path)
    return found


def _module_of(node: ast.ImportFrom) -> str:
    """``from google.cloud import storage`` names the module ``google.cloud.storage``."""
    for alias in node.names:
        try:
            spec = importlib.util.find_spec(f"{node.module}.{alias.name}")
        except ModuleNotFoundError:
            spec = None
        if spec is not None and spec.origin:
            return f"{node.module}.{alias.name}"
    return node.module


def _distribution_files() -> dict[Path, str]:
    owners = {}
    for distribution in importlib.metadata.distributions():
        for file in distribution.files or ():
            owners[Path(distribution.locate_file(file)).resolve()] = canonicalize_name(distribution.metadata["Name"])
    return owners


def test_every_module_the_app_imports_is_a_declared_dependency():
    allowed = {canonicalize_name(r.name) for r in declared()} | {canonicalize_name(r.name) for r in declared("ngrok")}
    owners = _distribution_files()
    undeclared = []
    for module, where in _third_party_imports().items():
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:  # an optional extra that is not installed here
            assert module.split(".")[0] == "pyngrok", f"{module} (imported by {where}) is not installed"
            continue
        owner = owners.get(Path(spec.origin).resolve())
        if owner not in allowed:
            undeclared.append(f"{module} ({owner}, imported by {where.relative_to(ROOT)})")
    assert not undeclared, "declare these in pyproject.toml: " + ", ".join(undeclared)
