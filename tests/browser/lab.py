"""JupyterLab in a sandbox and headless Chromium, for the browser tests.

`LabServer` runs JupyterLab from this environment's Python on 127.0.0.1 (a free port,
a random token, no browser) over a *copy* of the notebooks in a temporary folder, with
its own config, data, runtime, settings and workspace folders, and everything that
would reach outside the machine switched off (news, update checks, the extension
manager's PyPI listing, the language-server extension, terminals). `stop()` shuts
its kernels down, then the server, and checks that no process of it is left.

`Notebook` is what a person does in JupyterLab: open a notebook, clear its outputs,
run cells, add a cell, find a cell by its source, take a screenshot.

Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright for Python through
`executable_path`: Playwright's own browser download is never used. Playwright is
imported only when a test runs (`expect` here stands in for its own), so that without
it the tests are skipped with a reason, like without Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import (
        BrowserContext,
        Locator,
        LocatorAssertions,
        Page,
        ViewportSize,
    )

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
#: Chromium's flags on this machine: headless, no sandbox (CI runs as root), and no
#: background traffic of its own (the network is closed; every name outside loopback
#: resolves to nothing, so a stray request fails fast instead of leaving the machine)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
#: environment variables of the package's settings: a developer's real credentials
#: must not reach the notebooks' kernels (the notebooks also pick the simulator)
_SETTINGS_PREFIXES = (
    "NVIDIA_",
    "STARFLEET_",
    "LLM_GATEWAY_",
    "NVGW_",
    "OPENAI_",
    "ANTHROPIC_",
    "GOOGLE_",
)
#: JupyterLab's user settings for the tests: all cells in the DOM (no windowing, so a
#: cell is found by its source wherever it is), no news or update notifications
_LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

EXPLAIN_SKIP = (
    "browser tests need Debian's Chromium at /usr/bin/chromium: install it with "
    "`sudo apt-get install chromium` (CI installs it in .ci/run)"
)


def expect(locator: Locator) -> LocatorAssertions:
    """Playwright's `expect` (auto-waiting assertions), imported on first use."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def required() -> bool:
    """True under CI (CI=true): the browser tests must run there, never skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return EXPLAIN_SKIP
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            return f"browser tests need {module}: `make test` installs it (the dev extra)"
    return None


class LabServer:
    """JupyterLab on 127.0.0.1 over a copy of `notebooks/` in a temporary folder."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.work = base / "work"  # the server's root: notebooks/ and examples/
        self.log_path = base / "jupyterlab.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""

    # --- start ----------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> LabServer:
        self._lay_out()
        env = self._environment()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab", "--no-browser"],
                cwd=self.work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() can end it all
            )
        deadline = time.monotonic() + timeout
        runtime = self.base / "runtime"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited at start:\n{self.log()}")
            found = sorted(runtime.glob("jpserver-*.json"))
            if found:
                try:
                    info = json.loads(found[0].read_text(encoding="utf-8"))
                except ValueError:  # being written
                    info = None
                if info and self._ready(info["url"]):
                    self.url = info["url"]
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"JupyterLab did not start in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.1)

    def _lay_out(self) -> None:
        notebooks = self.work / "notebooks"
        notebooks.mkdir(parents=True)
        for path in (ROOT / "notebooks").glob("*.ipynb"):
            shutil.copy2(path, notebooks / path.name)
        (self.work / "examples").mkdir()
        shutil.copy2(ROOT / "examples" / "prompts.jsonl", self.work / "examples")
        for name in ("config", "data", "runtime", "ipython", "workspaces"):
            (self.base / name).mkdir()
        for relative, values in _LAB_SETTINGS.items():
            path = self.base / "settings" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        self.token = os.urandom(24).hex()
        server: dict[str, Any] = {
            "ip": "127.0.0.1",
            "port": 0,  # a free port, read back from the runtime file
            "port_retries": 0,
            "open_browser": False,
            "root_dir": str(self.work),
            "terminals_enabled": False,
            "allow_root": True,  # CI runs as root
            "jpserver_extensions": {"jupyter_lsp": False},
        }
        config = {
            "ServerApp": server,
            "IdentityProvider": {"token": self.token},
            "LabApp": {
                "news_url": None,
                "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                "extension_manager": "readonly",
                "workspaces_dir": str(self.base / "workspaces"),
            },
        }
        for name in ("jupyter_server_config.json", "jupyter_lab_config.json"):
            (self.base / "config" / name).write_text(json.dumps(config), encoding="utf-8")

    def _environment(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(_SETTINGS_PREFIXES) and not name.startswith("JUPYTER")
        }
        env.update(
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            JUPYTER_DATA_DIR=str(self.base / "data"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.base / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.base / "workspaces"),
            IPYTHONDIR=str(self.base / "ipython"),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def _client(self) -> httpx.Client:
        # trust_env=False: never a proxy, whatever the environment says
        return httpx.Client(
            headers={"Authorization": f"token {self.token}"}, trust_env=False, timeout=10.0
        )

    def _ready(self, url: str) -> bool:
        try:
            with self._client() as client:
                return client.get(f"{url}api/status").status_code == 200
        except httpx.HTTPError:
            return False

    # --- use ------------------------------------------------------------------------------
    def lab_url(self, path: str) -> str:
        """The URL that opens `path` (relative to the root) in a fresh JupyterLab layout."""
        return f"{self.url}lab/tree/{path}?reset&token={self.token}"

    def kernels(self) -> list[dict[str, Any]]:
        with self._client() as client:
            response = client.get(f"{self.url}api/kernels")
            response.raise_for_status()
            kernels: list[dict[str, Any]] = response.json()
            return kernels

    def shut_down_notebook(self, path: str) -> list[str]:
        """End the notebook's session, and so its kernel (what *Shut Down Kernel* does);
        the ids of the kernels that were ended."""
        ended = []
        with self._client() as client:
            for session in client.get(f"{self.url}api/sessions").json():
                if session.get("path") == path:
                    client.delete(f"{self.url}api/sessions/{session['id']}").raise_for_status()
                    ended.append(session["kernel"]["id"])
        return ended

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    # --- stop -----------------------------------------------------------------------------
    def stop(self) -> list[int]:
        """Shut the kernels down, then the server; end anything left. Returns the pids of
        processes that had to be killed (an empty list when everything shut down)."""
        process, self.process = self.process, None
        if process is None:
            return []
        if process.poll() is None and self.url:
            try:
                with self._client() as client:
                    for kernel in client.get(f"{self.url}api/kernels").json():
                        client.delete(f"{self.url}api/kernels/{kernel['id']}")
                    client.post(f"{self.url}api/shutdown")
            except httpx.HTTPError:
                pass
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        return self._kill_leftovers()

    def _kill_leftovers(self) -> list[int]:
        """Processes that still name this server's folder (a kernel's connection file is
        in its runtime folder) are ours: end them, and say which they were."""
        marker = str(self.base).encode()
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append(int(entry.name))
        return killed


def temp_base() -> Path:
    return Path(tempfile.mkdtemp(prefix="nvgw-browser-"))


def open_notebook(lab: LabServer, browser: BrowserContext, path: str) -> Iterator[Notebook]:
    """The notebook at `path` open in a new page; afterwards the page is closed and the
    notebook's kernel shut down (and checked gone). For a module-scoped fixture."""
    page = browser.new_page()
    try:
        yield Notebook(page, lab, path).open()
    finally:
        page.close()
        ended = lab.shut_down_notebook(path)
        assert ended, "the notebook had no kernel"
        assert not {k["id"] for k in lab.kernels()} & set(ended)


class Notebook:
    """One notebook open in JupyterLab, driven as a person would."""

    #: how long a cell may run (notebook 02's top-to-bottom run is the longest)
    RUN_TIMEOUT_MS = 90_000

    def __init__(self, page: Page, lab: LabServer, path: str) -> None:
        self.page = page
        self.lab = lab
        self.path = path

    def open(self) -> Notebook:
        self.page.goto(self.lab.lab_url(self.path))
        expect(self.page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
        # the kernel has started and is idle (the status bar says so)
        expect(self.status_bar()).to_contain_text("Idle", timeout=60_000)
        self.close_sidebar()
        return self

    def status_bar(self) -> Locator:
        return self.page.locator("#jp-main-statusbar")

    def close_sidebar(self) -> None:
        """Collapse the file browser, so the notebook has the window's width."""
        if self.page.locator("#jp-left-stack").is_visible():
            self.page.keyboard.press("Control+b")
        expect(self.page.locator("#jp-left-stack")).to_be_hidden()

    def menu(self, *path: str) -> None:
        """Click through the menu bar: menu("Run", "Run All Cells")."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{path[0]}$")).click()
        for label in path[1:]:
            self.page.locator(
                ".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$")
            ).click()

    def clear_outputs(self) -> None:
        """Edit → Clear Outputs of All Cells: what is shown next is this run's."""
        self.menu("Edit", "Clear Outputs of All Cells")
        expect(self.page.locator(".jp-Notebook .jp-OutputArea-output")).to_have_count(0)

    def code_cell(self, source: str) -> Locator:
        """The code cell whose source contains `source` (exactly one)."""
        return self.page.locator(".jp-Notebook .jp-CodeCell").filter(
            has=self.page.locator(".jp-InputArea-editor", has_text=source)
        )

    def select(self, cell: Locator) -> None:
        """Click a cell's prompt: the cell is selected, in command mode."""
        cell.locator(".jp-InputPrompt").click()

    def wait_ran(self, cell: Locator, timeout: float | None = None) -> None:
        """Wait for the cell's prompt to show an execution count ([3]:, not [*]:)."""
        expect(cell.locator(".jp-InputPrompt")).to_have_text(
            re.compile(r"^\[\d+\]:$"), timeout=timeout or self.RUN_TIMEOUT_MS
        )

    def run(self, source: str) -> Locator:
        """Select the cell holding `source`, run it (Ctrl+Enter) and wait; its locator."""
        cell = self.code_cell(source)
        self.select(cell)
        self.page.keyboard.press("Control+Enter")
        self.wait_ran(cell)
        return cell

    def add_cell_below(self, cell: Locator, code: str) -> Locator:
        """Insert a code cell under `cell`, type `code` into it, run it and wait."""
        self.select(cell)
        self.page.keyboard.press("b")  # command mode: insert a cell below, selected
        self.page.keyboard.press("Enter")  # edit it
        self.page.keyboard.insert_text(code)
        added = self.code_cell(code.splitlines()[0])
        self.page.keyboard.press("Control+Enter")
        self.wait_ran(added)
        return added

    def scroll_to(self, locator: Locator) -> None:
        """Scroll the notebook so `locator` starts at the top of the window."""
        locator.evaluate("element => element.scrollIntoView({block: 'start'})")

    def screenshot(self, path: Path) -> Path:
        self.page.screenshot(path=str(path))
        return path
