"""Render the Playground and the CompareBoard to PNGs for the docs (on the simulator).

    .venv/bin/python docs/render_widgets.py          # writes docs/*.png (needs chromium)

ipywidgets' own HTML export loads the widget JavaScript from a CDN; this renders a
static HTML page from the panels' widget state instead — the values of their HTML
widgets and plain form controls standing in for the inputs — and screenshots it with
headless Chromium. Nothing here is part of the package.
"""

from __future__ import annotations

import asyncio
import base64
import html
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import ipywidgets as w

import nvgw_nb as nv
from nvgw_nb.widgets import CompareBoard, Playground

DOCS = Path(__file__).resolve().parent
CSS = """
body { font: 13px/1.4 "DejaVu Sans", system-ui, sans-serif; margin: 16px; color: #222;
       background: white; }
.cell { border: 1px solid #e0e0e0; border-radius: 4px; padding: 10px; width: 1040px; }
.vbox { display: flex; flex-direction: column; gap: 4px; margin: 2px 0; }
.hbox { display: flex; flex-direction: row; align-items: center; gap: 4px; margin: 2px 0; }
.ctl { display: inline-flex; align-items: center; gap: 6px; margin: 2px 0; }
.desc { color: #333; text-align: right; }
input[type=text], input[type=number], select, textarea {
  font: inherit; border: 1px solid #9e9e9e; border-radius: 2px; padding: 3px 5px;
  background: white; box-sizing: border-box; }
textarea { width: 100%; resize: none; } .hbox > .vbox { flex: 0 1 auto; }
button { font: inherit; border: none; border-radius: 2px; padding: 4px 12px;
  background: #eeeeee; color: #222; box-shadow: 0 1px 1px rgba(0,0,0,.15); min-height: 28px; }
button.success { background: #4caf50; color: white; }
button:disabled { opacity: .5; }
progress { width: 420px; height: 14px; }
.tabs { display: flex; border-bottom: 1px solid #ccc; margin-top: 6px; }
.tab { padding: 5px 14px; border: 1px solid #ccc; border-bottom: none; background: #f5f5f5;
  margin-right: 2px; color: #555; }
.tab.sel { background: white; color: #111; border-top: 2px solid #2196f3; font-weight: 600; }
.tabbody { border: 1px solid #ccc; border-top: none; padding: 8px; }
table { border-collapse: collapse; } th, td { padding: 2px 6px; border-bottom: 1px solid #eee; }
th { text-align: left; } mark { padding: 0 1px; }
"""


def _width(widget: w.Widget) -> str:
    """The widget's own width and max-width (and flex), as the panels set them."""
    layout = getattr(widget, "layout", None)
    style = ""
    for name, css in (("width", "width"), ("max_width", "max-width"), ("flex", "flex")):
        value = getattr(layout, name, None)
        if value and value != "auto":
            style += f"{css}:{value};"
    return style


def _desc(text: str) -> str:
    return f'<span class="desc">{html.escape(text)}</span>' if text else ""


def render(widget: w.Widget) -> str:
    """Static HTML standing in for `widget` as a front end would draw it."""
    style = _width(widget)
    if isinstance(widget, w.Tab):
        heads = "".join(
            f'<div class="tab{" sel" if i == widget.selected_index else ""}">{html.escape(t)}</div>'
            for i, t in enumerate(widget.titles)
        )
        index = widget.selected_index or 0
        return (
            f'<div class="tabs">{heads}</div>'
            f'<div class="tabbody">{render(widget.children[index])}</div>'
        )
    if isinstance(widget, w.Box):
        wraps = (widget.layout.flex_flow or "").startswith("row")
        kind = "hbox" if isinstance(widget, w.HBox) or wraps else "vbox"
        if "wrap" in (widget.layout.flex_flow or ""):
            style += "flex-wrap:wrap;column-gap:12px;"
        inner = "".join(render(child) for child in widget.children)
        return f'<div class="{kind}" style="{style}">{inner}</div>'
    if isinstance(widget, w.HTML):
        margin = getattr(widget.layout, "margin", None)
        return f'<div style="{style}{f"margin:{margin};" if margin else ""}">{widget.value}</div>'
    if isinstance(widget, w.Button):
        icon = {"play": "▶ ", "stop": "■ ", "download": "⤓ ", "refresh": "↻ "}
        cls = "success" if widget.button_style == "success" else ""
        disabled = " disabled" if widget.disabled else ""
        label = icon.get(widget.icon, "") + widget.description
        return f'<button class="{cls}" style="{style}"{disabled}>{html.escape(label)}</button>'
    if isinstance(widget, w.Checkbox):
        checked = " checked" if widget.value else ""
        disabled = " disabled" if widget.disabled else ""
        return (
            f'<label class="ctl" style="{style}"><input type="checkbox"{checked}{disabled}>'
            f"{html.escape(widget.description)}</label>"
        )
    if isinstance(widget, w.Dropdown):
        label = widget.label or ""
        return (
            f'<span class="ctl" style="{style}">{_desc(widget.description)}'
            f'<select style="flex:1"><option>{html.escape(label)}</option></select></span>'
        )
    if isinstance(widget, w.Textarea):
        return (
            f'<textarea rows="{widget.rows or 3}" placeholder="{html.escape(widget.placeholder)}"'
            f' style="{style}">{html.escape(widget.value)}</textarea>'
        )
    if isinstance(widget, (w.Text, w.Combobox)):
        return (
            f'<span class="ctl" style="{style}">{_desc(widget.description)}<input type="text" '
            f'value="{html.escape(widget.value)}" placeholder="{html.escape(widget.placeholder)}"'
            ' style="flex:1"></span>'
        )
    if isinstance(widget, w.FloatSlider):
        return (
            f'<span class="ctl" style="{style}">{_desc(widget.description)}<input type="range" '
            f'min="{widget.min}" max="{widget.max}" step="{widget.step}" value="{widget.value}" '
            f'style="flex:1"><span>{widget.value:.2f}</span></span>'
        )
    if isinstance(widget, w.BoundedIntText):
        return (
            f'<span class="ctl" style="{style}">{_desc(widget.description)}<input type="number" '
            f'value="{widget.value}" style="width:80px"></span>'
        )
    if isinstance(widget, w.IntProgress):
        colour = {"success": "#4caf50", "warning": "#ff9800", "danger": "#f44336"}.get(
            widget.bar_style, "#2196f3"
        )
        return (
            f'<span class="ctl">{_desc(widget.description)}<progress value="{widget.value}" '
            f'max="{widget.max}" style="accent-color:{colour}"></progress></span>'
        )
    if isinstance(widget, w.Image):
        data = base64.b64encode(bytes(widget.value)).decode()
        return (
            f'<img src="data:image/{widget.format};base64,{data}" '
            f'style="{style}min-width:0;height:auto">'
        )
    raise TypeError(f"no static rendering for {type(widget).__name__}")


def page(widget: w.Widget, *, open_details: bool = True) -> str:
    body = render(widget)
    if open_details:
        body = body.replace("<details ", "<details open ")
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><style>{CSS}</style></head>'
        f'<body><div class="cell">{body}</div></body></html>'
    )


def screenshot(markup: str, target: Path, *, height: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "panel.html"
        source.write_text(markup, encoding="utf-8")
        subprocess.run(  # noqa: S603 - a fixed local command line
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--screenshot={target}",
                f"--window-size=1100,{height}",
                source.as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(f"wrote {target.relative_to(DOCS.parent)}")


async def playground(sim: nv.Simulator, session: nv.Session) -> Playground:
    panel = Playground(session)
    await panel.wait()
    panel.role_picker.dropdown.value = "planner"
    panel.system_prompt.value = "You review Python changes for a platform team. Be concise."
    panel.prompt.value = "Summarise this diff: rename parse_cfg to load_config, keep a shim."
    panel.run_button.click()
    await panel.wait()
    sim.inject("nvidia-nim", "N1", times=3)  # NIM answers 503 three times: the gateway serves
    panel.run_button.click()
    await panel.wait()
    return panel


async def compare_board(session: nv.Session) -> CompareBoard:
    prompts = [
        "Summarise this diff: rename parse_cfg to load_config, keep a shim.",
        "Plan the migration of our HTTP client from requests to httpx.",
        "Review: a retry loop that sleeps 1 s between 10 attempts on every error.",
    ]
    board = CompareBoard(session, prompts="\n".join(prompts))
    board.repeats.value = 2
    board.run_button.click()
    await board.wait()
    return board


async def main() -> None:
    with (
        nv.Simulator(seed=7, time_scale=0.05) as sim,
        sim.session(retry=nv.RetryPolicy.no_wait()) as session,
    ):
        panel = await playground(sim, session)
        screenshot(page(panel), DOCS / "playground.png", height=880)
    with nv.Simulator(seed=7, time_scale=0.05) as sim, sim.session() as session:
        board = await compare_board(session)
        screenshot(page(board), DOCS / "compare_board.png", height=730)
        board.tabs.selected_index = 1
        screenshot(page(board), DOCS / "compare_board_plots.png", height=1060)


if __name__ == "__main__":
    asyncio.run(main())
