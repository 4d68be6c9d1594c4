"""Recording keys: the URL template of a destination, checked so no two recordings collide.

Sinch overwrites an existing object of the same name without a word, so a template must make
each recording's key unique: it needs ``{uuid}``, or both ``{callid}`` and ``{segment}`` (a call
can have several segments: pause/resume, or a conference). It must also name the file — a
folder-only URL would leave the key to Sinch, and then nothing could be proven about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from app.placeholders import Template, TemplateError, names_in

SCHEMES = ("s3", "azure", "gs")


@dataclass(frozen=True)
class KeyTemplate:
    scheme: str
    template: Template

    @classmethod
    def parse(cls, url: str) -> "KeyTemplate":
        """Check a destination URL, reporting every problem at once (its shape, its placeholders,
        and whether two recordings could share a key, judged even when a placeholder is malformed)."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in SCHEMES:
            raise TemplateError(f"must start with {', '.join(s + '://' for s in SCHEMES)}")
        problems = []
        parts = rest.split("/")
        minimum = 3 if scheme == "azure" else 2  # azure://account/container/blob, s3://bucket/key
        if len(parts) < minimum or not all(parts[: minimum - 1]) or "{" in "/".join(parts[: minimum - 1]):
            shape = "azure://account/container/<key>" if scheme == "azure" else f"{scheme}://bucket/<key>"
            fixed = "account and container" if scheme == "azure" else "bucket"
            problems.append(f"must look like {shape}, with a fixed {fixed}")
        if not parts[-1]:
            problems.append("must end with a file name, e.g. .../{callid}-{segment}.{format}")
        try:
            template = Template.parse(url)
        except TemplateError as error:
            template, problems = None, problems + error.problems
        names = names_in(url)
        if "uuid" not in names and not {"callid", "segment"} <= names:
            problems.append("could give two recordings the same key (Sinch silently overwrites): include {uuid}, "
                            "or both {callid} and {segment}")
        if problems:
            raise TemplateError(*problems)
        return cls(scheme, template)

    @property
    def container(self) -> str:
        """The fixed part before the key: ``bucket``, or ``account/container`` for Azure."""
        rest = self.template.text.partition("://")[2].split("/")
        return "/".join(rest[:2] if self.scheme == "azure" else rest[:1])

    def fill(self, values: Mapping[str, object], now: datetime) -> str:
        return self.template.fill(values, now)
