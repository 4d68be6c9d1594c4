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

from app.placeholders import Template, TemplateError

SCHEMES = ("s3", "azure", "gs")


@dataclass(frozen=True)
class KeyTemplate:
    scheme: str
    template: Template

    @classmethod
    def parse(cls, url: str) -> "KeyTemplate":
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in SCHEMES:
            raise TemplateError(f"must start with {', '.join(s + '://' for s in SCHEMES)}")
        parts = rest.split("/")
        minimum = 3 if scheme == "azure" else 2  # azure://account/container/blob, s3://bucket/key
        if len(parts) < minimum or not all(parts[: minimum - 1]) or "{" in "/".join(parts[: minimum - 1]):
            shape = "azure://account/container/<key>" if scheme == "azure" else f"{scheme}://bucket/<key>"
            raise TemplateError(f"must look like {shape}, with a fixed {'account and container' if scheme == 'azure' else 'bucket'}")
        if not parts[-1]:
            raise TemplateError("must end with a file name, e.g. .../{callid}-{segment}.{format}")
        template = Template.parse(url)
        if "uuid" not in template.names and not {"callid", "segment"} <= template.names:
            raise TemplateError(
                "could give two recordings the same key (Sinch silently overwrites): include {uuid}, "
                "or both {callid} and {segment}"
            )
        return cls(scheme, template)

    @property
    def container(self) -> str:
        """The fixed part before the key: ``bucket``, or ``account/container`` for Azure."""
        rest = self.template.text.partition("://")[2].split("/")
        return "/".join(rest[:2] if self.scheme == "azure" else rest[:1])

    def fill(self, values: Mapping[str, object], now: datetime) -> str:
        return self.template.fill(values, now)
