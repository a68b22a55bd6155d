"""Starfleet's token endpoint as the simulator speaks it: OAuth2 client credentials.

A grant (`access_token`, `token_type`, `expires_in`) or an RFC 6749 section 5.2 error, both
`no-store`. The broken grants of T3 are rendered by `faults.py`. Shares no code with the SDK.
"""

from __future__ import annotations

from nvgw_nb.sim import wire
from nvgw_nb.sim.plan import SimResponse

__all__ = ["oauth_error", "token_grant"]


def oauth_error(status: int, error: str, description: str) -> SimResponse:
    """An RFC 6749 section 5.2 token-endpoint error (with a Basic challenge on 401)."""
    headers = [("www-authenticate", 'Basic realm="starfleet"')] if status == 401 else []
    headers.append(("cache-control", "no-store"))
    return wire.json_response(status, {"error": error, "error_description": description}, headers)


def token_grant(token: str, lifetime: float) -> SimResponse:
    """A client-credentials grant; `expires_in` is an integer when the lifetime is whole."""
    expires_in: int | float = int(lifetime) if lifetime == int(lifetime) else lifetime
    return wire.json_response(
        200,
        {"access_token": token, "token_type": "Bearer", "expires_in": expires_in},
        [("cache-control", "no-store"), ("pragma", "no-cache")],
    )
