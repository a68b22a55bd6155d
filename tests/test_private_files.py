"""Private by default (issue 14, item 15): what nvgw_nb writes that holds prompts or
answers is created 0600 (directories 0700) whatever the umask; existing files keep their
mode; NVGW_SHARE_FILES=true lets new files follow the umask."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb import cli
from nvgw_nb.batch import BatchItem, append_jsonl
from nvgw_nb.cache import CacheKey, ResponseCache
from nvgw_nb.compare import Comparison
from nvgw_nb.private_files import make_private_dir, open_private
from nvgw_nb.report import write_report
from nvgw_nb.results import ChatRequest, ChatResult, Message

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes(paths: list[Path]) -> dict[str, str]:
    return {str(p): oct(_mode(p)) for p in paths}


@pytest.fixture(
    params=[0o022, 0o000, 0o077, 0o277],
    ids=["umask 022", "umask 000", "umask 077", "umask 277"],
)
def umask(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[int]:
    """Run with a given umask (277 takes bits off the owner's too), restored afterwards;
    tmp_path is made first, under the usual one."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def comparison() -> Iterator[Comparison]:
    """A one-prompt comparison on the simulator."""
    with nv.Simulator(seed=0, time_scale=0) as sim, sim.session() as session:
        yield session.compare(["Summarise this diff"], progress=False)


def _result() -> ChatResult:
    return ChatResult(
        content="an answer",
        finish_reason="stop",
        served_by="nvidia-nim",
        model="m",
        latency_s=0.1,
        attempts=[],
    )


def _cache(target: Path, _: Comparison) -> dict[str, str]:
    with ResponseCache(target) as cache:
        request = ChatRequest(messages=[Message(role="user", content="secret plans")])
        cache.put(CacheKey.of(request, "nvidia-nim", "m"), _result())
        # while open: SQLite removes its -wal and -shm files on close
        sidecars = [target.with_name(target.name + s) for s in ("-wal", "-shm")]
        assert all(p.exists() for p in sidecars)
        return _modes([target, *sidecars])


def _save_to(target: Path, _: Comparison) -> dict[str, str]:
    append_jsonl(target, BatchItem(index=0, prompt="secret plans", result=_result()))
    return _modes([target])


def _to_csv(target: Path, cmp: Comparison) -> dict[str, str]:
    return _modes([cmp.to_csv(target)])


def _to_jsonl(target: Path, cmp: Comparison) -> dict[str, str]:
    return _modes([cmp.to_jsonl(target)])


def _report(target: Path, cmp: Comparison) -> dict[str, str]:
    return _modes(write_report(cmp, target / "deep" / "report").paths)


WRITERS: dict[str, Callable[[Path, Comparison], dict[str, str]]] = {
    "response cache": _cache,
    "batch save_to": _save_to,
    "Comparison.to_csv": _to_csv,
    "Comparison.to_jsonl": _to_jsonl,
    "write_report": _report,
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_new_files_are_owner_only(
    writer: str, umask: int, tmp_path: Path, comparison: Comparison
) -> None:
    """Every file a writer creates is 0600, whatever the umask."""
    written = WRITERS[writer](tmp_path / "out", comparison)
    assert written
    assert written == dict.fromkeys(written, "0o600")


def test_report_directories_it_creates_are_owner_only(
    umask: int, tmp_path: Path, comparison: Comparison
) -> None:
    """write_report's out_dir and the parents it makes are 0700; tmp_path is untouched."""
    before = _mode(tmp_path)
    write_report(comparison, tmp_path / "deep" / "report")
    assert oct(_mode(tmp_path / "deep")) == oct(_mode(tmp_path / "deep" / "report")) == "0o700"
    assert _mode(tmp_path) == before


@pytest.mark.parametrize("writer", ["batch save_to", "Comparison.to_csv", "Comparison.to_jsonl"])
def test_an_existing_file_keeps_its_mode(
    writer: str, tmp_path: Path, comparison: Comparison
) -> None:
    """A file the user made (here 0644) is written to, never chmodded."""
    target = tmp_path / "out"
    target.touch()
    target.chmod(0o644)
    WRITERS[writer](target, comparison)
    assert oct(_mode(target)) == "0o644"
    assert target.stat().st_size > 0


def test_an_existing_cache_file_keeps_its_mode(tmp_path: Path) -> None:
    """A cache file made beforehand with a group-readable mode stays so (a shared cache)."""
    target = tmp_path / "shared.sqlite"
    target.touch()
    target.chmod(0o640)
    _cache(target, None)  # type: ignore[arg-type]
    assert oct(_mode(target)) == "0o640"


def test_share_files_follows_the_umask(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, comparison: Comparison
) -> None:
    """NVGW_SHARE_FILES=true: new files are made like any program's (0644 under umask 022)."""
    monkeypatch.setenv("NVGW_SHARE_FILES", "true")
    old = os.umask(0o022)
    try:
        written = _to_csv(tmp_path / "shared.csv", comparison)
        directory = make_private_dir(tmp_path / "shared-dir")
    finally:
        os.umask(old)
    assert list(written.values()) == ["0o644"]
    assert oct(_mode(directory)) == "0o755"


def test_the_cli_compare_output_directory_is_owner_only(tmp_path: Path) -> None:
    """`nvgw-nb compare --out DIR`: the directory and what it holds are owner-only."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Summarise this diff\n", encoding="utf-8")
    out = tmp_path / "cmp"
    sim = ["--simulator", "--time-scale", "0", "--no-progress"]
    assert cli.main(["compare", str(prompts), "--out", str(out), *sim]) == 0
    assert oct(_mode(out)) == "0o700"
    assert {oct(_mode(p)) for p in out.iterdir()} == {"0o600"}


def test_open_private_appends_and_truncates_like_open(tmp_path: Path) -> None:
    """ "a" appends, "w" truncates, "wb" writes bytes."""
    target = tmp_path / "f"
    with open_private(target, "a") as handle:
        handle.write("one\n")
    with open_private(target, "a") as handle:
        handle.write("two\n")
    assert target.read_text() == "one\ntwo\n"
    with open_private(target, "w") as handle:
        handle.write("three\n")
    assert target.read_text() == "three\n"
    with open_private(target, "wb") as handle:
        handle.write(b"\x00")
    assert target.read_bytes() == b"\x00"


def test_make_private_dir_refuses_a_file(tmp_path: Path) -> None:
    """A path that is a file is an error, not silently used."""
    (tmp_path / "f").touch()
    with pytest.raises(NotADirectoryError):
        make_private_dir(tmp_path / "f")
