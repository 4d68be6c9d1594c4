"""Who may see the operator page: the holders of an ``API_TOKENS`` token.

A browser posts a token to ``/login`` once, with the form's CSRF token (Flask-WTF); the session
cookie — signed with ``SECRET_KEY``, HttpOnly, SameSite=Lax, Secure when the page is served over
https — then holds a random session id, and the server keeps its hash with a fingerprint of the
token (never the token; :mod:`app.operator.sessions`). Signing out ends the session for good, a
session lasts 12 hours, and removing a token from ``API_TOKENS`` signs its sessions out.

The page stays off until ``SECRET_KEY`` is set: a key anyone could derive would let them mint
cookies. In development (``flask run --debug``) a random key per process stands in for it.
Scripts may send ``Authorization: Bearer`` instead, as to the API.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import current_app, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect

from app.api.auth import bearer_token, is_valid_token
from app.db import db
from app.operator import sessions

log = logging.getLogger(__name__)

OPEN = ("operator.login", "operator.static")
# Query parameters that look like credentials: never carried into the sign-in redirect.
CREDENTIAL_PARAMETERS = frozenset({"token", "access_token", "api_token", "api_key", "apikey", "key", "secret",
                                   "password", "auth", "authorization"})
NO_KEY = ("The operator page is off until SECRET_KEY is set: set it to a long random value "
          "(python -c 'import secrets; print(secrets.token_urlsafe(32))') on every web process.")

csrf = CSRFProtect()


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, ``Secure`` whenever the request came over https (behind Heroku's
    router: its ``X-Forwarded-Proto``)."""

    def get_cookie_secure(self, app) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def init_app(app, secret_key: str) -> None:
    """The session cookie's key and flags, and CSRF protection for the page's own forms only
    (the API and the callbacks carry their own credentials, not cookies)."""
    if secret_key:
        app.secret_key = secret_key
    elif app.debug:
        app.secret_key = secrets.token_bytes(32)
        log.warning("SECRET_KEY is unset: development mode signs operator sessions with a random key "
                    "of this process")
    app.session_interface = SessionCookies()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", WTF_CSRF_CHECK_DEFAULT=False)
    csrf.init_app(app)


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
    if not current_app.secret_key:
        return render_template("operator/message.html", title="The operator page is off", message=NO_KEY), 403
    signed = sessions.fingerprint_of(db.session, session["sid"]) if isinstance(session.get("sid"), str) else None
    if signed and any(hmac.compare_digest(signed, fingerprint(token)) for token in tokens):
        return None
    return redirect(url_for("operator.login", next=without_credentials(request.full_path.rstrip("?"))))


def login():
    tokens = current_app.extensions["settings"].api_tokens
    if not current_app.secret_key:
        return render_template("operator/message.html", title="The operator page is off", message=NO_KEY), 403
    target = safe_next(request.values.get("next", ""))
    if request.method == "GET":
        return render_template("operator/login.html", next=target, problem=None)
    try:
        csrf.protect()
    except CSRFError as error:
        return render_template("operator/login.html", next=target,
                               problem=f"{error.description} Reload this page and sign in again."), 400
    given = request.form.get("token", "")
    if not tokens or not is_valid_token(given, tokens):
        problem = ("The operator page is off: set API_TOKENS first." if not tokens else
                   "That token is not one of API_TOKENS; check it and try again.")
        return render_template("operator/login.html", next=target, problem=problem), 401
    session.clear()
    session["sid"] = sessions.begin(db.session, fingerprint(given.strip()))
    return redirect(target)


def logout():
    csrf.protect()
    if isinstance(session.get("sid"), str):
        sessions.end(db.session, session["sid"])
    session.clear()
    return redirect(url_for("operator.login"))


def without_credentials(target: str) -> str:
    """``target`` without query parameters that look like credentials (pure)."""
    parts = urlsplit(target)
    kept = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
            if name.lower() not in CREDENTIAL_PARAMETERS]
    return parts.path + (f"?{urlencode(kept)}" if kept else "")


def safe_next(target: str) -> str:
    """Only a path on this site: never a redirect elsewhere (pure)."""
    if any(ord(character) < 32 or character == "\x7f" for character in target):  # CR/LF: a header split
        return "/"
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target
