"""Command-line options in the platform's terms, shared by ``flask rules`` and ``flask sinch``."""

from __future__ import annotations

import click


class CallHeader(click.ParamType):
    """A call header written ``NAME=VALUE``; a repeated option gives the call's ``callHeaders``."""

    name = "NAME=VALUE"

    def convert(self, value, param, ctx) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        name, sep, header_value = value.partition("=")
        if not sep:
            self.fail(f"'{value}' is not NAME=VALUE", param, ctx)
        return name, header_value


CALL_HEADER = CallHeader()
