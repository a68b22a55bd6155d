"""nvgw_nb against raw httpx, raw aiohttp, openai-python and LiteLLM, in ONE run.

Every client does the same work against `upstream.py` (a minimal loopback server with no
latency, pinned to its own CPU when there are two), each in fresh processes pinned to the
other CPU, `--runs` times:

- per-call median and p99, sequential;
- calls/s at concurrency 64;
- the fallback path: NIM answers 500 three times, then the gateway answers;
- streaming: time to the first content chunk;
- import time and cold start (a fresh process: import, client, one chat), medians of
  `--cold` processes;
- peak RSS of the measuring process.

It prints a table with each figure's ratio to the floor (raw httpx; raw aiohttp for calls/s),
the targets of issue 8 and whether each was met, and writes the same to
`benchmarks/RESULTS.md`. LiteLLM rows appear when it is installed (`pip install -e .[bench]`).

    .venv/bin/python benchmarks/overhead.py              # ~5 min on 2 cores
    .venv/bin/python benchmarks/overhead.py --quick      # a smoke run, not for quoting
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from results_file import write_section

HERE = Path(__file__).parent
RAW = HERE / "overhead.json"  # every run's figures, for a second look

CLIENTS = {
    "httpx": ("raw httpx (floor)", "httpx"),
    "aiohttp": ("raw aiohttp", "aiohttp"),
    "nvgw_nb": ("nvgw_nb async (aiohttp transport)", "nvgw_nb"),
    "nvgw_nb_sync": ("nvgw_nb sync (chat / batch)", "nvgw_nb"),
    "nvgw_nb_httpx": ("nvgw_nb async, transport=httpx", "nvgw_nb"),
    "openai": ("openai-python", "openai"),
    "litellm": ("LiteLLM acompletion", "litellm"),
    "litellm_router": ("LiteLLM Router", "litellm"),
}

# Cold start: a fresh process imports, builds a client and gets one answer.
COLD = {
    "httpx": (
        "import httpx\n"
        "c = httpx.Client()\n"
        "r = c.post(f'{ROOT}/v1/chat/completions', json=BODY, headers=H)\n"
        "r.json()['choices'][0]['message']['content']\n"
    ),
    "nvgw_nb": (
        "import nvgw_nb as nv\n"
        "s = nv.Session.from_env(env={'NVIDIA_NIM_API_KEY': 'bench-key', "
        "'NVIDIA_NIM_BASE_URL': f'{ROOT}/v1', 'NVIDIA_LLM_GATEWAY_ENABLED': 'false'}, "
        "env_file=None)\n"
        "s.chat('What is the answer?').content\n"
        "s.close()\n"
    ),
    "openai": (
        "import openai\n"
        "c = openai.OpenAI(base_url=f'{ROOT}/v1', api_key='bench-key', max_retries=0)\n"
        "c.chat.completions.create(model='m', messages=BODY['messages']).choices[0]\n"
    ),
    "litellm": (
        "import os\n"
        "os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'\n"
        "import litellm\n"
        "litellm.completion(model='openai/m', api_base=f'{ROOT}/v1', api_key='bench-key', "
        "messages=BODY['messages']).choices[0]\n"
    ),
}
COLD_PRELUDE = (
    "import time\nT0 = time.perf_counter()\n"
    "ROOT = 'http://127.0.0.1:{port}'\n"
    "BODY = {{'model': 'm', 'messages': [{{'role': 'user', 'content': 'What is the answer?'}}]}}\n"
    "H = {{'Authorization': 'Bearer bench-key'}}\n"
)
COLD_EPILOGUE = "print(time.perf_counter() - T0)\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", type=int, default=10, help="fresh processes per import figure")
    parser.add_argument("--quick", action="store_true", help="small counts; do not quote")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    counts = (
        ["--warmup", "20", "--seq", "200", "--fallback", "50", "--stream", "50", "--conc", "500"]
        if args.quick
        else []
    )
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    client_cpu = str(cpus[0]) if len(cpus) >= 2 else None
    server_cpu = str(cpus[1]) if len(cpus) >= 2 else None
    clients = [c for c, (_, module) in CLIENTS.items() if importlib.util.find_spec(module)]
    missing = [CLIENTS[c][0] for c in CLIENTS if c not in clients]

    server = subprocess.Popen(
        [sys.executable, str(HERE / "upstream.py"), *(["--cpu", server_cpu] if server_cpu else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().split()[1])
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    t0 = time.perf_counter()
    try:
        for run in range(args.runs):
            for client in clients:
                cmd = [sys.executable, str(HERE / "peers.py"), client, str(port), *counts]
                if client_cpu:
                    cmd += ["--cpu", client_cpu]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(f"{client} run {run + 1} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                    continue
                runs[client].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"run {run + 1}/{args.runs} {client}: done", file=sys.stderr)
        measured_s = time.perf_counter() - t0
        imports = {
            m: _import_time(m, args.cold)
            for m in ("httpx", "aiohttp", "nvgw_nb", "openai", "litellm")
            if importlib.util.find_spec(m)
        }
        cold = {c: _cold_start(c, port, args.cold) for c in COLD if c in imports}
    finally:
        server.send_signal(signal.SIGTERM)
        tail, _ = server.communicate(timeout=30)
    server_cpu_s = float(tail.split()[-1]) if tail.strip() else float("nan")
    table = _table(runs, imports, cold)
    header = (
        f"{datetime.now(timezone.utc):%Y-%m-%d}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.runs} runs of every client, each in a fresh process"
        + (f" pinned to CPU {client_cpu}, upstream on CPU {server_cpu}" if client_cpu else "")
        + f". The upstream used {server_cpu_s:.1f} s CPU in {measured_s:.0f} s of client runs "
        f"({100 * server_cpu_s / measured_s:.0f}% of one core), so it was not the bottleneck. "
        "Figures are medians over the runs, with min-max; ratios are to the floor measured in "
        "this same run. Loopback, no latency: this measures client overhead only."
        + " LiteLLM Router's fallback row makes one NIM try, not three: its own retries "
        "sleep for seconds (see peers.py), so that row flatters it."
        + (f" Not installed, so not measured: {', '.join(missing)}." if missing else "")
        + (" QUICK RUN: small counts, not for quoting." if args.quick else "")
    )
    RAW.write_text(json.dumps({"runs": runs, "imports": imports, "cold": cold}, indent=1))
    targets = _targets(runs, imports, cold)
    print(header)
    print(table)
    print("\n".join(targets))
    if not args.no_write:
        body = "\n".join(
            ["## Client overhead", "", header, "", table, "", "Targets of issue 8:", "", *targets]
        )
        print(f"wrote {write_section('overhead', body)}")
    return 0


def _targets(
    runs: dict[str, list[dict[str, Any]]], imports: dict[str, float], cold: dict[str, float]
) -> list[str]:
    """One line per target of issue 8: the ratio measured in this run, and met or not."""

    def med(client: str, key: str) -> float | None:
        values = [r[key] for r in runs.get(client, [])]
        return statistics.median(values) if values else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    lines = []

    def check(text: str, value: float | None, limit: float, higher_is_better: bool = False) -> None:
        if value is None:
            lines.append(f"- {text}: not measured")
            return
        met = value >= limit if higher_is_better else value <= limit
        lines.append(f"- {text}: {value:.2f}× — {'met' if met else '**NOT MET**'}")

    for client in ("nvgw_nb", "nvgw_nb_sync"):
        check(
            f"{client} per-call median ≤ 1.2× raw httpx",
            ratio(med(client, "seq_median_ms"), med("httpx", "seq_median_ms")),
            1.2,
        )
    check(
        "nvgw_nb fallback path ≤ 1.2× the raw httpx fallback",
        ratio(med("nvgw_nb", "fallback_median_ms"), med("httpx", "fallback_median_ms")),
        1.2,
    )
    check(
        "import nvgw_nb ≤ 1.5× import httpx",
        ratio(imports.get("nvgw_nb"), imports.get("httpx")),
        1.5,
    )
    check(
        "cold start to the first answer ≤ 2.5× a raw httpx script",
        ratio(cold.get("nvgw_nb"), cold.get("httpx")),
        2.5,
    )
    check(
        "peak RSS ≤ 1.5× raw httpx's",
        ratio(med("nvgw_nb", "peak_rss_mib"), med("httpx", "peak_rss_mib")),
        1.5,
    )
    check(
        "calls/s at concurrency 64 ≥ 0.5× raw aiohttp's",
        ratio(med("nvgw_nb", "rps"), med("aiohttp", "rps")),
        0.5,
        higher_is_better=True,
    )
    behind = []
    for peer in ("openai", "litellm", "litellm_router"):
        if not runs.get(peer):
            continue
        for key, label, higher in (
            ("seq_median_ms", "per-call", False),
            ("seq_p99_ms", "p99", False),
            ("rps", "calls/s", True),
            ("fallback_median_ms", "fallback", False),
            ("ttfc_median_ms", "first chunk", False),
            ("peak_rss_mib", "RSS", False),
        ):
            ours, theirs = med("nvgw_nb", key), med(peer, key)
            if ours is None or theirs is None:
                continue
            if (ours < theirs) if higher else (ours > theirs):
                behind.append(f"{label} vs {peer}")
    peers_cold = {p: cold.get(p) for p in ("openai", "litellm") if cold.get(p)}
    behind += [
        f"cold start vs {p}" for p, v in peers_cold.items() if (cold.get("nvgw_nb") or 0) > (v or 0)
    ]
    lines.append(
        "- ahead of openai-python and LiteLLM on every row: "
        + ("met" if not behind else "**NOT MET** (behind on " + ", ".join(behind) + ")")
    )
    return lines


def _import_time(module: str, n: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(n)
    )


def _cold_start(client: str, port: int, n: int) -> float:
    code = COLD_PRELUDE.format(port=port) + COLD[client] + COLD_EPILOGUE
    return statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()[-1]
        )
        for _ in range(n)
    )


def _med(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def _table(
    runs: dict[str, list[dict[str, Any]]], imports: dict[str, float], cold: dict[str, float]
) -> str:
    def fig(client: str, key: str) -> tuple[float, float, float] | None:
        values = [r[key] for r in runs.get(client, [])]
        return _med(values) if values else None

    floor = {
        k: fig("httpx", k)
        for k in (
            "seq_median_ms",
            "fallback_median_ms",
            "ttfc_median_ms",
            "peak_rss_mib",
            "seq_p99_ms",
        )
    }
    aio_rps = fig("aiohttp", "rps")
    rows = [
        "| client | per-call median ms (× httpx) | p99 ms | calls/s at 64 (× raw aiohttp) "
        "| fallback path ms (× httpx) | first chunk ms | peak RSS MiB (× httpx) "
        "| import s (× httpx) | cold start s (× httpx) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for client, (label, module) in CLIENTS.items():
        if not runs.get(client):
            continue
        seq, p99, rps = fig(client, "seq_median_ms"), fig(client, "seq_p99_ms"), fig(client, "rps")
        fb, ttfc, rss = (
            fig(client, "fallback_median_ms"),
            fig(client, "ttfc_median_ms"),
            fig(client, "peak_rss_mib"),
        )
        imp = (
            imports.get(module)
            if client in ("httpx", "aiohttp", "nvgw_nb", "openai", "litellm")
            else None
        )
        cs = cold.get(client)
        rows.append(
            f"| {label} | {_cell(seq, floor['seq_median_ms'], 2)} | {_cell(p99, None, 1)} "
            f"| {_cell(rps, aio_rps, 0)} | {_cell(fb, floor['fallback_median_ms'], 2)} "
            f"| {_cell(ttfc, None, 2)} | {_cell(rss, floor['peak_rss_mib'], 0)} "
            f"| {_single(imp, imports.get('httpx'))} | {_single(cs, cold.get('httpx'))} |"
        )
    return "\n".join(rows)


def _cell(
    value: tuple[float, float, float] | None, floor: tuple[float, float, float] | None, digits: int
) -> str:
    if value is None:
        return "—"
    mid, low, high = value
    text = f"{mid:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"
    if floor is not None and floor[0]:
        text += f" **{mid / floor[0]:.2f}×**"
    return text


def _single(value: float | None, floor: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:.3f}"
    if floor:
        text += f" **{value / floor:.2f}×**"
    return text


if __name__ == "__main__":
    sys.exit(main())
