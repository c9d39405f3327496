"""The WSGI entry point gunicorn serves (`gunicorn wsgi:app`)."""

from smsapp import create_app

app = create_app()
