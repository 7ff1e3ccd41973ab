"""A fake Entra ID login endpoint (TEAMS_LOGIN_URL) over HTTPS, for the real MSAL to get app-only tokens from.

MSAL accepts only an https authority, so the fake serves TLS with a certificate made for 127.0.0.1 at
start; a test trusts it by pointing REQUESTS_CA_BUNDLE (which MSAL's `requests` session honours) at
`ca_bundle`. It serves the tenant's OpenID configuration and the v2.0 token endpoint's
client-credentials grant, checks the client id, secret and scope, and records each token request so a
test can see MSAL's cache at work.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.teams.graph import TOKEN

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass
class FakeLogin:
    tenant_id: str
    client_id: str
    client_secret: str
    token: str = TOKEN
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_bundle(self) -> str:
        assert self._dir is not None
        return str(Path(self._dir.name) / "cert.pem")

    def start(self) -> FakeLogin:
        fake = self
        self._dir = tempfile.TemporaryDirectory()
        cert, key = Path(self._dir.name) / "cert.pem", Path(self._dir.name) / "key.pem"
        _self_signed(cert, key)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> FakeLogin:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(handler.path).path
        length = int(handler.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(handler.rfile.read(length).decode())) if length else {}
        status, payload = self._answer(method, path, form)
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        base = f"{self.url}/{self.tenant_id}"
        if method == "GET" and path == f"/{self.tenant_id}/v2.0/.well-known/openid-configuration":
            return 200, {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }
        if method == "POST" and path == f"/{self.tenant_id}/oauth2/v2.0/token":
            self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return 401, {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                }
            if form.get("grant_type") != "client_credentials" or form.get("scope") != GRAPH_SCOPE:
                return 400, {
                    "error": "invalid_scope",
                    "error_description": "AADSTS70011: The provided scope is not valid.",
                }
            return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": self.token}
        return 400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."}


def _self_signed(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
