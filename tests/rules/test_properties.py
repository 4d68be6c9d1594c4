"""Properties over generated rulesets (hypothesis)."""

from datetime import datetime, timedelta, timezone

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.rules.decide import PENDING, decide
from app.rules.engine import Facts, explain
from app.rules.schema import RulesError, parse_ruleset
from app.sinch.svaml import render

ENV = {"K": "key", "S": "secret", "AZ": "QUJDREVG"}
DESTINATIONS = {
    "s3": {"url": "s3://bucket/{date:%Y/%m}/{callid}-{segment}.{format}", "sinch_credentials": "${K}:${S}:eu-north-1"},
    "az": {"url": "azure://acct/recs/{rule}/{uuid}.{format}", "sinch_credentials": "${AZ}", "format": "wav"},
    "gs": {"url": "gs://bucket/{header.x-tenant}/{callid}-{segment}-{uuid}", "sinch_credentials": "${K}:${S}",
           "transcription_locale": "sv-SE"},
}
digits = st.text("0123456789", min_size=1, max_size=6)
number = digits.map(lambda d: "+46" + d)
pattern = st.one_of(number, number.map(lambda n: n + "*"), number.map(lambda n: "!" + n + "*"), st.just("*"))
when = st.fixed_dictionaries({}, optional={
    "to": st.lists(pattern, min_size=1, max_size=3),
    "cli": st.lists(pattern, min_size=1, max_size=2),
    "domain": st.sampled_from(["pstn", "mxp"]),
    "origin": st.sampled_from(["pstn", "app"]),
    "to.type": st.sampled_from(["number", "did", "username", "sip"]),
    "header": st.fixed_dictionaries({"x-tenant": pattern}),
    "sample": st.integers(0, 100),
    "hours": st.fixed_dictionaries({"days": st.sampled_from(["mon-fri", "sat,sun", "all"]),
                                    "from": st.sampled_from(["00:00", "08:00", "22:00"]),
                                    "to": st.sampled_from(["06:00", "18:00", "24:00"]),
                                    "tz": st.sampled_from(["UTC", "Europe/Stockholm", "America/New_York"])}),
})
connect = st.one_of(
    st.sampled_from(["dialled", "hangup"]),
    st.fixed_dictionaries({"pstn": number}, optional={"cli": number, "max_duration": st.integers(1, 14400),
                                                      "dial_timeout": st.integers(1, 600)}),
    st.fixed_dictionaries({"sip": st.just("agent@sip.example.com")}, optional={"transport": st.sampled_from(["UDP", "TLS"])}),
    st.fixed_dictionaries({"user": st.just("agent")}),
    st.fixed_dictionaries({"conference": st.sampled_from(["room-{callid}", "fixed-room", "r-{header.x-tenant}"])}),
)
record = st.one_of(st.just(False), st.fixed_dictionaries({"destination": st.sampled_from(sorted(DESTINATIONS))}, optional={
    "format": st.sampled_from(["mp3", "wav"]),
    "mode": st.sampled_from(["instruction", "flag", "conference"]),
    "announce": st.one_of(st.fixed_dictionaries({"say": st.text(min_size=1, max_size=50)}),
                          st.fixed_dictionaries({"play": st.just(["#tts[Recorded]"]), "locale": st.just("en-US")})),
    "consent": st.fixed_dictionaries({"prompt": st.just("Press 1 to allow recording")},
                                     optional={"accept": st.sampled_from(["1", "5", "#"])}),
    "transcription": st.fixed_dictionaries({"locale": st.just("en-US")}),
}))
rule = st.fixed_dictionaries({"record": record, "connect": connect}, optional={"when": when})


def build(rules: list[dict]):
    body = {"version": 1, "destinations": DESTINATIONS,
            "rules": [{"id": f"r{i}", **r} for i, r in enumerate(rules)]}
    body["rules"][-1].pop("when", None)  # the default
    try:
        return parse_ruleset(yaml.safe_dump(body, allow_unicode=True), ENV)
    except RulesError:
        return None


call = st.fixed_dictionaries({
    "callid": st.text("abcdef0123456789-", min_size=1, max_size=12),
    "to_type": st.sampled_from(["number", "did", "username", "sip"]),
    "to": number, "cli": number,
    "domain": st.sampled_from(["pstn", "mxp"]),
    "tenant": st.one_of(st.none(), st.text("abc/. ", min_size=1, max_size=5)),
    "minutes": st.integers(0, 60 * 24 * 7),
})


def ice_of(c: dict) -> dict:
    endpoint = {"username": "agent", "sip": c["to"].lstrip("+") + "@sip.example.com"}.get(c["to_type"], c["to"])
    event = {"event": "ice", "callid": c["callid"], "cli": c["cli"], "domain": c["domain"],
             "origination_type": c["domain"].upper(), "to": {"type": c["to_type"], "endpoint": endpoint}}
    if c["tenant"] is not None:
        event["call_headers"] = [{"key": "x-tenant", "value": c["tenant"]}]
    return event


START = datetime(2026, 11, 23, tzinfo=timezone.utc)
relaxed = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@relaxed
@given(st.lists(rule, min_size=1, max_size=8), st.lists(call, min_size=1, max_size=5))
def test_every_decision_of_every_valid_ruleset_renders(rules, calls):
    ruleset = build(rules)
    assume(ruleset is not None)
    for c in calls:
        now = START + timedelta(minutes=c["minutes"])
        decision = decide(ice_of(c), ruleset, now)
        render(decision.svaml, "ice")
        state = decision.call_state()
        if decision.consent == PENDING:
            for value in ("accept", "decline"):
                pie = {"event": "pie", "callid": c["callid"],
                       "menu_result": {"menu_id": "main", "type": "return", "value": value}}
                render(decide(pie, ruleset, now, state).svaml, "pie")
        render(decide({"event": "ace", "callid": c["callid"]}, ruleset, now, state).svaml, "ace")
        for recording in decision.recordings:
            assert c["callid"] in recording.url or "-u" in recording.url or recording.url.count("/") >= 3


@relaxed
@given(st.lists(rule, min_size=1, max_size=12), st.lists(call, min_size=1, max_size=8))
def test_the_index_finds_what_a_linear_scan_finds(rules, calls):
    ruleset = build(rules)
    assume(ruleset is not None)
    for c in calls:
        now = START + timedelta(minutes=c["minutes"])
        facts = Facts.from_ice(ice_of(c))
        indexed, _ = ruleset.index.first_match(facts, now)
        steps = explain(ruleset.rules, facts, now)
        scanned = steps[-1][0] if steps and steps[-1][1] is not None else None
        assert (indexed.id if indexed else None) == (scanned.id if scanned else None)
