"""The ipywidgets classes the panels use, with the types mypy should see.

ipywidgets ships no type information, so for the type checker this module declares
the small part of its surface the panels touch (the classes are traitlets
`HasTraits`, whose own types are real); at run time the names are ipywidgets' own
classes. Only this module imports ipywidgets.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

__all__ = [
    "HTML",
    "BoundedIntText",
    "Box",
    "Button",
    "Checkbox",
    "Combobox",
    "Dropdown",
    "FloatSlider",
    "HBox",
    "Image",
    "IntProgress",
    "Layout",
    "Tab",
    "Text",
    "Textarea",
    "VBox",
    "Widget",
    "child_widgets",
    "field_label",
    "stretched",
    "wrapping_row",
]

if TYPE_CHECKING:
    from traitlets import HasTraits

    class Widget(HasTraits):
        keys: list[str]

        def __init__(self, **kwargs: Any) -> None: ...
        def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]: ...
        def close(self) -> None: ...

    class Layout(Widget):
        width: str | None
        display: str | None
        flex_flow: str | None
        grid_gap: str | None
        max_width: str | None

    class DOMWidget(Widget):
        layout: Layout
        tooltip: str | None

    class Box(DOMWidget):
        children: tuple[Widget, ...]

    class VBox(Box): ...

    class HBox(Box): ...

    class Tab(Box):
        titles: tuple[str, ...]
        selected_index: int | None

    class HTML(DOMWidget):
        value: str

        def __init__(self, value: str = "", **kwargs: Any) -> None: ...

    class Button(DOMWidget):
        description: str
        disabled: bool
        button_style: str
        icon: str

        def on_click(self, callback: Callable[[Button], object]) -> None: ...
        def click(self) -> None: ...

    class Checkbox(DOMWidget):
        value: bool
        description: str
        disabled: bool

    class Dropdown(DOMWidget):
        options: Sequence[tuple[str, str]]
        value: str
        label: str | None
        description: str
        disabled: bool

    class Text(DOMWidget):
        value: str
        placeholder: str
        description: str
        disabled: bool

    class Textarea(Text):
        rows: int | None

    class Combobox(Text):
        options: tuple[str, ...]
        ensure_option: bool

    class FloatSlider(DOMWidget):
        value: float
        min: float
        max: float
        step: float
        description: str
        disabled: bool

    class BoundedIntText(DOMWidget):
        value: int
        min: int
        max: int
        description: str
        disabled: bool

    class IntProgress(DOMWidget):
        value: int
        min: int
        max: int
        description: str
        bar_style: str

    class Image(DOMWidget):
        value: bytes
        format: str

else:
    from ipywidgets import (
        HTML,
        BoundedIntText,
        Box,
        Button,
        Checkbox,
        Combobox,
        Dropdown,
        FloatSlider,
        HBox,
        Image,
        IntProgress,
        Layout,
        Tab,
        Text,
        Textarea,
        VBox,
        Widget,
    )


def child_widgets(widget: Widget) -> list[Widget]:
    """The widgets `widget`'s synced state refers to (children, layout, style, …)."""
    found: list[Widget] = []
    for key in widget.keys:
        value = getattr(widget, key, None)
        values = value if isinstance(value, (tuple, list)) else (value,)
        found += [v for v in values if isinstance(v, Widget)]
    return found


def wrapping_row(*, gap: str = "4px 12px") -> Layout:
    """The layout of a row of controls that wraps onto a second line when the notebook is
    too narrow for it (instead of clipping the controls at its right edge)."""
    return Layout(flex_flow="row wrap", align_items="center", grid_gap=gap, width="100%")


def stretched() -> Layout:
    """The layout of a box as wide as its column, margins included (a width of 100%
    plus the widget's own margin would stick out on the right)."""
    return Layout(width="auto", align_self="stretch")


def field_label(name: str, hint: str = "") -> HTML:
    """A visible label over an input box (a placeholder is gone once the box is filled)."""
    small = f' <small style="color:#666">({html.escape(hint)})</small>' if hint else ""
    return HTML(
        f'<label class="nvgw-label" style="font-weight:600;line-height:1.4">'
        f"{html.escape(name)}</label>{small}",
        layout=Layout(margin="6px 0 0 0"),
    )
