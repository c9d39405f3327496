"""gunicorn settings for the web process; override any of them with GUNICORN_CMD_ARGS."""

import os
import sys

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# gthread, one process per core with 8 threads each, measured best for the inbound webhook
# (bench/inbound.py, docs/benchmarks.md): it keeps connections alive, unlike sync, and shares
# the CPU more evenly between clients than gevent did.
workers = int(os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 1)))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 30
keepalive = 5
# smsapp logs every request itself (with its request id, and without query strings, which can
# hold a participant search); set GUNICORN_ACCESS_LOG=- to have gunicorn's access log too.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None


def on_starting(server):  # type: ignore[no-untyped-def]
    """No production web process with unsigned webhooks by accident (smsapp.config says when)."""
    from smsapp.config import unsigned_webhooks_refusal

    refusal = unsigned_webhooks_refusal(os.environ)
    if refusal:
        raise RuntimeError(refusal)  # gunicorn prints "Error: ..." and exits with status 1
    if not os.environ.get("TWILIO_AUTH_TOKEN"):
        server.log.warning(
            "SMS_BACKEND=outbox without TWILIO_AUTH_TOKEN: webhooks accept unsigned requests"
        )


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """psycopg picks how it waits for the server when first imported; imported before gevent
    patched select, every query would block the whole worker. Refuse to run like that."""
    waiting = sys.modules.get("psycopg.waiting")
    if "gevent" in worker.cfg.worker_class_str and waiting is not None:
        if getattr(waiting, "wait", None) is getattr(waiting, "wait_c", object()):
            worker.log.critical("psycopg was imported before gevent patched it: not serving")
            sys.exit(1)
        worker.log.info("gevent worker: psycopg waits with %s", waiting.wait.__name__)
