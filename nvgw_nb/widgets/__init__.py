"""Notebook panels over a Session: Playground, CompareBoard and their parts, and the
ExperimentMatrix of a run.

>>> from nvgw_nb.widgets import Playground, CompareBoard   # doctest: +SKIP
>>> Playground(session)                                     # doctest: +SKIP

Every panel of a Session shares one `PanelState` (`PanelState.of(session)`), which
writes itself into the Session on every change: the Session is configured as the
panels show. `PanelState` needs no ipywidgets; the panels load it on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nvgw_nb.widgets.state import PanelState

if TYPE_CHECKING:
    from nvgw_nb.widgets.compare_board import CompareBoard
    from nvgw_nb.widgets.matrix import ExperimentMatrix
    from nvgw_nb.widgets.playground import Playground
    from nvgw_nb.widgets.routing import ModelPicker, ProviderOrder, RolePicker
    from nvgw_nb.widgets.token_status import TokenStatus

__all__ = [
    "CompareBoard",
    "ExperimentMatrix",
    "ModelPicker",
    "PanelState",
    "Playground",
    "ProviderOrder",
    "RolePicker",
    "TokenStatus",
]

#: panel → module; loaded on first use, so `PanelState` stays importable without ipywidgets
_PANELS = {
    "CompareBoard": "nvgw_nb.widgets.compare_board",
    "ExperimentMatrix": "nvgw_nb.widgets.matrix",
    "ModelPicker": "nvgw_nb.widgets.routing",
    "Playground": "nvgw_nb.widgets.playground",
    "ProviderOrder": "nvgw_nb.widgets.routing",
    "RolePicker": "nvgw_nb.widgets.routing",
    "TokenStatus": "nvgw_nb.widgets.token_status",
}


def __getattr__(name: str) -> Any:
    if name in _PANELS:
        return getattr(importlib.import_module(_PANELS[name]), name)
    raise AttributeError(f"module 'nvgw_nb.widgets' has no attribute {name!r}")
