"""The Bot Framework's signing keys, served locally, and tokens signed as Microsoft signs them.

Teams sends every activity with `Authorization: Bearer <JWT>`: RS256, signed with a key the Bot
Framework publishes at `https://login.botframework.com/v1/.well-known/keys` (beside its OpenID document
`…/openidconfiguration`), issuer `https://api.botframework.com`, audience the bot's app (client) id, a
`serviceurl` claim naming the Bot Connector the activity came through, and `nbf`/`exp`/`iat`.

`FakeBotFrameworkAuth` serves both documents on an ephemeral port with an RSA key made for the test
session (kid "test"); the bot is pointed at it with TEAMS_OPENID_URL, so the SDK's real validator checks
real signatures. It also mints the bot's outbound (app-only) tokens and checks them for the fake
Connector, as Entra and the Bot Connector would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
# The audience of the tokens a bot presents to the Bot Connector (scope https://api.botframework.com/.default).
CONNECTOR_AUDIENCE = "https://api.botframework.com"
KID = "test"


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeBotFrameworkAuth:
    """The OpenID document and key set, and a signer with the matching private key."""

    def __init__(self) -> None:
        self.key = new_key()
        self.kid = KID
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self.key_fetches = 0

    # -- the server -------------------------------------------------------------------------

    def start(self) -> FakeBotFrameworkAuth:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/v1/.well-known/openidconfiguration":
                    fake._send(self, fake.openid_configuration())
                elif self.path == "/v1/.well-known/keys":
                    with fake._lock:
                        fake.key_fetches += 1
                    fake._send(self, fake.jwks())
                else:
                    fake._send(self, {"error": "not found"}, status=404)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="fake-botframework-auth", daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openid_url(self) -> str:
        """What TEAMS_OPENID_URL points at."""
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": f"{self.url}/v1/.well-known/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256", "endorsements": ["msteams"]}]}

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # -- signing ----------------------------------------------------------------------------

    def activity_token(
        self,
        client_id: str,
        service_url: str,
        *,
        issuer: str = BOT_FRAMEWORK_ISSUER,
        audience: str | None = None,
        now: float | None = None,
        lifetime: int = 3600,
        key: RSAPrivateKey | None = None,
        kid: str | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """The bearer token Teams sends with an activity. Every keyword exists to forge a wrong one."""
        issued = int(time.time() if now is None else now)
        payload: dict[str, Any] = {
            "serviceurl": service_url,
            "nbf": issued - 5,
            "iat": issued,
            "exp": issued + lifetime,
            "iss": issuer,
            "aud": audience if audience is not None else client_id,
            **(claims or {}),
        }
        headers = {"kid": self.kid if kid is None else kid, "typ": "JWT"}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers=headers)

    def app_token(self, client_id: str, tenant_id: str, *, lifetime: int = 3600) -> str:
        """An app-only token for the Bot Connector, as Entra issues one for client credentials."""
        now = int(time.time())
        payload = {
            "aud": CONNECTOR_AUDIENCE,
            "iss": f"https://sts.windows.net/{tenant_id}/",
            "appid": client_id,
            "tid": tenant_id,
            "nbf": now - 5,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def app_token_problem(self, authorization: str, client_id: str) -> str | None:
        """Why the Bot Connector would refuse this Authorization header (None: it is the bot's valid token)."""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token:
            return "no bearer token"
        try:
            claims = jwt.decode(token, self.key.public_key(), algorithms=["RS256"], audience=CONNECTOR_AUDIENCE)
        except jwt.PyJWTError as error:
            return f"invalid token: {type(error).__name__}"
        if claims.get("appid") != client_id:
            return "token for another app"
        return None
