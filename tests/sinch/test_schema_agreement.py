"""Two independent judges of SVAML must agree (issue 12): the simulator's JSON Schema, written from
Sinch's docs and SDK models, and the service's own check (``app/sinch/svaml.py``). Over every SDK
fixture for every callback, and over a corpus generated from them — each field of each fixture
replaced in turn by each odd value — both take or both refuse. (Every reply the simulator judges
anywhere in the suite is crosschecked too: ``SINCH_SIMULATOR_CROSSCHECK``.)"""

from __future__ import annotations

import json

import pytest

from app.simulator.svaml_schema import CALLBACKS, verdict
from app.sinch.svaml import SvamlError, render
from tests.callbacks.test_hostile_corpus import paths, replaced
from tests.sdk_fixtures import sdk_fixtures

DOCUMENTS = [fixture.payload for fixture in sdk_fixtures("svaml")]
ODD = [None, "", "x", 0, -1, 14401, 10**9, 1.5, True, [], {}, "#w1", "music1", "s3://b/k", "+46812345678"]
# What JSON Schema cannot say, so the simulator's schema leaves to the service's check alone:
# that mainMenu and every option's menu(x) name one of the menus (so neither is mutated here).


def inexpressible(path: tuple) -> bool:
    return path[-1] == "mainMenu" or (path[-1] == "id" and "menus" in path)


def service_takes(doc, callback: str) -> bool:
    try:
        render(doc, callback)
        return True
    except SvamlError:
        return False


def disagreements(documents, callback: str) -> list[str]:
    found = []
    for doc in documents:
        schema, service = not verdict(doc, callback), service_takes(doc, callback)
        if schema != service:
            found.append(f"{callback}: schema {'takes' if schema else 'refuses'}, service "
                         f"{'takes' if service else 'refuses'}: {json.dumps(doc)[:300]}")
    return found


@pytest.mark.parametrize("callback", CALLBACKS)
def test_both_judges_agree_on_every_sdk_fixture_for_every_callback(callback):
    assert disagreements(DOCUMENTS, callback) == []


def mutants():
    for doc in DOCUMENTS:
        for path in paths(doc):
            if inexpressible(path):
                continue
            for value in ODD:
                yield replaced(doc, path, value)


@pytest.mark.parametrize("callback", CALLBACKS)
def test_both_judges_agree_on_a_corpus_generated_from_the_fixtures(callback):
    corpus = list(mutants())
    assert len(corpus) > 3000
    found = disagreements(corpus, callback)
    assert found == [], f"{len(found)} disagreements, e.g. {found[:5]}"
