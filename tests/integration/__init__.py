"""Live-HTTP integration tests: a real scimserver on 127.0.0.1 (see conftest.py)."""
