"""The Session: sync inside a running loop, async from any loop, lifetime, cancellation."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator


def test_chat_answers_with_a_full_record(session: nv.Session) -> None:
    """A plain chat is served by NIM with one attempt, usage, cost and the simulated mark."""
    result = session.chat("Summarise this diff: rename the parser", role="planner")
    assert result.served_by == "nvidia-nim"
    assert result.model == "meta/llama-4-maverick-17b-128e-instruct"
    assert result.content
    assert not result.fell_back
    assert len(result.attempts) == 1
    assert result.usage.total_tokens > 0
    assert result.cost_usd > 0
    assert result.simulated
    assert result.request_id


@pytest.mark.parametrize(
    ("role", "nim_model", "gateway_model"),
    [
        ("router", "meta/llama-4-scout-17b-16e-instruct", "gpt-4o-mini"),
        ("planner", "meta/llama-4-maverick-17b-128e-instruct", "gpt-4o"),
        ("programmer", "meta/llama-4-maverick-17b-128e-instruct", "gpt-4o"),
        ("reviewer", "meta/llama-4-scout-17b-16e-instruct", "gpt-4o-mini"),
    ],
)
def test_roles_pick_the_seed_models(
    session: nv.Session, role: str, nim_model: str, gateway_model: str
) -> None:
    """Each role's plan follows the seed's strategy table."""
    assert [(s.provider, s.model) for s in session.plan(role=role)] == [
        ("nvidia-nim", nim_model),
        ("nvidia-gateway", gateway_model),
    ]


def test_roles_overridable_per_session_and_call(sim: Simulator) -> None:
    """roles= on the Session and models= / role=Role(...) on a call override the table."""
    custom = nv.Role(name="planner", models={"nvidia-nim": "meta/llama-3.3-70b-instruct"})
    with sim.session(roles={"planner": custom}) as s:
        assert s.plan(role="planner")[0].model == "meta/llama-3.3-70b-instruct"
        assert s.plan(role="planner", models={"nvidia-gateway": "gpt-4o"})[1].model == "gpt-4o"
        result = s.chat("hi", role=custom, providers=["nvidia-nim"])
    assert result.model == "meta/llama-3.3-70b-instruct"


def test_provider_order_override(sim: Simulator) -> None:
    """provider_order= puts the gateway first."""
    with sim.session(provider_order=["nvidia-gateway", "nvidia-nim"]) as s:
        result = s.chat("hi")
        assert s.provider_order == ("nvidia-gateway", "nvidia-nim")
    assert result.served_by == "nvidia-gateway"


def test_nim_only_calls_fetch_no_token(sim: Simulator, session: nv.Session) -> None:
    """The Starfleet token is fetched only when a gateway request needs it."""
    for _ in range(3):
        session.chat("hi", providers=["nvidia-nim"])
    assert sim.stats()["token_grants"] == 0
    session.chat("hi", providers=["nvidia-gateway"])
    assert sim.stats()["token_grants"] == 1


def test_result_round_trips_through_json(session: nv.Session) -> None:
    """ChatResult.to_json / from_json give back an equal result."""
    result = session.chat("hi")
    again = nv.ChatResult.from_json(result.to_json())
    assert again == result
    assert again.fell_back == result.fell_back


async def test_sync_chat_works_inside_a_running_loop(session: nv.Session) -> None:
    """A sync call from a coroutine (as in a Jupyter cell) does not need the caller's loop."""
    asyncio.get_running_loop()
    result = session.chat("hi")
    assert result.served_by == "nvidia-nim"


async def test_achat_bridges_from_another_loop(session: nv.Session) -> None:
    """achat awaited on the test's loop runs on the Session's private loop."""
    results = await asyncio.gather(*(session.achat(f"question {i}") for i in range(5)))
    assert all(r.served_by == "nvidia-nim" for r in results)


def test_sync_call_from_the_sessions_own_loop_is_refused(session: nv.Session) -> None:
    """Calling a sync method on the Session's own loop raises instead of deadlocking."""

    async def inside() -> None:
        session.chat("hi")

    with pytest.raises(nv.ConfigError, match="own event loop"):
        session._portal.run(inside())


def test_closed_session_refuses_calls(sim: Simulator) -> None:
    """A closed Session raises SessionClosed; close() is idempotent."""
    s = sim.session()
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(nv.SessionClosed):
        s.chat("hi")


async def test_async_context_manager(sim: Simulator) -> None:
    """`async with` closes the Session."""
    async with sim.session() as s:
        assert (await s.achat("hi")).content
    assert s.closed


def test_200_concurrent_calls_make_one_token_request(sim: Simulator) -> None:
    """A cold Session under 200 concurrent gateway calls asks Starfleet for one token."""

    async def burst(s: nv.Session) -> list[nv.ChatResult]:
        return await asyncio.gather(
            *(s.achat(f"q{i}", providers=["nvidia-gateway"]) for i in range(200))
        )

    with sim.session() as s:
        results = asyncio.run(burst(s))
    assert len(results) == 200
    assert all(r.served_by == "nvidia-gateway" for r in results)
    assert sim.stats()["token_grants"] == 1


def test_token_is_refreshed_before_it_expires() -> None:
    """With a 1 s token, a 2 s run refreshes early and never sees a 401."""
    with Simulator(time_scale=0, token_lifetime=1.0) as sim, sim.session() as s:
        deadline = time.monotonic() + 2.0
        calls = 0
        while time.monotonic() < deadline:
            result = s.chat("keep going", providers=["nvidia-gateway"])
            assert result.attempts[-1].status_code == 200
            calls += 1
        stats = sim.stats()
    assert stats["token_grants"] >= 3
    assert stats["tokens_rejected"] == 0
    assert stats["responses"]["nvidia-gateway"].get("401", 0) == 0
    assert calls > stats["token_grants"]


def test_ctrl_c_cancels_a_sync_call(sim: Simulator, sigint_raises: None) -> None:
    """Ctrl-C during a sync chat cancels the request and leaves the Session usable."""
    with sim.session(read_timeout_s=30) as s:
        sim.inject("nvidia-nim", "C2")
        started = threading.Event()

        def interrupt() -> None:
            # Wait until the request is really in flight on the simulator.
            for _ in range(500):
                if sim.stats()["requests"]["nvidia-nim"]["chat"] >= 1:
                    break
                time.sleep(0.01)
            started.set()
            _thread.interrupt_main()

        threading.Thread(target=interrupt, daemon=True).start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            s.chat("stall please", providers=["nvidia-nim"])
        assert started.is_set()
        assert time.monotonic() - t0 < 10
        assert not [t for t in asyncio.all_tasks(s._portal.loop) if not t.done()]
        assert s.chat("and now?").content


def test_unknown_override_is_rejected(sim: Simulator) -> None:
    """A misspelt setting name is an error, not silently ignored."""
    with pytest.raises(nv.ConfigError, match="provider_ordr"):
        sim.session(provider_ordr=["nvidia-nim"])


def test_models_lists_nim_models(session: nv.Session) -> None:
    """models() reads NIM's /v1/models; the gateway's list comes from configuration."""
    assert "meta/llama-4-scout-17b-16e-instruct" in session.models("nvidia-nim")
    assert session.models("nvidia-gateway") == ["gpt-4o", "gpt-4o-mini"]
    assert session.models("anthropic") == ["claude-haiku-4-5", "claude-sonnet-4-5"]
    with pytest.raises(nv.ConfigError, match="unknown provider"):
        session.models("nim")


def test_repr_says_where_it_talks(session: nv.Session) -> None:
    """repr names the state, the target and the order — and nothing secret."""
    text = repr(session)
    assert "open" in text
    assert "simulator" in text
    assert "nvidia-nim → nvidia-gateway" in text


async def test_cancelling_achat_cancels_the_request(sim: Simulator, session: nv.Session) -> None:
    """task.cancel() on an awaiting achat cancels the work on the Session's loop."""
    sim.inject("nvidia-nim", "C2")
    task = asyncio.create_task(session.achat("stall", providers=["nvidia-nim"]))
    for _ in range(500):  # until the request is in flight on the simulator
        if sim.stats()["requests"]["nvidia-nim"]["chat"]:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pending = session._portal.run(_other_tasks())
    assert pending == 0
    assert (await session.achat("and now?")).content


async def _other_tasks() -> int:
    """Tasks still running on the current loop besides this one."""
    await asyncio.sleep(0)
    current = asyncio.current_task()
    return sum(1 for t in asyncio.all_tasks() if t is not current and not t.done())


def test_defaults_apply_to_every_call_unless_overridden(session: nv.Session) -> None:
    """session.defaults (what the widgets write) fill in keywords a call does not pass."""
    session.defaults.update(role="planner", providers=["nvidia-gateway"])
    planned = session.chat("hi")
    assert planned.served_by == "nvidia-gateway"
    assert planned.model.startswith("gpt-4o-2024")
    assert session.chat("hi", providers=["nvidia-nim"]).served_by == "nvidia-nim"
    (item,) = session.batch(["in a batch"], progress=False)
    assert item.result is not None
    assert item.result.served_by == "nvidia-gateway"
    session.defaults["colour"] = "green"
    with pytest.raises(TypeError, match="colour"):
        session.chat("hi")


def test_token_status_never_holds_the_token(sim: Simulator, session: nv.Session) -> None:
    """token_status reports the token's life, and the last refresh error, not the token."""
    assert session.token_status()["held"] is False
    session.chat("hi", providers=["nvidia-gateway"])
    status = session.token_status()
    assert status["held"] is True
    assert status["fetched"] == 1
    assert 0 < status["refresh_in_s"] < status["expires_in_s"] <= 900
    assert status["last_error"] is None
    token = session._auths["nvidia-gateway"].cache.usable()  # type: ignore[attr-defined]
    assert token.get_secret_value() not in repr(status)
