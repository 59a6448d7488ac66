"""WSGI entry point for gunicorn: ``gunicorn scimserver.wsgi:app``."""

from . import create_app

app = create_app()
