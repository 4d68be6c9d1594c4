"""The baseline: a bare Flask endpoint returning a constant JSON, served like the real app."""

from flask import Flask, Response

app = Flask(__name__)
_BODY = b'{"action":{"name":"connectPstn","number":"+12017777777"}}'


@app.post("/sinch/callback")
def callback():
    return Response(_BODY, content_type="application/json")


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
