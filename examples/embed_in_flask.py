"""scimcore served from your own Flask app, on the in-memory store, in a few dozen lines.

Run:  python examples/embed_in_flask.py      (then use the printed URL and token)

Everything SCIM lives in scimcore; this file only adapts Flask's request and response.
Swap ``MemoryStore()`` for ``SqlStore(make_engine(url))`` (scimcore.storage.sql) or your
own implementation of the ``scimcore.Store`` protocol.
"""

from __future__ import annotations

import json

from flask import Flask, Response, request

from scimcore import (
    Authenticator,
    ScimError,
    ScimRequest,
    ScimResponse,
    ScimService,
    error_response,
    issue_token,
)
from scimcore.storage.memory import MemoryStore

store = MemoryStore()
organization = store.create_organization("acme", "Acme Corp")
token = issue_token(store, organization).token
service = ScimService(store)
authenticator = Authenticator(store)

app = Flask(__name__)


@app.route("/scim/<org>/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def scim(org: str, rest: str) -> Response:
    try:
        tenant = authenticator.authenticate(org, request.headers.get("Authorization"))
    except ScimError as error:
        return to_flask(error_response(error))
    result = service.handle(
        tenant,
        f"{request.host_url}scim/{org}",
        ScimRequest(
            method=request.method,
            path="/" + rest,
            query=request.args.to_dict(),
            body=request.get_data(),
            content_type=request.content_type,
        ),
    )
    return to_flask(result)


def to_flask(result: ScimResponse) -> Response:
    body = json.dumps(result.body) if result.body is not None else None
    return Response(body, result.status, dict(result.headers), content_type="application/scim+json")


if __name__ == "__main__":
    print(f"tenant URL: http://127.0.0.1:5000/scim/acme\ntoken:      {token}")
    app.run(host="127.0.0.1", port=5000)
