"""An HTTP client enters scimcore through one module, scimcore/adapters/connectors/http.py,
which connectors and the OAuth token calls share (one deadline, size cap, redirect and
proxy behaviour); its proxy rules, against a local proxy."""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from ..test_layering import _modules

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ("urllib.request", "http.client", "requests", "httpx", "urllib3", "aiohttp")


def test_only_the_connectors_http_module_imports_an_http_client() -> None:
    wrong = []
    for path in (ROOT / "scimcore").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if rel == "scimcore/adapters/connectors/http.py":
            continue
        hits = [m for m in _modules(path) if m.startswith(CLIENTS)]
        if hits:
            wrong.append(f"{rel}: {hits}")
    assert wrong == []


def test_the_core_never_imports_the_connectors() -> None:
    wrong = []
    for path in (ROOT / "scimcore").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith("scimcore/adapters/"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.ImportFrom) and "adapters" in (node.module or "")) or (
                isinstance(node, ast.Import) and any("adapters" in a.name for a in node.names)
            ):
                wrong.append(rel)
    assert wrong == []


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself, recording its target."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        body = b'{"via": "proxy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", url)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_connectors_and_token_calls_go_through_the_environments_proxy(proxy: str) -> None:
    from scimcore.adapters.connectors.auth import NoAuth
    from scimcore.adapters.connectors.http import send
    from scimcore.adapters.connectors.oauth import UrllibTransport

    answer = send("GET", "http://svc.example.test/Users", auth=NoAuth(), timeout=5, max_bytes=1000)
    assert answer.json() == {"via": "proxy"}
    token = UrllibTransport().post_form("http://idp.example.test/token", {"a": "b"}, {}, 5)
    assert token.status == 200
    assert _Proxy.seen == ["http://svc.example.test/Users", "http://idp.example.test/token"]


def test_no_proxy_hosts_and_loopback_are_reached_directly(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimcore.adapters.connectors.auth import NoAuth
    from scimcore.adapters.connectors.http import send
    from scimcore.provisioning.errors import TransientError

    monkeypatch.setenv("no_proxy", "svc.example.test")
    with pytest.raises(TransientError):  # direct: the name does not resolve here
        send("GET", "http://svc.example.test/Users", auth=NoAuth(), timeout=5, max_bytes=1000)
    port = proxy.rsplit(":", 1)[1]
    direct = send("GET", f"http://127.0.0.1:{port}/x", auth=NoAuth(), timeout=5, max_bytes=1000)
    assert direct.json() == {"via": "proxy"}
    assert _Proxy.seen == ["/x"]  # an origin-form request: it came directly, not proxied
