"""A real OpenID Connect provider on loopback for the console's sign-in tests, built from Authlib's
server-side parts: the RFC 6749 AuthorizationServer with the authorization code and refresh token
grants, PKCE (RFC 7636, S256 required) and the OpenID Connect code extension, a discovery document,
a JWKS endpoint, a userinfo endpoint and RS256 ID tokens signed with `authlib.jose`. The
authorization endpoint approves the configured user at once (no login form); tests change `user`,
rotate keys or make the next ID token expired or signed by a key the JWKS does not hold.

The provider remembers each user who signed in (`accounts`, by `sub`) and the tokens it gave them:
`remove_user` deletes one (userinfo and refresh refuse their tokens from then on) and posts a
signed back-channel logout token to the client's `backchannel_logout_uri`; `outage` makes userinfo
and the token endpoint answer 503.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning  # first: it sets its warning to "always"
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter(
        "ignore", AuthlibDeprecationWarning
    )  # authlib.jose is deprecated in favour of joserfc, kept until 2.0
    from authlib.jose import JsonWebKey, jwt


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str = ""

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict[str, Any]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    sid: str = ""
    """The provider's session of this sign-in (the ID token's `sid`)."""

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Refresh:
    """A refresh token the provider gave, as Authlib's refresh grant sees one."""

    token: str
    client_id: str
    scope: str
    sub: str

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope


class _Payload(OAuth2Payload):
    def __init__(self, values: list[tuple[str, str]]):
        self._list: defaultdict[str, list] = defaultdict(list)
        for k, v in values:
            self._list[k].append(v)

    @property
    def data(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._list.items()}

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._list


class _Request(OAuth2Request):
    """A Starlette request, already read, as Authlib's server sees one."""

    def __init__(self, request: Request, body: bytes):
        super().__init__(request.method, str(request.url), headers=request.headers)  # case-insensitive
        self._args = dict(request.query_params)
        self._form = dict(parse_qsl(body.decode()))
        self.payload = _Payload(list(request.query_params.multi_items()) + parse_qsl(body.decode()))

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Provider:
    def __init__(self, client_id: str = "console", client_secret: str = "console-secret-0123456789"):
        self.issuer = ""  # set once serving: http://127.0.0.1:<port>
        self.client = Client(client_id, client_secret)
        self.user: dict[str, Any] = {}
        self.keys = [self._new_key()]
        self.id_token_ttl = 300
        """Seconds: a test sets it negative for an expired ID token."""
        self.token_issuer = ""
        """When set, ID tokens name this issuer instead of the provider's own."""
        self.rogue_key: Any = None
        """When set, ID tokens are signed with it, a key the JWKS does not publish."""
        self.jwks_fetches = 0
        self.deny = False
        """When set, the authorization endpoint answers access_denied (the user said no)."""
        self.codes: dict[str, Code] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        """The users who signed in, by `sub`: what userinfo answers for them now."""
        self.access_tokens: dict[str, str] = {}
        """Access token → `sub`, while it works."""
        self.refresh_tokens: dict[str, Refresh] = {}
        self.userinfo_calls = 0
        self.refreshes = 0
        self.outage = False
        """When set, userinfo and the token endpoint answer 503 (the provider is having a bad day)."""
        self.server = _Server(self)
        self.server.register_token_generator(
            "default", BearerTokenGenerator(lambda **_: generate_token(42), lambda **_: generate_token(48))
        )
        self.server.register_grant(_CodeGrant, [CodeChallenge(required=True), _IdToken(self)])
        self.server.register_grant(_RefreshGrant)
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
                Route("/userinfo", self.userinfo),
            ]
        )

    @staticmethod
    def _new_key() -> Any:
        return JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": generate_token(8)})

    def rotate(self) -> None:
        """A new signing key; the JWKS publishes only it from now on."""
        self.keys = [self._new_key()]

    def sign_id_token(self, code: Code) -> str:
        now = int(time.time())
        claims = {
            "iss": self.token_issuer or self.issuer,
            "aud": self.client.client_id,
            "iat": now,
            "exp": now + self.id_token_ttl,
            "auth_time": code.auth_time,
            **({"sid": code.sid} if code.sid else {}),
            **({"nonce": code.nonce} if code.nonce else {}),
            **code.user,
        }
        key = self.rogue_key or self.keys[-1]
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key).decode()

    def logout_token(self, sub: str | None = None, sid: str | None = None, key: Any = None, **claims: Any) -> str:
        """A back-channel logout token for `sub` and/or `sid`, signed with the provider's key (or
        `key`); `claims` add to or replace the standard ones (a value of None drops a claim)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": generate_token(16),
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            **({"sub": sub} if sub else {}),
            **({"sid": sid} if sid else {}),
        }
        body = {k: v for k, v in {**body, **claims}.items() if v is not None}
        key = key or self.keys[-1]
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}, body, key).decode()

    async def send_logout(self, token: str) -> httpx.Response:
        """POST `token` to the client's back-channel logout URI, as the provider does."""
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(self.client.backchannel_logout_uri, data={"logout_token": token})

    async def remove_user(self, sub: str, notify: bool = True) -> httpx.Response | None:
        """The user deleted at the provider: their tokens stop working, and (with `notify`) the client
        gets a back-channel logout for them. Returns the client's answer to it."""
        self.accounts.pop(sub, None)
        self.access_tokens = {t: s for t, s in self.access_tokens.items() if s != sub}
        self.refresh_tokens = {t: r for t, r in self.refresh_tokens.items() if r.sub != sub}
        if not notify:
            return None
        return await self.send_logout(self.logout_token(sub=sub))

    def expire_access_tokens(self) -> None:
        """Every access token given so far expires (refresh tokens still work)."""
        self.access_tokens.clear()

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "backchannel_logout_supported": True,
                "backchannel_logout_session_supported": True,
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        return JSONResponse({"keys": [k.as_dict(is_private=False) for k in self.keys]})

    async def authorize(self, request: Request) -> Response:
        """Approves the configured user at once (the provider's own login is not under test)."""
        req = _Request(request, b"")
        grant = self.server.get_consent_grant(request=req, end_user=self.user)
        user = None if self.deny else dict(self.user)
        if user is not None and "sub" in user:
            self.accounts[user["sub"]] = dict(user)
        return self.server.create_authorization_response(request=req, grant_user=user, grant=grant)

    async def token(self, request: Request) -> Response:
        if self.outage:
            return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
        return self.server.create_token_response(_Request(request, await request.body()))

    async def userinfo(self, request: Request) -> Response:
        """The user's current claims for a working access token; 401 for any other (RFC 6750)."""
        self.userinfo_calls += 1
        if self.outage:
            return Response("unavailable", status_code=503)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        sub = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        account = self.accounts.get(sub) if sub else None
        if account is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return JSONResponse(account)


class _Server(AuthorizationServer):
    def __init__(self, provider: Provider):
        super().__init__(scopes_supported=["openid", "profile", "email", "groups"])
        self.provider = provider

    def query_client(self, client_id: str) -> Client | None:
        return self.provider.client if client_id == self.provider.client.client_id else None

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        sub = request.user["sub"]
        self.provider.access_tokens[token["access_token"]] = sub
        if "refresh_token" in token:
            refresh = Refresh(token["refresh_token"], request.client.client_id, token.get("scope", ""), sub)
            self.provider.refresh_tokens[refresh.token] = refresh

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: list) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body or b"", status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        provider = self.server.provider
        provider.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.payload.scope,
            user=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=int(time.time()),
            sid=uuid.uuid4().hex,
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.server.provider.codes.get(code)
        return found if found and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.provider.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> dict[str, Any]:
        return authorization_code.user


class _RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotated on every use, as most providers do

    def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
        return self.server.provider.refresh_tokens.get(refresh_token)

    def authenticate_user(self, refresh_token: Refresh) -> dict[str, Any] | None:
        self.server.provider.refreshes += 1
        return self.server.provider.accounts.get(refresh_token.sub)

    def revoke_old_credential(self, refresh_token: Refresh) -> None:
        self.server.provider.refresh_tokens.pop(refresh_token.token, None)


class _IdToken(OpenIDCode):
    def __init__(self, provider: Provider):
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(c.nonce == nonce for c in self.provider.codes.values())

    def generate_user_info(self, user: dict, scope: str) -> dict:
        return dict(user)

    def encode_id_token(self, token: dict, request: OAuth2Request) -> str:
        return self.provider.sign_id_token(request.authorization_code)
