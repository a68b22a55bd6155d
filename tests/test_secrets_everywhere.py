"""Canaries everywhere a notebook user's data ends up: export files, widget state, and a
saved notebook executed with forced failures.

Each test runs on a simulator whose credentials and issued tokens are the canaries
(tests/test_secrets.py), injects faults across all five providers so errors, fallbacks
and tracebacks happen, then searches what was written for every canary form.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from ipywidgets.embed import embed_data
from ipywidgets.widgets.widget import _instances

import nvgw_nb as nv
from nvgw_nb import cli
from nvgw_nb.batch import load_results
from nvgw_nb.report import write_report
from nvgw_nb.sim import Simulator
from nvgw_nb.trace import attempts_html, attempts_text
from nvgw_nb.widgets import (
    CompareBoard,
    ModelPicker,
    PanelState,
    Playground,
    ProviderOrder,
    RolePicker,
    TokenStatus,
)
from tests.test_secrets import ALL_PROVIDERS, Canaries

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
PROMPTS = ["Summarise this diff: rename the parser", "Plan a migration to httpx"]
#: faults across every provider and the token endpoint: some rows fail, some retry, the
#: gateway's token is refused once (G1) so a second token is fetched
FAULT_PLAN = (
    ("nvidia-nim", "X4", 1),
    ("nvidia-nim", "N1", 3),
    ("nvidia-gateway", "G1", 1),
    ("nvidia-gateway", "B1", 2),
    ("starfleet", "T1", 1),
    ("openai", "X4", 1),
    ("openai", "C3", 3),
    ("anthropic", "B3", 2),
    ("anthropic", "X1", 1),
    ("google-genai", "X4", 1),
    ("google-genai", "E1", 2),
)


def inject_plan(sim: Simulator) -> None:
    """Queue FAULT_PLAN on `sim`."""
    for provider, fault, times in FAULT_PLAN:
        sim.inject(provider, fault, times)


def everyone_env(sim: Simulator) -> dict[str, str]:
    """`sim.env()` with external providers allowed, so all six canaries are in play."""
    return {**sim.env(), "NVGW_ALLOW_EXTERNAL": "true"}


@pytest.fixture
def canary_sim() -> Iterator[Simulator]:
    """A simulator with no latency whose tokens expire fast (several get issued)."""
    with Simulator(time_scale=0, token_lifetime=1.0) as simulator:
        yield simulator


@pytest.fixture
def everyone(canary_sim: Simulator) -> Iterator[nv.Session]:
    """A Session on `canary_sim` allowed every provider, never waiting, breakers quick."""
    with canary_sim.session(
        allow_external=True, retry=nv.RetryPolicy.no_wait(), breaker_cooldown_s=0
    ) as session:
        yield session


def written(root: Path) -> dict[str, bytes]:
    """Every file under `root`, by its relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- exports ------------------------------------------------------------------------------
def test_exports_hold_no_canary(
    canary_sim: Simulator,
    everyone: nv.Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Comparison CSV/JSONL/DataFrame, the HTML report and its plots, batch JSONL,
    ChatResult JSON and traces, the CompareBoard's CSV and `nvgw-nb compare --out`, all
    written after faults on every provider: no file holds a canary form."""
    canaries = Canaries(canary_sim)
    out = tmp_path / "exports"
    out.mkdir()
    inject_plan(canary_sim)
    cmp = everyone.compare(PROMPTS, providers=ALL_PROVIDERS, repeats=2, progress=False)
    assert {r.ok for r in cmp.rows} == {True, False}, "some rows failed, some succeeded"
    cmp.to_csv(out / "cmp.csv")
    cmp.to_jsonl(out / "cmp.jsonl")
    (out / "records.json").write_text(json.dumps(cmp.to_records(), default=str))
    frame = cmp.to_pandas()
    frame.to_csv(out / "frame.csv")
    frame.to_json(out / "frame.json")
    (out / "cmp.html").write_text(cmp._repr_html_() + cmp.side_by_side_html(limit=10))
    (out / "summary.md").write_text(cmp.summary().to_markdown())
    files = write_report(cmp, out / "report", note="canary sweep")
    assert files.report_html.is_file()

    inject_plan(canary_sim)
    items = everyone.batch(
        PROMPTS * 3, providers=list(ALL_PROVIDERS), progress=False, save_to=out / "batch.jsonl"
    )
    tried = [a for i in items for a in (i.result.attempts if i.result else i.attempts)]
    assert {a.outcome for a in tried} >= {"ok", "error"}, "faults fired, answers came"
    reloaded = load_results(out / "batch.jsonl")
    (out / "batch-reloaded.jsonl").write_text("".join(i.model_dump_json() + "\n" for i in reloaded))
    for n, item in enumerate(items):
        (out / f"attempts-{n}.txt").write_text(attempts_text(item.attempts))
        (out / f"attempts-{n}.html").write_text(attempts_html(item.attempts))
        if item.result is not None:
            (out / f"result-{n}.json").write_text(item.result.to_json())
            (out / f"result-{n}.txt").write_text(item.result.trace())
            (out / f"result-{n}.html").write_text(item.result._repr_html_())

    board = CompareBoard(everyone)
    board.comparison = cmp
    assert board.save_csv(out / "board.csv") is not None

    _experiment_exports(canary_sim, everyone, out / "experiment")

    for name, value in everyone_env(canary_sim).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NVGW_MAX_RETRIES", "0")  # no backoff sleeps in the CLI's Session
    inject_plan(canary_sim)
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("\n".join(PROMPTS) + "\n")
    code = cli.main(
        [
            *("compare", str(prompts_file), "--out", str(out / "cli"), "--no-progress"),
            *("--providers", ",".join(ALL_PROVIDERS), "--repeats", "3"),
        ]
    )
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr

    assert canaries.add_tokens() > 1, "tokens were refreshed during the run"
    files_written = written(out)
    assert {
        "report/report.html",
        "report/latency.png",
        "cli/report.html",
        "board.csv",
        "experiment/run.jsonl",
        "experiment/report/quality.jsonl",
        "experiment/report/quality.png",
    } <= set(files_written)
    leaks = {name: canaries.found_in(data) for name, data in files_written.items()}
    leaks["cli stdout/stderr"] = canaries.found_in(stdout + stderr)
    assert not {name: found for name, found in leaks.items() if found}


def _experiment_exports(sim: Simulator, session: nv.Session, out: Path) -> None:
    """Every file type an experiment writes, after faults on every provider: the run file
    (calls, ratings, judge verdicts), its table, summary, plan, verdicts, and a report
    with the answer-quality section and its plot."""
    from nvgw_nb.experiments import checks, judges
    from nvgw_nb.quality import measure_quality

    out.mkdir()
    cases = [
        nv.Case(p, id=f"c{i}", reference="port", check="contains") for i, p in enumerate(PROMPTS)
    ]
    inject_plan(sim)
    exp = session.experiment(
        cases,
        vary={"provider": list(ALL_PROVIDERS)},
        scorers=[checks.expected(), judges.rubric("Is it helpful?", judge="anthropic")],
    )
    (out / "plan.html").write_text(exp.plan()._repr_html_() + str(exp.plan()))
    run = exp.run(progress=False, save_to=out / "run.jsonl")
    run.rate("c0", run.cells[0].id, passed=True)
    run.pairwise(
        "provider", judges.pairwise("Better?", judge="anthropic"), values=list(ALL_PROVIDERS[:2])
    )
    run.to_jsonl(out / "run-copy.jsonl")
    (out / "table.json").write_text(json.dumps(run.table(), default=str))
    run.to_pandas().to_csv(out / "table.csv")
    (out / "summary.md").write_text(run.summary().to_markdown())
    (out / "summary.html").write_text(run.summary()._repr_html_() + run._repr_html_())
    verdict = run.compare(a={"provider": ALL_PROVIDERS[0]}, b={"provider": ALL_PROVIDERS[1]})
    (out / "verdict.md").write_text(verdict._repr_markdown_() + verdict._repr_html_())
    inject_plan(sim)
    quality = measure_quality(session, cases, judge="anthropic")
    cmp = session.compare(PROMPTS, progress=False)
    files = write_report(cmp, out / "report", quality=quality)
    assert files.quality_jsonl is not None
    assert (out / "report" / "quality.png").is_file()


# --- widget state -------------------------------------------------------------------------
def _state_text(state: Any) -> str:
    """Widget state as JSON text, binary buffers (PNG bytes) included as latin-1."""

    def encode(value: object) -> str:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).decode("latin-1")
        return repr(value)

    return json.dumps(state, default=encode)


async def test_widget_state_holds_no_canary(canary_sim: Simulator, everyone: nv.Session) -> None:
    """Every panel, run into errors, fallbacks and a restarted stream: the state of every
    live widget (`get_state`, and the manager state `embed_data` saves) holds no canary."""
    canaries = Canaries(canary_sim)
    before = set(_instances)
    playground = Playground(everyone, prompt="Summarise this diff")
    await playground.wait()
    for provider in ALL_PROVIDERS:
        canary_sim.inject(provider, "N1", 3)
    playground.run_button.click()  # every provider fails: AllProvidersFailed in the panel
    await playground.wait()
    assert playground.last_error is not None
    assert "AllProvidersFailed" in playground.output.value
    canary_sim.inject("nvidia-nim", "X4")
    canary_sim.inject("nvidia-gateway", "G1")
    playground.run_button.click()  # NIM refuses the key; the gateway replays with a new token
    await playground.wait()
    assert playground.results[-1].served_by == "nvidia-gateway"
    playground.stream.value = True
    canary_sim.inject("nvidia-nim", "S2")
    playground.run_button.click()  # the stream breaks after text: restarted on the gateway
    await playground.wait()
    board = CompareBoard(everyone, prompts="\n".join(PROMPTS))
    for box in board.providers.values():
        box.value = True
    inject_plan(canary_sim)
    board.run_button.click()
    await board.wait()
    assert board.comparison is not None
    assert any(not row.ok for row in board.comparison.rows)
    picker = ModelPicker(everyone)
    await picker.wait()
    status = TokenStatus(everyone)
    status.refresh_button.click()
    panels = [playground, board, ProviderOrder(everyone), RolePicker(everyone), picker, status]

    assert canaries.add_tokens() > 1
    mine = [w for key, w in _instances.items() if key not in before]
    assert len(mine) > 50
    assert not [w for w in _instances.values() if isinstance(w, ipywidgets.Password)]
    leaks = {
        f"{type(w).__name__} {w.model_id}": found
        for w in mine
        if (found := canaries.found_in(_state_text(w.get_state())))
    }
    saved = embed_data(views=panels, drop_defaults=False)
    leaks["embed_data"] = canaries.found_in(_state_text(saved))
    leaks["PanelState"] = canaries.found_in(
        [repr(PanelState.of(everyone).trait_values()), repr(everyone.defaults)]
    )
    assert not {name: found for name, found in leaks.items() if found}


# --- a saved notebook, executed with forced failures ---------------------------------------
#: (faults injected just before the cell runs, the cell's source); the simulator runs in
#: this process, the kernel reaches it through the environment only, so no credential is
#: ever part of a cell's source
CELLS: list[tuple[tuple[tuple[str, str, int], ...], str]] = [
    (
        (),
        "%xmode Verbose\n"
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, force=True)\n"
        "for name in ('httpx', 'httpcore', 'aiohttp', 'nvgw_nb'):\n"
        "    logging.getLogger(name).setLevel(logging.DEBUG)",
    ),
    (
        (),
        "import nvgw_nb as nv\n"
        "session = nv.connect(retry=nv.RetryPolicy.no_wait(), breaker_cooldown_s=0,\n"
        "                     read_timeout_s=0.3)\n"
        "print(session)\n"
        "print(repr(session.settings))\n"
        "session.settings",
    ),
    (
        (("nvidia-nim", "X4", 1), ("nvidia-gateway", "G1", 1)),
        "result = session.chat('Summarise this diff', providers=list(ALL))\nresult",
    ),
    (
        (("openai", "N1", 3), ("anthropic", "B1", 2), ("google-genai", "X4", 1)),
        "for provider in ALL[2:]:\n"
        "    try:\n"
        "        session.chat('hi', providers=[provider])\n"
        "    except nv.NvgwError as err:\n"
        "        display(err)\n"
        "        print(err)\n"
        "        print(err.attempts)",
    ),
    (
        (("nvidia-nim", "S2", 1),),
        "stream = session.stream('Explain NVCF polling', providers=['nvidia-nim'])\n"
        "for chunk in stream:\n"
        "    print(chunk, end='')",
    ),
    (
        tuple((p, "N1", 3) for p in ALL_PROVIDERS),
        "session.chat('hi', providers=list(ALL))",
    ),
    (
        (),
        "playground = session.playground('Summarise this diff')\n"
        "board = session.compare_board('one\\ntwo')\n"
        "for box in board.providers.values():\n"
        "    box.value = True\n"
        "display(playground, board, nv.widgets.ProviderOrder(session),\n"
        "        nv.widgets.RolePicker(session), nv.widgets.ModelPicker(session))\n"
        "session.token_status()",
    ),
    (
        (("nvidia-nim", "X4", 1), ("nvidia-gateway", "G1", 1), *FAULT_PLAN),
        "playground.run_button.click()\nboard.run_button.click()",
    ),
    (
        (),
        "await playground.wait()\n"
        "await board.wait()\n"
        "print(playground.last_error)\n"
        "board.comparison",
    ),
    (
        FAULT_PLAN,
        "cmp = session.compare(['one', 'two'], providers=list(ALL))\n"
        "display(cmp, cmp.summary(), cmp.to_pandas())\n"
        "items = session.batch(['one', 'two'], providers=list(ALL))\n"
        "items",
    ),
    (
        # the gateway turns the cached token down, and Starfleet the client on the refresh
        (("nvidia-gateway", "G1", 1), ("starfleet", "T4", 3)),
        "nv.widgets.TokenStatus(session)\nsession.chat('hi', providers=['nvidia-gateway'])",
    ),
    ((), "session.token_status()"),
]


class Kernel:
    """This environment's ipykernel, run cell by cell; outputs and widget state collected
    from iopub the way a notebook frontend (and nbclient's `store_widget_state`) does."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        # A kernelspec of this very interpreter (like nbval's --nbval-current-env), so a
        # user-level "python3" kernelspec pointing elsewhere is never picked.
        spec = cwd / "kernels" / "this-env"
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        kernel = {"argv": argv, "display_name": "this env", "language": "python"}
        (spec / "kernel.json").write_text(json.dumps(kernel))
        specs = KernelSpecManager(kernel_dirs=[str(spec.parent)])
        self.manager = KernelManager(kernel_name="this-env", kernel_spec_manager=specs)
        self.manager.start_kernel(cwd=str(cwd), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.widgets: dict[str, dict[str, Any]] = {}

    def run(self, source: str, timeout: float = 60) -> tuple[int | None, list[Any]]:
        """Execute `source`; its execution count and nbformat outputs (errors included)."""
        import nbformat

        msg_id = self.client.execute(source, allow_stdin=False)
        outputs: list[Any] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"cell did not finish in {timeout} s:\n{source}") from None
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append(nbformat.v4.output_from_msg(msg))
            elif kind == "clear_output":
                outputs.clear()
            elif kind in ("comm_open", "comm_msg"):
                self._widget_message(content, msg.get("buffers") or [])
            elif (
                kind == "status"
                and content["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == msg_id
            ):
                break
        reply = self.client.get_shell_msg(timeout=timeout)
        return reply["content"].get("execution_count"), outputs

    def _widget_message(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        data = content.get("data", {})
        state = data.get("state")
        if not isinstance(state, dict):
            return
        model = self.widgets.setdefault(content["comm_id"], {"state": {}})
        model["state"].update(state)
        if "_model_name" in state:
            model.update(
                model_name=state["_model_name"],
                model_module=state.get("_model_module"),
                model_module_version=state.get("_model_module_version"),
            )
        if buffers:
            model["buffers"] = [
                {"encoding": "base64", "path": path, "data": base64.b64encode(buf).decode()}
                for path, buf in zip(data.get("buffer_paths", []), buffers, strict=False)
            ]

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def test_saved_notebook_holds_no_canary(canary_sim: Simulator, tmp_path: Path) -> None:
    """A notebook run with DEBUG logging, `%xmode Verbose` tracebacks (locals shown),
    uncaught errors, displayed results, errors and panels, saved with its widget state:
    the .ipynb holds no canary form."""
    import nbformat

    canaries = Canaries(canary_sim)
    # httpx's own transport, so httpcore's DEBUG records land in the notebook too; the
    # aiohttp transport's path is swept by test_secrets.py::test_no_canary_anywhere.
    env = {
        **os.environ,
        **everyone_env(canary_sim),
        "MPLBACKEND": "agg",
        "NVGW_TRANSPORT": "httpx",
    }
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    kernel = Kernel(tmp_path, env)
    try:
        for faults, source in [((), f"ALL = {ALL_PROVIDERS!r}"), *CELLS]:
            for provider, fault, times in faults:
                canary_sim.inject(provider, fault, times)
            cell = nbformat.v4.new_code_cell(source)
            cell.execution_count, cell.outputs = kernel.run(source)
            notebook.cells.append(cell)
    finally:
        kernel.close()
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "version_major": 2,
            "version_minor": 0,
            "state": kernel.widgets,
        }
    }
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)

    text = path.read_text(encoding="utf-8")
    outputs = [o for cell in notebook.cells for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert {e.ename for e in errors} >= {"AllProvidersFailed", "AuthError"}, "failures shown"
    tracebacks = _ANSI.sub("", "".join(line for e in errors for line in e.traceback))
    assert "self = <Session open" in tracebacks, "`%xmode Verbose` shows the frames' locals"
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "httpcore" in stderr, "DEBUG logs of httpx/httpcore are in the outputs"
    assert len(kernel.widgets) > 50, "widget state was saved"
    assert canaries.add_tokens() > 1, "tokens were refreshed during the run"
    assert not canaries.found_in(text)


def test_canary_search_sees_the_notebook_outputs(canary_sim: Simulator) -> None:
    """The sweep's search is not blind: a canary printed in a cell is found in the .ipynb."""
    import nbformat

    canaries = Canaries(canary_sim)
    cell = nbformat.v4.new_code_cell("print(key)")
    key = canary_sim.env()["GOOGLE_API_KEY"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"key={key}\n")]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    assert canaries.found_in(nbformat.writes(notebook)) == ["GOOGLE_API_KEY (as is)"]
