"""``flask tunnel``: a public https URL for a service on this laptop (ngrok, development only).

Sinch signs the request path, not the scheme or host, so signatures hold behind ngrok's
https → http hop; ProxyFix and gunicorn's ``forwarded_allow_ips`` (127.0.0.1, where the ngrok
agent connects from) restore the original scheme for anything that builds URLs.
"""

from __future__ import annotations

import os

import click


@click.command("tunnel")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "5000")), show_default="$PORT or 5000",
              help="The local port the service listens on.")
@click.option("--region", help="ngrok region (us, eu, ap, au, sa, jp, in).")
def tunnel_command(port: int, region: str | None) -> None:
    """Open an ngrok tunnel to the local service and print the callback URL for the Sinch dashboard."""
    if os.environ.get("DYNO") or os.environ.get("SINCH_RECORDER_PRODUCTION"):
        raise click.ClickException("flask tunnel is for development only; in production the service has its own "
                                   "public URL")
    try:
        from pyngrok import conf, ngrok
    except ImportError:
        raise click.ClickException("the tunnel needs the ngrok extra: pip install -e '.[ngrok]' "
                                   "(and an ngrok account: ngrok config add-authtoken <token>)")
    if region:
        conf.get_default().region = region
    tunnel = ngrok.connect(port, "http", bind_tls=True)
    click.echo(f"Forwarding {tunnel.public_url} → http://127.0.0.1:{port}")
    click.echo(f"Callback URL: {tunnel.public_url}/sinch/callback")
    click.echo("Paste it in the Sinch dashboard: Voice & Video → Apps → your app → Callback URL. Ctrl-C to stop.")
    try:
        ngrok.get_ngrok_process().proc.wait()
    except KeyboardInterrupt:
        ngrok.kill()
