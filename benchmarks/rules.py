"""Benchmark: loading a ruleset, stage by stage, and rule matching with the index vs a linear scan
of the same rules, in the same run.

    .venv/bin/python -m benchmarks.rules [--sizes 10,1000,100000] [--queries 20000] [--pyyaml]

Each ruleset mixes exact numbers (60 %), prefixes (30 %) and caller-number rules (10 %); one rule
in ten has an office-hours window, one in five records; it is written the way the README writes
rules (9.3 MB at 100 000 rules). Queries dial numbers that hit exact rules, prefixes or nothing
(the default). Reports:

- the load (``parse_ruleset``), and beside it the YAML reading alone — the floor under it;
- each stage of the load (``read``, ``interpolate``, ``validate``, ``build``, the index within
  build), and a check of the same ruleset with one rule in a hundred broken (every problem listed);
  ``--pyyaml`` adds PyYAML's own safe loader (libyaml) on the same text, the reader used before;
- decisions per second and µs per decision for the index (``first_match``), for a full
  ``decide()`` (match + SVAML + key), and for the scan.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timezone

import yaml

from app.rules import yaml_reader
from app.rules.decide import decide
from app.rules.engine import Facts, RuleIndex, evaluate
from app.rules.schema import RulesError, build, collector_paused, interpolate, parse_ruleset, read, validate

ENVIRON = {"K": "k", "S": "s"}


def ruleset_yaml(size: int, rng: random.Random) -> tuple[str, list[str]]:
    rules, numbers = [], []
    for i in range(size - 1):
        kind = rng.random()
        number = f"+46{rng.randrange(10**7, 10**8)}"
        if kind < 0.6:
            when = {"to": number}
            numbers.append(number)
        elif kind < 0.9:
            when = {"to": number[: rng.randrange(6, 10)] + "*"}
            numbers.append(when["to"][:-1] + "".join(rng.choice("0123456789") for _ in range(4)))
        else:
            when = {"cli": number[:8] + "*"}
        if i % 10 == 0:
            when["hours"] = {"days": "mon-fri", "from": "08:00", "to": "18:00", "tz": "Europe/Stockholm"}
        rule = {"id": f"r{i}", "when": when, "connect": {"pstn": "+46855500000"}}
        if i % 5 == 0:
            rule["record"] = {"destination": "s3"}
        rules.append(rule)
    rules.append({"id": "default", "connect": "dialled"})
    body = {"version": 1, "destinations": {"s3": {"url": "s3://bench/{callid}-{segment}.{format}",
                                                  "sinch_credentials": "${K}:${S}:eu-north-1"}},
            "rules": rules}
    return yaml.safe_dump(body, sort_keys=False), numbers


def linear_first_match(rules, facts, now):
    for rule in rules:
        matched, _ = evaluate(rule, facts, now)
        if matched is not None:
            return rule
    return None


def per_second(function, items, budget: float = 2.0) -> tuple[float, int]:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < budget:
        for item in items:
            function(item)
        done += len(items)
    return done / (time.perf_counter() - started), done


def broken(text: str) -> tuple[str, int]:
    """The same ruleset with one rule in a hundred naming a destination that does not exist."""
    lines, count = text.splitlines(keepends=True), 0
    for i, line in enumerate(lines):
        if line.startswith("    destination: s3") and i % 100 < 5:
            lines[i], count = "    destination: nowhere\n", count + 1
    return "".join(lines), count


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def stages(text: str) -> dict[str, float]:
    """Seconds per stage of ``parse_ruleset``, run as it runs them (the cycle collector paused)."""
    with collector_paused():
        tree, read_s = timed(read, text)
        (tree, problems), interpolate_s = timed(interpolate, tree, ENVIRON, False)
        data, validate_s = timed(validate, tree, problems)
        ruleset, build_s = timed(build, data, text)
        _, index_s = timed(RuleIndex, ruleset.rules)
    return {"read": read_s, "interpolate": interpolate_s, "validate": validate_s, "build": build_s,
            "of which index": index_s}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,100000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--pyyaml", action="store_true", help="also time PyYAML's safe loader on each ruleset")
    args = parser.parse_args(argv)
    rng = random.Random(7)
    now = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
    loads = []
    print(f"{'rules':>8} {'MB':>5} {'load s':>7} {'yaml s':>7} {'index/s':>10} {'µs':>6} {'decide/s':>10} {'µs':>6} "
          f"{'scan/s':>10} {'µs':>9} {'speed-up':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        text, numbers = ruleset_yaml(size, rng)
        with collector_paused():
            _, floor = timed(yaml_reader.load, text)
        ruleset, load = timed(parse_ruleset, text, ENVIRON)
        loads.append((size, text))
        dialled = [rng.choice(numbers) if numbers and rng.random() < 0.8 else f"+4631{rng.randrange(10**6)}"
                   for _ in range(args.queries)]
        facts = [Facts(event="ice", call_id=f"c{i}", cli=f"+4670{i:07d}", to=n, to_type="number", domain="pstn",
                       origin="pstn") for i, n in enumerate(dialled)]
        events = [{"event": "ice", "callid": f.call_id, "cli": f.cli, "to": {"type": "number", "endpoint": f.to},
                   "domain": "pstn"} for f in facts]
        for f in facts[:200]:  # the index and the scan agree
            assert ruleset.index.first_match(f, now)[0] is linear_first_match(ruleset.rules, f, now)
        index_rate, _ = per_second(lambda f: ruleset.index.first_match(f, now), facts)
        decide_rate, _ = per_second(lambda e: decide(e, ruleset, now), events)
        sample = facts[: max(20, min(len(facts), 200_000 // size))]
        scan_rate, _ = per_second(lambda f: linear_first_match(ruleset.rules, f, now), sample)
        print(f"{size:>8} {len(text) / 1e6:5.1f} {load:7.2f} {floor:7.2f} {index_rate:10.0f} {1e6 / index_rate:6.1f} "
              f"{decide_rate:10.0f} {1e6 / decide_rate:6.1f} {scan_rate:10.0f} {1e6 / scan_rate:9.1f} "
              f"{index_rate / scan_rate:8.0f}x")
    print()
    print(f"{'rules':>8} {'read':>6} {'interp.':>7} {'validate':>8} {'build':>6} {'(index)':>7} {'total':>6} "
          f"{'check s':>8} {'problems':>8}" + (f" {'PyYAML s':>9}" if args.pyyaml else ""))
    for size, text in loads:
        times = stages(text)
        wrong, count = broken(text)
        started = time.perf_counter()
        try:
            parse_ruleset(wrong, ENVIRON)
            listed = 0
        except RulesError as error:
            listed = sum(len(texts) for texts in error.problems.values())
        check = time.perf_counter() - started
        assert listed == count, (listed, count)  # every broken rule is named
        total = sum(value for key, value in times.items() if key != "of which index")
        line = (f"{size:>8} {times['read']:6.2f} {times['interpolate']:7.2f} {times['validate']:8.2f} "
                f"{times['build']:6.2f} {times['of which index']:7.2f} {total:6.2f} {check:8.2f} {listed:>8}")
        if args.pyyaml:
            _, pyyaml_s = timed(yaml.load, text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            line += f" {pyyaml_s:9.2f}"
        print(line)


if __name__ == "__main__":
    main()
