"""TokenStatus: the Starfleet token's life, never the token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nvgw_nb.widgets._html import token_status_html
from nvgw_nb.widgets._ui import HTML, Button, HBox, Layout

if TYPE_CHECKING:
    from nvgw_nb.session import Session

__all__ = ["TokenStatus"]


class TokenStatus(HBox):
    """Whether a Starfleet token is held, how long until its early refresh, and the last
    refresh error (from `session.token_status()`); **Refresh** or `refresh()` re-reads it.

    The token itself is never read: the panel's state holds none of it.

    >>> nv.widgets.TokenStatus(session)  # doctest: +SKIP
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.status = HTML()
        self.refresh_button = Button(
            description="Refresh", icon="refresh", layout=Layout(width="100px")
        )
        self.refresh_button.on_click(lambda _: self.refresh())
        super().__init__(children=(self.status, self.refresh_button))
        self.refresh()

    def refresh(self) -> dict[str, Any]:
        """Read `session.token_status()` again and show it; returns what was read."""
        status = self.session.token_status()
        self.status.value = token_status_html(status)
        return status
