"""One bearer token with its expiry, early refresh and retry times, on a monotonic clock.

`StarfleetAuth` keeps its token here; the token itself is a `SecretStr`, never logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import SecretStr

__all__ = ["TokenCache"]

#: after a failed early refresh, keep using the valid token this long before trying again
_REFRESH_RETRY_S = 5.0
#: a token is not sent in the last min(this, a quarter of its lifetime, the refresh margin)
#: before it expires: a request signed then could reach the gateway after the token expired
_SIGNING_SKEW_S = 10.0


class TokenCache:
    """One bearer token with its expiry and early-refresh time on a monotonic clock."""

    def __init__(
        self, *, margin_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.margin_s = margin_s
        self.clock = clock
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self._usable_until = 0.0
        self._refresh_at = 0.0
        self._retry_refresh_at = 0.0
        self.fetched = 0

    def usable(self) -> SecretStr | None:
        """The token if it is not about to expire."""
        if self._token is not None and self.clock() < self._usable_until:
            return self._token
        return None

    def needs_refresh(self) -> bool:
        """True when there is no valid token, or it is due for its early refresh."""
        now = self.clock()
        if self._token is None or now >= self._usable_until:
            return True
        return now >= self._refresh_at and now >= self._retry_refresh_at

    def store(self, token: str, lifetime_s: float, *, requested_at: float | None = None) -> None:
        """Keep `token`, valid for `lifetime_s` seconds from `requested_at` (default: now).

        Counting the lifetime from when the token was *requested* keeps the expiry on the
        safe side of the issuer's clock, however slowly the answer arrived.
        """
        now = self.clock()
        self._token = SecretStr(token)
        self._expires_at = (now if requested_at is None else min(requested_at, now)) + lifetime_s
        self._usable_until = self._expires_at - min(_SIGNING_SKEW_S, lifetime_s / 4, self.margin_s)
        self._refresh_at = self._expires_at - min(self.margin_s, lifetime_s / 2)
        self._retry_refresh_at = 0.0
        self.fetched += 1

    def invalidate(self, token: SecretStr | None) -> bool:
        """Forget `token` if it is still the cached one; False if it was already replaced."""
        if token is None or self._token is not token:
            return False
        self._token = None
        return True

    def refresh_failed(self) -> bool:
        """Note a failed refresh; True if a still-valid token can be used meanwhile."""
        remaining = self._usable_until - self.clock()
        if self._token is None or remaining <= 0:
            return False
        self._retry_refresh_at = self.clock() + min(_REFRESH_RETRY_S, remaining / 2)
        return True

    def refresh_in(self) -> float | None:
        """Seconds until the early refresh is due (None when there is no token)."""
        if self._token is None:
            return None
        return max(0.0, self._refresh_at - self.clock())

    def seconds_left(self) -> float | None:
        """Seconds until the cached token expires (None when there is none)."""
        if self._token is None:
            return None
        return max(0.0, self._expires_at - self.clock())

    def __repr__(self) -> str:
        left = self.seconds_left()
        state = "empty" if left is None else f"expires in {left:.0f}s"
        return f"TokenCache({state}, fetched={self.fetched})"
