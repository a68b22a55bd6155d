"""One JupyterLab server and one headless Chromium for all the browser tests (package
scope: both are stopped when the last of them has run).

Without Chromium at /usr/bin/chromium the tests are skipped with how to enable them;
under CI (CI=true) that is an error instead: .ci/run installs Chromium first.

Screenshots of every step go to $NVGW_BROWSER_ARTIFACTS, or else to out/browser/; the
run's summary says where.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .lab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    VIEWPORT,
    LabServer,
    missing,
    required,
    temp_base,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Request

_ARTIFACTS: list[Path] = []
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
#: what the page may load: JupyterLab on loopback, and data the page made itself
_LOOPBACK = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _ARTIFACTS:
        shots = sorted(p.name for p in folder.glob("*.png"))
        terminalreporter.write_line(f"browser test screenshots ({len(shots)}): {folder}")


@pytest.fixture(scope="session")
def browser_ready() -> None:
    """Skip (or, under CI, fail) when Chromium, Playwright or JupyterLab is missing."""
    reason = missing()
    if reason is None:
        return
    if required():
        pytest.fail(f"CI=true, so the browser tests must run, but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts(browser_ready: None) -> Path:
    """Where the screenshots go: $NVGW_BROWSER_ARTIFACTS, or out/browser/ (git-ignored,
    removed by `make clean`); the PNGs of an earlier run there are removed first."""
    wanted = os.environ.get("NVGW_BROWSER_ARTIFACTS")
    folder = Path(wanted).resolve() if wanted else ROOT / "out" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    _ARTIFACTS.append(folder)
    return folder


@pytest.fixture(scope="package")
def lab(browser_ready: None) -> Iterator[LabServer]:
    """JupyterLab over a copy of notebooks/, stopped (kernels and all) after the last
    browser test."""
    base = temp_base()
    server = LabServer(base).start()
    try:
        yield server
    finally:
        leftovers = server.stop()
        log = server.log()
        shutil.rmtree(base, ignore_errors=True)
        assert not leftovers, f"processes left after JupyterLab shut down: {leftovers}\n{log}"


@pytest.fixture(scope="package")
def outside_requests() -> list[str]:
    """URLs the browser asked for beyond 127.0.0.1 (there must be none)."""
    return []


@pytest.fixture(scope="package")
def browser(browser_ready: None, outside_requests: list[str]) -> Iterator[BrowserContext]:
    """Debian's Chromium, headless, with a fresh profile; every request it makes is
    recorded, and one that leaves 127.0.0.1 fails the test it happened in."""
    from playwright.sync_api import sync_playwright

    profile = temp_base()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(30_000)

        def record(request: Request) -> None:
            if not request.url.startswith(_LOOPBACK):
                outside_requests.append(request.url)

        context.on("request", record)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def _browser_checks(request: pytest.FixtureRequest, artifacts: Path) -> Iterator[None]:
    """After each test: a screenshot of every page when it failed; no outside request."""
    yield
    if "browser" not in request.fixturenames:
        return
    context: BrowserContext = request.getfixturevalue("browser")
    reports = request.node.stash.get(_REPORTS, {})
    if any(r.failed for r in reports.values()):
        for number, page in enumerate(context.pages):
            with contextlib.suppress(Exception):  # a crashed page has no picture to give
                page.screenshot(path=str(artifacts / f"FAILED-{request.node.name}-{number}.png"))
    outside: list[str] = request.getfixturevalue("outside_requests")
    left, outside[:] = list(outside), []
    assert not left, f"the page made requests beyond 127.0.0.1: {left}"
