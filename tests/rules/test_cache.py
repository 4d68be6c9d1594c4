"""The compiled-ruleset cache: what it keeps, when it compiles afresh, what it refuses, and that
of processes started at once exactly one compiles."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.rules import cache
from app.rules.schema import RulesError, load_ruleset
from benchmarks.rules import ruleset_yaml
from tests.processes import ROOT

ARCH = ROOT / "tests" / "rules" / "architecture_example.yaml"
SECRET = "s3cr3t-value-that-must-not-be-on-disk"


def environ_of(path: Path) -> dict:
    return {match.group(1): f"{SECRET}-{match.group(1)}" for match in cache.REFERENCE.finditer(path.read_text())}


def kept(folder: Path) -> Path:
    """The copy in ``folder``, once written: its writer holds the lock until then."""
    for lock in folder.glob("rules.compiled.*.lock"):
        with open(lock) as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
    [copy] = folder.glob("rules.compiled.*.bin")
    return copy


def compiled_here(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "app.rules.cache"]


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(ARCH.read_text())
    return path


def test_a_kept_ruleset_is_the_ruleset_compiled_afresh(rules_file, tmp_path, caplog):
    caplog.set_level(logging.INFO, "app.rules.cache")
    environ = environ_of(rules_file)
    first = cache.load(rules_file, environ, tmp_path / "instance")
    second = cache.load(rules_file, environ, tmp_path / "instance")
    assert compiled_here(caplog) == ["rules compiled; keeping them for the other processes",
                                     "rules read as compiled by another process"]
    fresh = load_ruleset(rules_file, environ)
    assert first == second == fresh and second.hash == fresh.hash and second.source == str(rules_file)
    assert second.index.by_id.keys() == fresh.index.by_id.keys()
    assert [second.rule(rule.id) for rule in fresh.rules] == list(fresh.rules)
    assert second.destinations == fresh.destinations and second.webhooks == fresh.webhooks


def test_the_copy_holds_no_credential_in_clear_and_only_its_owner_reads_it(rules_file, tmp_path):
    cache.load(rules_file, environ_of(rules_file), tmp_path / "instance")
    copy = kept(tmp_path / "instance")
    assert SECRET.encode() not in copy.read_bytes() and b"s3cr3t" not in copy.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("change", ["credential", "text", "allow_literal"])
def test_a_rotated_credential_an_edited_file_or_another_setting_compiles_afresh(change, rules_file, tmp_path, caplog):
    caplog.set_level(logging.INFO, "app.rules.cache")
    environ, allow = environ_of(rules_file), False
    before = cache.load(rules_file, environ, tmp_path / "instance")
    if change == "credential":
        environ = {**environ, "REC_S3_WRITE_SECRET": "rotated"}
    elif change == "text":
        rules_file.write_text(rules_file.read_text().replace("support-line", "support-desk"))
    else:
        allow = True
    after = cache.load(rules_file, environ, tmp_path / "instance", allow_literal_credentials=allow)
    assert compiled_here(caplog) == ["rules compiled; keeping them for the other processes"] * 2
    assert after == load_ruleset(rules_file, environ, allow_literal_credentials=allow)
    if change != "allow_literal":
        assert after != before


def test_a_file_that_does_not_validate_is_refused_and_never_kept(rules_file, tmp_path):
    environ = environ_of(rules_file)
    cache.load(rules_file, environ, tmp_path / "instance")
    copy = kept(tmp_path / "instance")
    sealed = copy.read_bytes()
    rules_file.write_text("version: 1\nrules:\n  - id: only\n    when: {cli: '+1900*'}\n")
    with pytest.raises(RulesError) as refused:
        cache.load(rules_file, environ, tmp_path / "instance")
    assert "the last rule must be the default" in str(refused.value)
    assert kept(tmp_path / "instance").read_bytes() == sealed


def test_a_damaged_copy_is_compiled_over(rules_file, tmp_path, caplog):
    caplog.set_level(logging.INFO, "app.rules.cache")
    environ = environ_of(rules_file)
    cache.load(rules_file, environ, tmp_path / "instance")
    copy = kept(tmp_path / "instance")
    damaged = bytearray(copy.read_bytes())
    damaged[-40] ^= 1
    copy.write_bytes(bytes(damaged))
    assert cache.load(rules_file, environ, tmp_path / "instance") == load_ruleset(rules_file, environ)
    assert compiled_here(caplog) == ["rules compiled; keeping them for the other processes"] * 2


class Exploit:
    """What a forged copy could hold: a call made while unpickling."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_copy_holding_anything_but_a_ruleset_is_refused_unrun_even_when_it_authenticates(rules_file, tmp_path):
    environ, marker = environ_of(rules_file), tmp_path / "ran"
    cache.load(rules_file, environ, tmp_path / "instance")
    copy = kept(tmp_path / "instance")
    key = cache.cache_key(rules_file.read_text(), str(rules_file), environ, False)
    nonce = os.urandom(12)
    copy.write_bytes(cache.MAGIC + nonce + AESGCM(key).encrypt(nonce, pickle.dumps(Exploit(marker)), cache.MAGIC))
    assert cache.load(rules_file, environ, tmp_path / "instance") == load_ruleset(rules_file, environ)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="posix.mkdir is not part of a ruleset"):
        cache._Unpickler(io.BytesIO(pickle.dumps(Exploit(marker)))).load()


def test_a_folder_that_cannot_be_written_only_costs_the_compile(rules_file, tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the instance folder should be")
    environ = environ_of(rules_file)
    assert cache.load(rules_file, environ, blocked) == load_ruleset(rules_file, environ)
    assert "the compiled-ruleset cache is unavailable; compiling in this process" in caplog.text


LOADER = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
from app.rules import cache
sys.stdin.readline()  # every process waits here until all have started
cache.load(Path(sys.argv[1]), {"K": "k", "S": "s"}, Path(sys.argv[2]))
"""


def test_of_processes_loading_at_once_exactly_one_compiles(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(ruleset_yaml(3000, random.Random(11))[0])
    processes = [subprocess.Popen([sys.executable, "-c", LOADER, str(rules), str(tmp_path / "instance")], cwd=ROOT,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    said = sorted(line for output in outputs for line in output.splitlines() if line.startswith("rules "))
    assert said == (["rules compiled; keeping them for the other processes"]
                    + ["rules read as compiled by another process"] * 3)
