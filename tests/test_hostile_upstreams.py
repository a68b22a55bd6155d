"""Hostile upstreams (issue 14, items 6-9): each case ends in time, in bounded memory, typed.

NIM is a raw loopback server (`tests.hostile.HostileServer`) that sends a huge, endless or
gzip-bomb body, SSE that never ends a line or an event, SSE faster than it is read, an
error body that trickles, JSON nested 100k deep, infinite or negative usage, an HTML model
list, a 5 MB error code or model name; the simulator is the gateway. Every row runs in a
process of its own (`tests.hostile_runner`, attempt deadline 2 s, call deadline 5 s), all
rows in parallel, and is checked for: the call's time (its deadline plus a second), the
process's peak RSS (under 100 MB above a well-behaved call's), a typed error on each NIM
attempt, and the fallback where the plan has one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hostile_runner import ATTEMPT_S, CALL_S

NIM, GW = "nvidia-nim", "nvidia-gateway"
ROOT = Path(__file__).resolve().parents[1]
RSS_HEADROOM_MB = 100
PARALLEL = 4


@dataclass(frozen=True)
class Row:
    """One hostile upstream and what the call must end in."""

    id: str
    mode: str
    #: chat, stream or models
    call: str = "chat"
    #: the gateway is in the plan
    fallback: bool = True
    #: the error kind of each NIM attempt, in order (None: it answered)
    nim_kinds: tuple[str | None, ...] = ()
    served_by: str | None = GW
    #: the NvgwError the call raises (served_by is then None)
    raises: str | None = None
    #: the longest error text allowed on the error and every attempt
    max_text: int = 400
    #: the Session's transport (auto: aiohttp)
    transport: str = "auto"
    #: the limit is reached by parsing as fast as the CPU allows: on a loaded machine the
    #: attempt deadline may come first (a timeout, then the retry), which is as bounded
    cpu_bound: bool = False


TOO_LARGE = ("too_large",)
TIMEOUTS = ("timeout", "timeout")  # the attempt deadline, retried once (ProviderTimeout)

ROWS = [
    Row("H1 200 body of 500 MB", "big_200", nim_kinds=TOO_LARGE),
    Row("H2 endless chunked 200", "endless_200", nim_kinds=TOO_LARGE),
    Row("H3 gzip bomb 200 (2 MB -> 2 GiB)", "gzip_bomb_200", nim_kinds=TOO_LARGE),
    Row("H4 503 body of 500 MB", "big_503", nim_kinds=TOO_LARGE),
    Row("H5 endless chunked 503", "endless_503", nim_kinds=TOO_LARGE),
    Row("H6 gzip bomb 503", "gzip_bomb_503", nim_kinds=TOO_LARGE),
    Row("H7 SSE line that never ends", "sse_endless_line", "stream", nim_kinds=TOO_LARGE),
    Row(
        "H8 SSE data lines, no blank line",
        "sse_no_blank_line",
        "stream",
        nim_kinds=TOO_LARGE,
        cpu_bound=True,
    ),
    Row("H9 SSE keep-alives past the deadline", "sse_fast_comments", "stream", nim_kinds=TIMEOUTS),
    Row(
        "H10 SSE text past the deadline: the shown text is kept",
        "sse_fast_text",
        "stream",
        served_by=None,
        raises="StreamInterrupted",
        nim_kinds=("stream_interrupted",),
    ),
    Row("H11 503 body trickling a byte per 0.5 s", "trickle_503", nim_kinds=TIMEOUTS),
    Row("H12 JSON 100k deep, 200", "deep_json_200", nim_kinds=("malformed",)),
    Row(
        "H13 JSON 100k deep, 503: the status decides",
        "deep_json_503",
        nim_kinds=("server_error",) * 3,
    ),
    Row("H14 JSON 100k deep in an SSE event", "deep_json_sse", "stream", nim_kinds=("malformed",)),
    Row("H15 usage Infinity: estimated", "usage_infinity", nim_kinds=(None,), served_by=NIM),
    Row("H16 usage -1e9: estimated", "usage_negative", nim_kinds=(None,), served_by=NIM),
    Row(
        "H17 /v1/models an HTML page",
        "models_html",
        "models",
        served_by=None,
        raises="MalformedResponse",
    ),
    Row(
        "H18 /v1/models trickling",
        "trickle_503",
        "models",
        served_by=None,
        raises="ProviderTimeout",
    ),
    Row("H19 /v1/models 500 MB", "big_200", "models", served_by=None, raises="ResponseTooLarge"),
    Row("H20 5 MB error code, 503", "code_5mb_503", nim_kinds=("server_error",) * 3, max_text=300),
    Row("H21 5 MB error code, 200", "code_5mb_200", nim_kinds=("malformed",) * 2, max_text=300),
    Row("H22 5 MB model name", "model_5mb", nim_kinds=(None,), served_by=NIM),
    Row(
        "H23 no fallback: 500 MB",
        "big_200",
        fallback=False,
        served_by=None,
        raises="ResponseTooLarge",
        nim_kinds=TOO_LARGE,
    ),
    Row(
        "H24 no fallback: gzip bomb 503",
        "gzip_bomb_503",
        fallback=False,
        served_by=None,
        raises="ResponseTooLarge",
        nim_kinds=TOO_LARGE,
    ),
    Row(
        "H25 no fallback: trickling 503",
        "trickle_503",
        fallback=False,
        served_by=None,
        raises="ProviderTimeout",
        nim_kinds=TIMEOUTS,
    ),
    Row(
        "H26 no fallback: JSON 100k deep",
        "deep_json_200",
        fallback=False,
        served_by=None,
        raises="MalformedResponse",
        nim_kinds=("malformed",),
    ),
]
# The same limits on httpx's own transport.
ROWS += [
    Row("H27 httpx: 200 body of 500 MB", "big_200", nim_kinds=TOO_LARGE, transport="httpx"),
    Row("H28 httpx: gzip bomb 503", "gzip_bomb_503", nim_kinds=TOO_LARGE, transport="httpx"),
    Row(
        "H29 httpx: SSE line that never ends",
        "sse_endless_line",
        "stream",
        nim_kinds=TOO_LARGE,
        transport="httpx",
    ),
    Row(
        "H30 httpx: SSE keep-alives past the deadline",
        "sse_fast_comments",
        "stream",
        nim_kinds=TIMEOUTS,
        transport="httpx",
    ),
]
BASELINE = Row("baseline: a well-behaved NIM", "ok", nim_kinds=(None,), served_by=NIM)


def _run(row: Row) -> dict[str, Any]:
    """The row's report from its own process (bounded: a hung child fails the row)."""
    argv = [
        sys.executable,
        "-m",
        "tests.hostile_runner",
        row.mode,
        row.call,
        str(int(row.fallback)),
        row.transport,
    ]
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=CALL_S + 30)
    except subprocess.TimeoutExpired:
        return {"crashed": "the child did not end"}
    if done.returncode != 0 or not done.stdout.strip():
        return {"crashed": done.stderr[-2000:]}
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    """Every row's report, the rows run in parallel processes."""
    rows = [BASELINE, *ROWS]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return dict(zip([r.id for r in rows], pool.map(_run, rows), strict=True))


def _report(reports: dict[str, dict[str, Any]], row: Row) -> dict[str, Any]:
    report = reports[row.id]
    assert "crashed" not in report, report.get("crashed")
    return report


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_ends_within_its_deadline(reports: dict[str, dict[str, Any]], row: Row) -> None:
    """The call ends within its deadline plus a second, whatever keeps arriving."""
    deadline = ATTEMPT_S if row.call == "models" else CALL_S
    assert _report(reports, row)["elapsed_s"] <= deadline + 1.0


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_memory_stays_bounded(reports: dict[str, dict[str, Any]], row: Row) -> None:
    """The process's peak RSS stays within 100 MB of a well-behaved call's."""
    baseline = _report(reports, BASELINE)["rss_mb"]
    assert _report(reports, row)["rss_mb"] < baseline + RSS_HEADROOM_MB


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_typed_error_then_fallback(reports: dict[str, dict[str, Any]], row: Row) -> None:
    """Each NIM attempt failed with its typed kind; the call fell back, or raised an
    NvgwError where the plan had nothing left (never an untyped Python error)."""
    report = _report(reports, row)
    assert (report["served_by"], report["raised"]) == (row.served_by, row.raises)
    if row.cpu_bound:
        kinds = tuple(report["nim_kinds"])
        assert kinds in (row.nim_kinds, ("timeout", *row.nim_kinds), TIMEOUTS), kinds
    elif row.call != "models":
        assert tuple(report["nim_kinds"]) == row.nim_kinds


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_error_text_is_bounded(reports: dict[str, dict[str, Any]], row: Row) -> None:
    """No error or trace entry carries more than a few hundred characters of it."""
    assert max(_report(reports, row)["texts"]) <= row.max_text


@pytest.mark.parametrize("row", [r for r in ROWS if r.served_by == NIM], ids=lambda r: r.id)
def test_answers_keep_sane_numbers_and_names(reports: dict[str, dict[str, Any]], row: Row) -> None:
    """Usage that is infinite or negative is estimated instead (cost never below 0); a
    model name is cut to 200 characters."""
    report = _report(reports, row)
    assert report["model_chars"] <= 200
    assert report["cost_usd"] >= 0
    assert not report["negative_usage"]
    if row.mode.startswith("usage"):
        assert report["estimated"] == [True]
