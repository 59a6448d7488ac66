"""scim2-server (python-scim, from PyPI) as a gunicorn WSGI app, seeded in memory.

Built the way its own ``scim2-server`` command builds it (default schemas, resource
types and service provider config, ``BearerTokenApplication`` over
``InMemoryStorage``), then filled straight through the storage's ``resources``
setter (which indexes every resource as a write would) from the seed file the
harness wrote, so the ids are the ones the workload scripts use.

Environment: ``PEER_SEED`` (JSON file: ``{"users": [...], "groups": [...]}``, each a
SCIM resource with ``id``), ``PEER_TOKEN`` (bearer token), ``PEER_READY`` (a file
written once the data is loaded).
Serve with ``gunicorn -w 1 -k gthread --threads 4 peer_app:app`` from benchmarks/.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

from scim2_models import Meta, ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)


def build(token: str) -> tuple[BearerTokenApplication, InMemoryStorage, ScimProvider]:
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    service = ScimService(provider, secret="benchmark-cursor-secret")
    storage = InMemoryStorage()
    app = BearerTokenApplication(storage, provider, service=service, bearer_tokens=[token])
    return app, storage, provider


def seed(storage: InMemoryStorage, provider: ScimProvider, path: str) -> float:
    started = time.perf_counter()
    with open(path) as f:
        doc = json.load(f)
    types = {rt.name: rt for rt in provider.resource_types}
    now = datetime.now(UTC)
    version = iter(range(1, 1 << 62))
    loaded = []
    for kind, items in (("User", doc["users"]), ("Group", doc["groups"])):
        model = provider.model_for(types[kind])
        for item in items:
            resource = model.model_validate(item)
            resource.id = item["id"]
            resource.meta = Meta(
                resource_type=kind, created=now, last_modified=now,
                version=f'W/"{next(version)}"',
            )
            loaded.append(resource)
    storage.resources = loaded
    # Continue the storage's own version counter after the seeded ones.
    import itertools

    storage.versions = itertools.count(next(version))
    return time.perf_counter() - started


app, _storage, _provider = build(os.environ.get("PEER_TOKEN", "peer"))
if os.environ.get("PEER_SEED"):
    _seconds = seed(_storage, _provider, os.environ["PEER_SEED"])
    if os.environ.get("PEER_READY"):
        with open(os.environ["PEER_READY"], "w") as f:
            json.dump({"seconds": _seconds, "resources": len(_storage.resources)}, f)
