"""The response cache: hits and misses, keys, what is never stored, replay, processes, files."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import nvgw_nb as nv
from nvgw_nb.cache import CacheKey, ResponseCache
from nvgw_nb.results import ChatRequest, ChatResult, Message
from nvgw_nb.sim import Simulator
from nvgw_nb.trace import summary_line

ROOT = Path(__file__).resolve().parents[1]
NIM_MODEL = "meta/llama-4-scout-17b-16e-instruct"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "responses.sqlite"


def _upstream(sim: Simulator) -> int:
    """Every request the simulator received: chats, streams, models, tokens."""
    return sum(sum(counts.values()) for counts in sim.stats()["requests"].values())


def _request(**fields: Any) -> ChatRequest:
    fields.setdefault("messages", [Message(role="user", content="Summarise this diff")])
    return ChatRequest(**fields)


def _result(content: str = "an answer", **fields: Any) -> ChatResult:
    values: dict[str, Any] = {
        "content": content,
        "finish_reason": "stop",
        "served_by": "nvidia-nim",
        "model": NIM_MODEL,
        "latency_s": 1.5,
        "attempts": [],
    }
    return ChatResult(**{**values, **fields})


# --- hits and misses --------------------------------------------------------------------------
def test_a_repeated_chat_is_replayed_without_a_request(sim: Simulator, path: Path) -> None:
    """Miss: asked and stored. Hit: the same answer, cached, no request, cost 0, the
    original latency and attempts kept."""
    with sim.session(cache=path) as session:
        first = session.chat("Summarise this diff: fix the parser")
        again = session.chat("Summarise this diff: fix the parser")
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 1
    assert not first.cached
    assert first.original_latency_s is None
    assert again.cached
    assert again.content == first.content
    assert again.served_by == first.served_by
    assert again.usage == first.usage
    assert again.original_latency_s == first.latency_s
    assert again.cost_usd == 0.0
    assert first.cost_usd > 0
    assert again.attempts == first.attempts
    assert sum(a.cost_usd for a in again.attempts) == first.cost_usd


def test_a_different_request_is_a_miss(sim: Simulator, path: Path) -> None:
    """Another temperature, prompt or model is asked for real."""
    with sim.session(cache=path) as session:
        session.chat("hello", temperature=0.2)
        assert session.chat("hello", temperature=0.2).cached
        assert not session.chat("hello", temperature=0.3).cached
        assert not session.chat("hello there", temperature=0.2).cached
        assert not session.chat(
            "hello", temperature=0.2, models={"nvidia-nim": "meta/llama-3.3-70b-instruct"}
        ).cached
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 4


def test_a_recorded_run_replays_in_a_new_session(sim: Simulator, path: Path) -> None:
    """Record/replay: a second Session on the same file (a notebook re-run) sends nothing,
    not even a token request."""
    with sim.session(cache=path) as recording:
        recorded = recording.chat("Plan the migration", role="planner")
    sim.reset_stats()
    with sim.session(cache=path) as replaying:
        replayed = replaying.chat("Plan the migration", role="planner")
    assert replayed.cached
    assert replayed.content == recorded.content
    assert _upstream(sim) == 0


def test_fallback_answers_replay_with_zero_upstream_requests(sim: Simulator, path: Path) -> None:
    """A call that fell back to the gateway when recorded replays the gateway's answer
    without asking NIM again."""
    with sim.session(cache=path, retry=nv.RetryPolicy.no_wait()) as recording:
        sim.inject("nvidia-nim", "N1", times=3)
        recorded = recording.chat("hello")
    assert recorded.served_by == "nvidia-gateway"
    sim.reset_stats()
    with sim.session(cache=path) as replaying:
        replayed = replaying.chat("hello")
    assert _upstream(sim) == 0
    assert replayed.cached
    assert replayed.served_by == "nvidia-gateway"
    assert replayed.fell_back  # the recorded attempts say why
    assert replayed.content == recorded.content


def test_a_stream_hit_is_one_chunk_then_the_result(sim: Simulator, path: Path) -> None:
    """A streamed answer replays as one chunk with the whole text; chat and stream share
    entries (the stream flag is not part of the key)."""
    with sim.session(cache=path) as session:
        live = session.stream("Explain NVCF polling")
        live_chunks = list(live)
        assert len(live_chunks) > 1
        replay = session.stream("Explain NVCF polling")
        chunks = list(replay)
        assert [c.text for c in chunks] == [live.result.content]
        assert chunks[0].provider == "nvidia-nim"
        assert replay.result.cached
        assert session.chat("Explain NVCF polling").cached
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 1


async def test_async_calls_use_the_cache(sim: Simulator, path: Path) -> None:
    """achat and astream replay too."""
    with sim.session(cache=path) as session:
        await session.achat("hello")
        assert (await session.achat("hello")).cached
        stream = session.astream("hello")
        assert [c.text async for c in stream] == [stream.result.content]
        assert stream.result.cached


def test_a_batch_of_200_reruns_with_zero_upstream_requests(sim: Simulator, path: Path) -> None:
    """The benchmark's claim as a test: a cached re-run of 200 prompts sends nothing."""
    prompts = [f"Summarise change #{i} in one line" for i in range(200)]
    with sim.session(cache=path) as recording:
        first = recording.batch(prompts, concurrency=16, progress=False)
        assert len(recording.cache or ()) == 200
    assert all(item.ok for item in first)
    sim.reset_stats()
    with sim.session(cache=path) as replaying:
        again = replaying.batch(prompts, concurrency=16, progress=False)
        stats = replaying.cache.stats() if replaying.cache else None
    assert _upstream(sim) == 0
    assert all(item.result is not None and item.result.cached for item in again)
    assert [i.result.content for i in again if i.result] == [
        i.result.content for i in first if i.result
    ]
    assert stats is not None
    assert stats.hits == 200


# --- keys -------------------------------------------------------------------------------------
_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
_SAME_TOOL_OTHER_ORDER: dict[str, Any] = {
    "function": {
        "parameters": {"properties": {"city": {"type": "string"}}, "type": "object"},
        "name": "get_weather",
    },
    "type": "function",
}


@pytest.mark.parametrize(
    ("changed", "same"),
    [
        ({"stream": True}, True),
        ({"tools": [_SAME_TOOL_OTHER_ORDER]}, True),
        ({"temperature": 0.7}, False),
        ({"top_p": 0.5}, False),
        ({"max_tokens": 10}, False),
        ({"stop": ["END"]}, False),
        ({"seed": 7}, False),
        ({"tools": [_TOOL, {**_TOOL, "function": {**_TOOL["function"], "name": "other"}}]}, False),
        ({"tool_choice": "required"}, False),
        ({"response_format": {"type": "json_object"}}, False),
        ({"messages": [Message(role="user", content="Summarise this diff!")]}, False),
        (
            {
                "messages": [
                    Message(role="system", content="Be brief."),
                    Message(role="user", content="Summarise this diff"),
                ]
            },
            False,
        ),
    ],
)
def test_key_normalisation(changed: dict[str, Any], same: bool) -> None:
    """Same request → same key (dict order and the stream flag do not matter); any wire
    field that differs → another key."""
    base = CacheKey.of(_request(tools=[_TOOL]), "nvidia-nim", NIM_MODEL)
    other = CacheKey.of(_request(**{"tools": [_TOOL], **changed}), "nvidia-nim", NIM_MODEL)
    assert (other.digest == base.digest) is same
    assert len(base.digest) == 64


def test_provider_and_model_are_part_of_the_key() -> None:
    request = _request()
    keys = {
        CacheKey.of(request, "nvidia-nim", NIM_MODEL).digest,
        CacheKey.of(request, "nvidia-gateway", NIM_MODEL).digest,
        CacheKey.of(request, "nvidia-nim", "meta/llama-3.3-70b-instruct").digest,
    }
    assert len(keys) == 3


def test_the_key_is_canonical_json_of_the_request() -> None:
    """Sorted keys, no whitespace, provider and model, no stream flag."""
    key = CacheKey.of(_request(temperature=1, stream=True), "nvidia-nim", "m")
    assert key.material == (
        '{"model":"m","provider":"nvidia-nim","request":{"messages":[{"content":'
        '"Summarise this diff","role":"user"}],"temperature":1.0},"v":1}'
    )


# --- what is never stored ---------------------------------------------------------------------
class _Verdict(BaseModel):
    summary: str
    risky: bool
    score: int


def _bad_request(sim: Simulator, session: nv.Session) -> None:
    sim.inject("nvidia-nim", "X1")
    session.chat("hello")


def _all_fail(sim: Simulator, session: nv.Session) -> None:
    sim.inject("nvidia-nim", "N1", times=3)
    session.chat("hello", fallbacks=False)


def _rejected(sim: Simulator, session: nv.Session) -> None:
    session.chat("hello", validator=lambda r: False)


def _partial_stream(sim: Simulator, session: nv.Session) -> None:
    sim.inject("nvidia-nim", "S2")
    for _ in session.stream("hello"):
        pass


class _ReaderStopped(Exception):
    """The reader of a stream stopped after the first chunk."""


def _stopped_stream(sim: Simulator, session: nv.Session) -> None:
    with session.stream("hello") as stream:
        next(iter(stream))
    raise _ReaderStopped


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (_bad_request, nv.BadRequest),
        (_all_fail, nv.ServerError),
        (_rejected, nv.AllProvidersFailed),
        (_partial_stream, nv.StreamInterrupted),
        (_stopped_stream, _ReaderStopped),
    ],
    ids=["bad-request", "all-failed", "validator-rejected", "partial-stream", "stopped-stream"],
)
def test_failures_are_never_cached(
    sim: Simulator,
    path: Path,
    call: Callable[[Simulator, nv.Session], None],
    error: type[Exception],
) -> None:
    """Errors, rejected answers and streams that did not end are not stored: the next
    call asks again."""
    with sim.session(cache=path, retry=nv.RetryPolicy.no_wait()) as session:
        with pytest.raises(error):
            call(sim, session)
        assert session.cache is not None
        assert len(session.cache) == 0
        before = _upstream(sim)
        assert not session.chat("hello").cached
        assert _upstream(sim) > before


def test_a_validator_that_rejects_a_replay_sends_the_call(sim: Simulator, path: Path) -> None:
    """Hits are checked like live answers: a validator that rejects the stored answer
    sends the call to the providers (and the new answer replaces the entry)."""
    with sim.session(cache=path) as session:
        session.chat("hello")
        fresh = session.chat("hello", validator=lambda r: not r.cached)
        assert not fresh.cached
        assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 2
        assert session.chat("hello").content == fresh.content


def test_structured_output_replays_as_the_model(sim: Simulator, path: Path) -> None:
    """With response_format=Model, a replay's .parsed is a Model instance again."""
    with sim.session(cache=path) as session:
        live = session.chat("Review this diff", response_format=_Verdict, role="reviewer")
        replay = session.chat("Review this diff", response_format=_Verdict, role="reviewer")
    assert replay.cached
    assert isinstance(replay.parsed, _Verdict)
    assert replay.parsed == live.parsed


# --- when the cache is bypassed ---------------------------------------------------------------
def test_cache_false_on_a_call_neither_reads_nor_writes(sim: Simulator, path: Path) -> None:
    with sim.session(cache=path) as session:
        session.chat("hello")
        assert not session.chat("hello", cache=False).cached
        session.chat("something new", cache=False)
        assert session.cache is not None
        assert len(session.cache) == 1
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 3


def test_comparisons_always_ask_the_providers(sim: Simulator, path: Path) -> None:
    """compare() measures providers: a stored answer is not replayed, nor is one stored."""
    with sim.session(cache=path) as session:
        session.chat("hello")
        cmp = session.compare(["hello"], providers=["nvidia-nim"], repeats=2, progress=False)
        assert session.cache is not None
        assert len(session.cache) == 1
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 3
    assert all(row.ok for row in cmp.rows)


def test_cache_option_needs_a_cache(session: nv.Session) -> None:
    """cache=True on a Session without one, or a non-bool, is a ConfigError."""
    with pytest.raises(nv.ConfigError, match="no response cache"):
        session.chat("hello", cache=True)
    with pytest.raises(nv.ConfigError, match="cache must be"):
        session.chat("hello", cache="yes")  # type: ignore[arg-type]
    assert session.cache is None


def test_a_real_session_never_replays_a_simulated_answer(sim: Simulator, path: Path) -> None:
    """A cache filled on the simulator does not pass simulated answers off as real ones:
    a Session on (what it takes for) real endpoints asks again and replaces the entry."""
    with sim.session(cache=path) as simulated:
        simulated.chat("hello")
    with nv.Session.from_env(env=sim.env(), env_file=None, cache=path) as real:
        assert not real.simulated
        assert not real.chat("hello").cached
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 2


def test_a_broken_cache_at_run_time_does_not_fail_the_call(
    sim: Simulator, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache that stops working (here: closed under the Session) is logged and skipped."""
    cache = ResponseCache(path)
    with sim.session(cache=cache) as session:
        cache.close()
        with caplog.at_level(logging.WARNING, logger="nvgw_nb"):
            result = session.chat("hello")
    assert result.content
    assert not result.cached
    assert "response cache unusable" in caplog.text


# --- configuration and lifetime ---------------------------------------------------------------
def test_closing_the_session_closes_the_cache_it_opened(sim: Simulator, path: Path) -> None:
    """A cache opened from a path closes with the Session; one passed in stays open."""
    session = sim.session(cache=path)
    assert session.cache is not None
    assert not session.cache.closed
    session.close()
    assert session.cache.closed
    with ResponseCache(path) as mine:
        with sim.session(cache=mine) as borrowing:
            assert borrowing.cache is mine
        assert not mine.closed


async def test_aclose_closes_the_cache(sim: Simulator, path: Path) -> None:
    session = sim.session(cache=path)
    await session.aclose()
    assert session.cache is not None
    assert session.cache.closed


def test_nvgw_cache_names_the_file(
    sim: Simulator, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NVGW_CACHE sets the default; cache=False turns it off for one Session; cache=True
    is NVGW_CACHE, else ./responses.sqlite."""
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NVGW_CACHE", str(path))
    with nv.Session.from_env(env_file=None, simulator=sim) as session:
        assert session.cache is not None
        assert session.cache.path == path
    with nv.Session.from_env(env_file=None, simulator=sim, cache=False) as session:
        assert session.cache is None
    with nv.Session.from_env(env_file=None, simulator=sim, cache=True) as session:
        assert session.cache is not None
        assert session.cache.path == path
    with sim.session(cache=True) as session:  # the simulator's settings: no NVGW_CACHE
        assert session.cache is not None
        assert session.cache.path == Path("responses.sqlite")


def test_connect_on_the_simulator_replays_what_nvgw_cache_recorded(
    sim: Simulator, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No credentials: nv.connect() starts the simulator, and NVGW_CACHE still applies, so a
    recorded run replays there."""
    with sim.session(cache=path) as recording:
        recorded = recording.chat("hello")
    monkeypatch.setenv("NVGW_CACHE", str(path))
    with nv.connect(env_file=None, time_scale=0, quiet=True) as session:
        assert session.simulated
        replayed = session.chat("hello")
    assert replayed.cached
    assert replayed.content == recorded.content


def test_no_credential_lands_in_the_file(sim: Simulator, path: Path) -> None:
    """Keys, client id and secret, and the Starfleet token never reach the file; the
    prompts and answers do (so the search below is real)."""
    with sim.session(cache=path, retry=nv.RetryPolicy.no_wait()) as session:
        answer = session.chat("Which canary is the prompt?").content
        sim.inject("nvidia-nim", "N1", times=3)
        session.chat("And which one goes to the gateway?")  # a Starfleet token is used
        for _ in session.stream("A streamed one"):
            pass
        auth: Any = session._auths["nvidia-gateway"]
        token = auth.cache.usable()
        assert token is not None
        secrets = [token.get_secret_value()]
        data = b"".join(
            p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)
        )
    env = sim.env()
    secrets += [
        env[name]
        for name in (
            "NVIDIA_NIM_API_KEY",
            "STARFLEET_ID",
            "STARFLEET_SECRET",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GOOGLE_API_KEY",
        )
    ]
    assert b"Which canary is the prompt?" in data
    assert answer.encode()[:40] in data
    for secret in secrets:
        assert len(secret) >= 8
        assert secret.encode() not in data, "a credential was written to the cache file"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.write_text("name,answer\nnot,a database\n" * 50), "not an SQLite database"),
        (lambda p: _foreign_database(p), "not an nvgw_nb response cache"),
        (lambda p: _newer_cache(p), "newer nvgw_nb"),
    ],
    ids=["text-file", "foreign-sqlite", "newer-schema"],
)
def test_a_file_that_is_not_our_cache_is_a_clear_error(
    sim: Simulator, path: Path, make: Callable[[Path], object], says: str
) -> None:
    """A corrupt, foreign or newer file: ConfigError naming it; the file is left as it was
    and the failed Session leaves no thread behind."""
    make(path)
    before = path.read_bytes()
    threads = threading.active_count()
    with pytest.raises(nv.ConfigError, match=says) as caught:
        sim.session(cache=path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before
    assert threading.active_count() == threads


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(nv.ConfigError, match="does not exist"):
        ResponseCache(tmp_path / "nowhere" / "responses.sqlite")


def _foreign_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.commit()
    finally:
        conn.close()


def _newer_cache(path: Path) -> None:
    ResponseCache(path).close()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA user_version = 99")
    finally:
        conn.close()


# --- the ResponseCache itself -----------------------------------------------------------------
def test_put_get_stats_clear(path: Path) -> None:
    """Entries, hits, per provider/model counts, oldest/newest; clear empties the file."""
    with ResponseCache(path) as cache:
        nim = CacheKey.of(_request(), "nvidia-nim", NIM_MODEL)
        gateway = CacheKey.of(_request(), "nvidia-gateway", "gpt-4o-mini")
        assert cache.get(nim) is None
        cache.put(nim, _result("from nim"))
        cache.put(gateway, _result("from the gateway", served_by="nvidia-gateway"))
        stored = cache.get(nim)
        assert stored is not None
        assert stored.content == "from nim"
        assert not stored.cached
        assert cache.get(nim.digest) is not None
        stats = cache.stats()
        assert (stats.entries, stats.hits) == (2, 2)
        assert stats.size_bytes > 0
        assert stats.oldest is not None
        assert stats.newest is not None
        assert stats.oldest <= stats.newest
        assert [(m.provider, m.model, m.entries, m.hits) for m in stats.by_model] == [
            ("nvidia-gateway", "gpt-4o-mini", 1, 0),
            ("nvidia-nim", NIM_MODEL, 1, 2),
        ]
        assert "2 entries, 2 hits" in str(stats)
        assert stats.to_dict()["by_model"][1]["hits"] == 2
        assert cache.clear() == 2
        assert len(cache) == 0
        assert cache.get(nim) is None
        assert cache.stats().oldest is None


def test_a_replay_is_not_stored_again(path: Path) -> None:
    with ResponseCache(path) as cache, pytest.raises(ValueError, match="not stored again"):
        cache.put(CacheKey.of(_request(), "nvidia-nim", "m"), _result(cached=True))


def test_a_closed_cache_says_so(path: Path) -> None:
    cache = ResponseCache(path)
    cache.close()
    cache.close()  # idempotent
    assert cache.closed
    with pytest.raises(ValueError, match="closed"):
        cache.get("0" * 64)


def test_the_file_is_in_wal_mode_and_versioned(path: Path) -> None:
    ResponseCache(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA application_id").fetchone()[0] != 0
    finally:
        conn.close()


_WRITER = """
import sys
from nvgw_nb.cache import CacheKey, ResponseCache
from nvgw_nb.results import ChatRequest, ChatResult, Message

worker, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print("ready", flush=True)
sys.stdin.readline()  # the barrier: every process opens and writes at once
with ResponseCache(path) as cache:
    for i in range(count):
        for name in (f"w{worker}-{i}", f"shared-{i}"):
            request = ChatRequest(messages=[Message(role="user", content=name)])
            key = CacheKey.of(request, "nvidia-nim", "m")
            result = ChatResult(
                content=f"{name} by {worker}", finish_reason="stop", served_by="nvidia-nim",
                model="m", latency_s=0.1, attempts=[],
            )
            cache.put(key, result)
            assert cache.get(key) is not None
print("done", flush=True)
"""


def test_several_processes_share_one_file(path: Path) -> None:
    """Four processes create the same new file and write to it at once (their own entries
    and the same shared ones): no error, nothing lost."""
    workers, count = 4, 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(n), str(count), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for n in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = [proc.communicate(timeout=90) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "done", err
    with ResponseCache(path) as cache:
        assert len(cache) == workers * count + count
        for i in range(count):
            request = ChatRequest(messages=[Message(role="user", content=f"shared-{i}")])
            shared = cache.get(CacheKey.of(request, "nvidia-nim", "m"))
            assert shared is not None
            assert shared.content.startswith(f"shared-{i} by ")


# --- how a replay shows -----------------------------------------------------------------------
def test_trace_html_and_cli_summary_say_cached(sim: Simulator, path: Path) -> None:
    """The text trace, the HTML view (a "cached" badge by the served-by one) and the CLI
    summary mark a replay; a live answer has no such mark."""
    with sim.session(cache=path) as session:
        live = session.chat("hello")
        replay = session.chat("hello")
    assert "CACHED" in replay.trace().splitlines()[0]
    assert "CACHED" not in live.trace()
    assert "nvgw-cached" in replay._repr_html_()
    assert "nvgw-cached" not in live._repr_html_()
    assert "CACHED" in summary_line(replay)
    assert "CACHED" not in summary_line(live)
    from nvgw_nb.widgets._html import result_status_html

    assert "nvgw-cached" in result_status_html(replay)
    assert "nvgw-cached" not in result_status_html(live)


def test_a_replay_round_trips_as_json(sim: Simulator, path: Path) -> None:
    with sim.session(cache=path) as session:
        session.chat("hello")
        replay = session.chat("hello")
    back = nv.ChatResult.from_json(replay.to_json())
    assert back.cached
    assert back.original_latency_s == replay.original_latency_s


# --- a replay never waits for another process's write (issue 14, item 14) --------------------
_LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE responses SET hits = hits")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def _hold_write_lock(path: Path) -> subprocess.Popen[str]:
    """Another process holding a write transaction on `path` until told to let go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    if holder.poll() is None:
        holder.communicate("go\n", timeout=10)


def test_a_replay_does_not_wait_for_another_processs_write(sim: Simulator, path: Path) -> None:
    """With another process inside a write transaction, a Session's replay returns at once
    (the hit is counted in memory), and the hit is written once the lock is gone."""
    with sim.session(cache=path) as session:
        session.chat("Summarise this diff")
        holder = _hold_write_lock(path)
        try:
            started = time.monotonic()
            replay = session.chat("Summarise this diff")
            elapsed = time.monotonic() - started
        finally:
            _release(holder)
    assert replay.cached
    assert elapsed < 1.0  # the busy timeout is 10 s
    with ResponseCache(path) as cache:
        assert cache.stats().hits == 1


def test_hits_counted_under_a_lock_are_written_by_the_next_put(path: Path) -> None:
    """Hits counted while another process held the write lock reach the file with the
    next put()."""
    key = CacheKey.of(_request(), "nvidia-nim", NIM_MODEL)
    with ResponseCache(path) as cache:
        cache.put(key, _result())
        holder = _hold_write_lock(path)
        try:
            assert cache.get(key) is not None
            assert cache.get(key) is not None
        finally:
            _release(holder)
        cache.put(CacheKey.of(_request(seed=1), "nvidia-nim", NIM_MODEL), _result())
        reader = sqlite3.connect(path)
        try:
            (hits,) = reader.execute("SELECT hits FROM responses WHERE key = ?", (key.digest,))
        finally:
            reader.close()
        assert hits == (2,)
