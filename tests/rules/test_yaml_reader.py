"""The fast YAML reader against PyYAML's safe loader, the reference: over every ruleset in the tests
and docs, YAML 1.1's own scalars, what the shortcut leaves to PyYAML, and generated documents.
Either reader gives the same values of the same types in the same order, or the same error."""

from __future__ import annotations

import datetime

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules import yaml_reader
from app.rules.schema import RulesError, parse_ruleset
from tests.rules.corpus import ruleset_texts, typed

pytestmark = pytest.mark.embedded  # no database: once is enough (the PostgreSQL pass leaves it)


def outcome(read, text: str):
    try:
        return "read", typed(read(text))
    except yaml.YAMLError as error:
        return "refused", type(error).__name__, str(error)


def same_as_pyyaml(text: str) -> None:
    assert outcome(yaml_reader.load, text) == outcome(yaml_reader.pyyaml_load, text), repr(text)


def test_every_ruleset_in_the_tests_and_docs_reads_as_pyyaml_reads_it():
    texts = ruleset_texts()
    for _, text in texts:
        same_as_pyyaml(text)
    shortcut = {where for where, text in texts if yaml_reader._fast(text) is not None}
    assert len(texts) > 70 and len(shortcut) > 0.85 * len(texts)
    assert {"config/rules.example.yaml", "tests/rules/architecture_example.yaml",
            "benchmarks/rules.py ruleset_yaml(300)"} <= shortcut
    assert {where for where in shortcut if where.startswith("README.md")}


# YAML 1.1 as PyYAML reads it, plain and quoted: what a YAML 1.2 parser alone would read otherwise.
YAML_1_1 = {
    "yes": True, "Yes": True, "YES": True, "no": False, "on": True, "On": True, "off": False, "OFF": False,
    "y": "y", "n": "n", "true": True, "True": True, "FALSE": False,
    "~": None, "null": None, "Null": None, "NULL": None, "": None,
    "0777": 511, "0o17": "0o17", "0x1F": 31, "0b101": 5, "1_000": 1000, "+46855500000": 46855500000,
    "-0": 0, "18:00": 1080, "08:00": "08:00", "1:30:00": 5400, "190:20:30.15": 685230.15,
    "1e3": "1e3", "1.0e+3": 1000.0, "1.5": 1.5, ".5": 0.5, "1.": 1.0, ".inf": float("inf"), "-.Inf": float("-inf"),
    "2026-12-04": datetime.date(2026, 12, 4),
    "2026-12-04t21:59:43.10-05:00": datetime.datetime(2026, 12, 4, 21, 59, 43, 100000,
                                                       datetime.timezone(datetime.timedelta(hours=-5))),
    "=": None, "<<": None, "NaN": "NaN", "nan": "nan", "inf": "inf", "0x": "0x", "+": "+",
}


@pytest.mark.parametrize("plain", sorted(YAML_1_1))
def test_plain_scalars_keep_their_yaml_1_1_meaning_and_quoted_ones_stay_strings(plain):
    for text in (f"value: {plain}\n", f"list: [{plain}]\n", f"list:\n- {plain}\n"):
        same_as_pyyaml(text)
    for quoted in (f"value: '{plain}'\n", f'value: "{plain}"\n', f"value: |-\n  {plain}\n"):
        same_as_pyyaml(quoted)
        if plain not in ("",):
            assert yaml_reader.load(quoted) == {"value": plain}
    if plain not in ("=", "<<"):  # a value and a merge key: PyYAML's safe loader has no constructor
        read = yaml_reader.load(f"value: {plain}\n")["value"]
        assert read == YAML_1_1[plain] and type(read) is type(YAML_1_1[plain])
    same_as_pyyaml(f"{plain}: key\n" if plain else "? ''\n: key\n")


def test_nan_is_read_as_a_float_nan():
    same_as_pyyaml("value: .nan\n")
    assert yaml_reader.load("value: .NaN\n")["value"] != yaml_reader.load("value: .NaN\n")["value"]


@pytest.mark.parametrize("text", [
    "a: &anchor 1\nb: *anchor\n",                      # anchors and aliases
    "base: &base {x: 1}\nderived:\n  <<: *base\n  y: 2\n",  # a merge key
    "a: !!str 18:00\nb: !!int '7'\n",                    # tags
    "a: !!binary aGVsbG8=\n",
    "%YAML 1.1\n---\na: on\n",                           # a directive
    "--- 1\n--- 2\n",                                    # two documents
    "- a\n- b\n", "just text\n", "", "# nothing\n",      # not a mapping
    "a: [1\n", "a: b: c\n", "\ta: 1\n",                  # not YAML at all
    "a: !python/object:os.system x\n",                   # what a safe loader refuses
    "yes: 1\ntrue: 2\n",                                 # two keys that both mean True
    "a: 1\rb: 2\n", "a: x\x85b\n",                       # line breaks other than LF and CR LF
    "a: }\n", "a: @x\n", "b: `x\n",                       # what no plain scalar may start with
])
def test_what_the_shortcut_does_not_read_pyyaml_reads(text):
    assert yaml_reader._fast(text) is None
    same_as_pyyaml(text)


def test_windows_line_ends_take_the_shortcut():
    text = "version: 1\r\nrules:\r\n- id: d\r\n  say: 'two\r\n    lines'\r\n"
    assert yaml_reader._fast(text) == {"version": 1, "rules": [{"id": "d", "say": "two lines"}]}
    same_as_pyyaml(text)


def test_a_single_document_with_a_start_marker_takes_the_shortcut():
    text = "---\nversion: 1\nrules: [{id: d}]\n...\n"
    assert yaml_reader._fast(text) == {"version": 1, "rules": [{"id": "d"}]}
    same_as_pyyaml(text)


@pytest.mark.parametrize("text, key, line", [
    ("a: 1\na: 2\n", "'a'", 2),
    ("rules:\n- id: r\n  when: {to: '+46', to: '+47'}\n", "'to'", 3),
    ("outer:\n  inner:\n    k: 1\n    k: 1\n", "'k'", 4),
    ("1: a\n1: b\n", "1", 2),
])
def test_a_key_given_twice_is_refused_on_both_paths_naming_key_and_line(text, key, line):
    for read in (yaml_reader.load, yaml_reader.pyyaml_load):
        with pytest.raises(yaml_reader.DuplicateKey) as refused:
            read(text)
        assert f"found duplicate key {key}" in str(refused.value)
        assert refused.value.problem_mark.line + 1 == line


def test_a_ruleset_with_a_key_given_twice_names_it():
    text = ("version: 1\nrules:\n- id: office\n  when: {to: '+4681234*'}\n  when: {to: '+4690*'}\n"
            "  connect: dialled\n- id: default\n")
    with pytest.raises(RulesError) as refused:
        parse_ruleset(text, {})
    assert refused.value.problems == {"line 5, column 3": [
        "is not valid YAML: found duplicate key 'when': each key may appear once"]}


def test_merged_keys_may_be_overridden():
    text = "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n"
    assert yaml_reader.load(text)["d"] == {"x": 3, "y": 2}
    same_as_pyyaml(text)


# Generated documents: trees of awkward keys and scalars, written out by PyYAML in every style it
# has, and by a plain writer that never quotes (so YAML 1.1's plain scalars, and invalid YAML).
AWKWARD = st.sampled_from(sorted(YAML_1_1) + [
    "a b", " lead", "trail ", "colon: inside", "#hash", "a #b", "x\ny", "tab\tin", "quote'", 'dq"', "back\\slash",
    "é😀", "\u2028", "\x85", "\x00", "-", "- x", "?", ":", "[", "{a}", "*star", "&amp", "!bang", "%pc", "@", "`",
    "+4670*", "!+46701*", "${REC_KEY}", "${X:-d}", "s3://b/{callid}.{format}", "Europe/Stockholm", "mon-fri",
])
SCALARS = st.one_of(AWKWARD, st.text(max_size=12), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                    st.booleans(), st.none(), st.dates())
TREES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(AWKWARD, st.text(max_size=6), st.integers(0, 99)), inner,
                                                max_size=4)), max_leaves=25)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.dictionaries(st.text(max_size=8), TREES, min_size=1, max_size=5),
       style=st.sampled_from([None, "'", '"', "|", ">"]), flow=st.sampled_from([False, True, None]),
       width=st.sampled_from([8, 80]), unicode=st.booleans())
def test_documents_pyyaml_writes_read_the_same(tree, style, flow, width, unicode):
    text = yaml.safe_dump(tree, default_style=style, default_flow_style=flow, width=width, allow_unicode=unicode,
                          sort_keys=False)
    same_as_pyyaml(text)


def plain(tree, indent: str = "") -> str:
    if isinstance(tree, dict):
        return "".join(f"{indent}{key}:" + (f"\n{plain(value, indent + '  ')}" if isinstance(value, (dict, list))
                                             and value else f" {flat(value)}\n") for key, value in tree.items())
    if isinstance(tree, list):
        return "".join(f"{indent}-" + (f"\n{plain(item, indent + '  ')}" if isinstance(item, (dict, list)) and item
                                       else f" {flat(item)}\n") for item in tree)
    return f"{indent}{flat(tree)}\n"


def flat(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {flat(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flat(item) for item in value) + "]"
    return "" if value is None else str(value)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.dictionaries(AWKWARD, TREES, min_size=1, max_size=5))
def test_documents_written_without_quotes_read_the_same_or_fail_the_same(tree):
    same_as_pyyaml(plain(tree))
