"""Every ruleset the project has written down: the demo, the rules tests' files, the YAML in the
README and docs, the YAML written inline in the tests, and one made by the rules benchmark."""

from __future__ import annotations

import ast
import random
import re
import textwrap
from typing import Any

from benchmarks.rules import ruleset_yaml
from tests.processes import ROOT


def ruleset_texts() -> list[tuple[str, str]]:
    """(where it is, its text) for every ruleset or ruleset fragment written down in the project."""
    found = [(str(path.relative_to(ROOT)), path.read_text())
             for path in [ROOT / "config" / "rules.example.yaml", *sorted((ROOT / "tests" / "rules").glob("*.yaml"))]]
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found += [(f"{page.name} block {i}", block)
                  for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S))]
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "rules:" in node.value:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", textwrap.dedent(node.value)))
    found.append(("benchmarks/rules.py ruleset_yaml(300)", ruleset_yaml(300, random.Random(29))[0]))
    return found


def typed(value: Any) -> Any:
    """A form in which equal means the same values of the same types, in the same order
    (1 is not True, 1.0 is not 1, {a, b} is not {b, a}); NaN equals NaN."""
    if isinstance(value, dict):
        return "dict", tuple((typed(key), typed(item)) for key, item in value.items())
    if isinstance(value, list):
        return "list", tuple(typed(item) for item in value)
    return type(value).__name__, repr(value)
