"""The token, checked before anything else reads the request: a client without it gets 401
before its body is received or parsed."""

from __future__ import annotations

import base64
import hmac

from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

# Answer without a token: liveness, monitoring, and the API's own documentation.
PUBLIC_PATHS = frozenset({"/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
UNAUTHORIZED = "a valid token is required: Authorization: Bearer <token>."

# Declared in the OpenAPI schema only; TokenGate does the checking. Basic auth (the token as
# password) is how Label Studio connects to an ML backend.
bearer = HTTPBearer(auto_error=False, description="the service token")
basic = HTTPBasic(auto_error=False, description="any user name, the service token as password")


def token_matches(authorization: str, token: str) -> bool:
    """Whether an Authorization header carries ``token`` (Bearer, Token, or Basic's password)."""
    scheme, _, credentials = authorization.partition(" ")
    given = credentials.strip()
    if scheme.lower() == "basic":
        try:
            given = base64.b64decode(given, validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
    elif scheme.lower() not in ("bearer", "token"):
        return False
    return hmac.compare_digest(given.encode(), token.encode())


class TokenGate:
    """Refuses with 401 every request but those to PUBLIC_PATHS that lacks the token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.token is not None and scope["path"] not in PUBLIC_PATHS:
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not token_matches(header, self.token):
                response = JSONResponse(
                    {"detail": UNAUTHORIZED}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
