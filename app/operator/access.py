"""Who may see the operator page: the holders of an ``API_TOKENS`` token.

A browser posts a token to ``/login`` once; the signed session cookie then holds a fingerprint
of that token (never the token), so removing a token from ``API_TOKENS`` signs its sessions out.
The cookie is signed with ``SECRET_KEY``, or, when that is unset, a key derived from the tokens,
so every web process agrees without more configuration.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, session, url_for

from app.api.auth import bearer_token, is_valid_token

OPEN = ("operator.login", "operator.static")


def session_key(secret_key: str, tokens) -> bytes:
    """The key that signs session cookies (pure)."""
    if secret_key:
        return secret_key.encode()
    return hashlib.sha256(b"sinch-recorder operator session\0" + "\0".join(sorted(tokens)).encode()).digest()


def fingerprint(token: str) -> str:
    return hashlib.sha256(b"sinch-recorder operator\0" + token.encode()).hexdigest()[:32]


def require_sign_in():
    tokens = current_app.extensions["settings"].api_tokens
    if request.endpoint in OPEN:
        return None
    if not tokens:
        return render_template("operator/message.html", title="The operator page is off",
                               message="Set API_TOKENS to one or more tokens, then sign in with one."), 403
    given = bearer_token()
    if given and is_valid_token(given, tokens):
        return None
    signed = session.get("operator")
    if signed and any(hmac.compare_digest(signed, fingerprint(token)) for token in tokens):
        return None
    return redirect(url_for("operator.login", next=request.full_path.rstrip("?")))


def login():
    tokens = current_app.extensions["settings"].api_tokens
    target = safe_next(request.values.get("next", ""))
    if request.method == "GET":
        return render_template("operator/login.html", next=target, problem=None)
    given = request.form.get("token", "")
    if not tokens or not is_valid_token(given, tokens):
        problem = ("The operator page is off: set API_TOKENS first." if not tokens else
                   "That token is not one of API_TOKENS; check it and try again.")
        return render_template("operator/login.html", next=target, problem=problem), 401
    session.clear()
    session["operator"] = fingerprint(given.strip())
    return redirect(target)


def logout():
    session.clear()
    return redirect(url_for("operator.login"))


def safe_next(target: str) -> str:
    """Only a path on this site: never a redirect elsewhere (pure)."""
    if any(ord(character) < 32 or character == "\x7f" for character in target):  # CR/LF: a header split
        return "/"
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target
