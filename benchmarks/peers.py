"""One client's measurements against `upstream.py`, in its own process; prints one JSON line.

    python benchmarks/peers.py CLIENT PORT [--seq N] [--conc N] [--concurrency C] ...

CLIENT is one of: httpx (the floor), aiohttp, nvgw_nb, nvgw_nb_sync, openai, litellm,
litellm_router. Each does the same work: a chat completion POST with a bearer key and a JSON
body, the JSON parsed and the answer text taken out. `overhead.py` runs them all.

The fallback path is the seed's: NIM answers 500, is tried 3 times (FAULTS.md N1: retry ×2,
no backoff sleep here), then the gateway answers with a bearer token fetched once. Clients
without fallback get it hand-written the obvious way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

MODEL = "meta/llama-4-scout-17b-16e-instruct"
MESSAGES = [{"role": "user", "content": "What is the answer?"}]
KEY = "bench-key"  # the upstream accepts any key
TRIES = 3  # NIM attempts before falling back (FAULTS.md N1)

Call = Callable[[], Awaitable[str]]


def _urls(port: int) -> dict[str, str]:
    root = f"http://127.0.0.1:{port}"
    return {
        "nim": f"{root}/v1",
        "nim_fail": f"{root}/fail/v1",
        "gateway": f"{root}/llm/v1/azure",
        "token": f"{root}/token",
    }


# --------------------------------------------------------------------------- clients


async def _httpx(port: int) -> tuple[Call, Call, Call, Callable[[], Awaitable[None]]]:
    import httpx

    urls = _urls(port)
    client = httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
    )
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"model": MODEL, "messages": MESSAGES}
    token_response = await client.post(urls["token"], data={"grant_type": "client_credentials"})
    bearer = {"Authorization": f"Bearer {token_response.json()['access_token']}"}

    async def chat() -> str:
        r = await client.post(f"{urls['nim']}/chat/completions", json=body, headers=headers)
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"])

    async def fallback() -> str:
        for _ in range(TRIES):
            r = await client.post(
                f"{urls['nim_fail']}/chat/completions", json=body, headers=headers
            )
            if r.status_code < 500:
                break
        r = await client.post(
            f"{urls['gateway']}/openai/deployments/gpt-4o-mini/chat/completions",
            params={"api-version": "2024-12-01-preview"},
            json={"messages": MESSAGES},
            headers=bearer,
        )
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"])

    async def first_chunk() -> str:
        async with client.stream(
            "POST",
            f"{urls['nim']}/chat/completions",
            json={**body, "stream": True},
            headers=headers,
        ) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and '"content": "piece' in line:
                    return line
        raise RuntimeError("no chunk")

    return chat, fallback, first_chunk, client.aclose


async def _aiohttp(port: int) -> tuple[Call, Call, Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    urls = _urls(port)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100), cookie_jar=aiohttp.DummyCookieJar()
    )
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"model": MODEL, "messages": MESSAGES}
    async with session.post(urls["token"], data={"grant_type": "client_credentials"}) as r:
        bearer = {"Authorization": f"Bearer {(await r.json())['access_token']}"}

    async def chat() -> str:
        async with session.post(f"{urls['nim']}/chat/completions", json=body, headers=headers) as r:
            r.raise_for_status()
            return str((await r.json())["choices"][0]["message"]["content"])

    async def fallback() -> str:
        for _ in range(TRIES):
            async with session.post(
                f"{urls['nim_fail']}/chat/completions", json=body, headers=headers
            ) as r:
                await r.read()
                if r.status < 500:
                    break
        async with session.post(
            f"{urls['gateway']}/openai/deployments/gpt-4o-mini/chat/completions",
            params={"api-version": "2024-12-01-preview"},
            json={"messages": MESSAGES},
            headers=bearer,
        ) as r:
            return str((await r.json())["choices"][0]["message"]["content"])

    async def first_chunk() -> str:
        async with session.post(
            f"{urls['nim']}/chat/completions", json={**body, "stream": True}, headers=headers
        ) as r:
            async for raw in r.content:
                line = raw.decode()
                if line.startswith("data: ") and '"content": "piece' in line:
                    return line
        raise RuntimeError("no chunk")

    return chat, fallback, first_chunk, session.close


def _nvgw_session(port: int, *, nim: str, transport: str) -> Any:
    import nvgw_nb as nv

    urls = _urls(port)
    env = {
        "NVIDIA_NIM_API_KEY": KEY,
        "NVIDIA_NIM_BASE_URL": urls[nim],
        "STARFLEET_ID": "bench-client",
        "STARFLEET_SECRET": "bench-client-secret",
        "STARFLEET_TOKEN_URL": urls["token"],
        "LLM_GATEWAY_BASE_URL": urls["gateway"],
        "NVGW_TRANSPORT": transport,
    }
    # No backoff sleeps; and a breaker that never opens, so the fallback path makes the
    # same 3 NIM tries + 1 gateway call every time, like the hand-written ones (with its
    # default breaker nvgw_nb would skip NIM after 3 failures and be faster still).
    return nv.Session.from_env(
        env=env, env_file=None, retry=nv.RetryPolicy.no_wait(), breaker_threshold=10**9
    )


async def _nvgw_nb(
    port: int, transport: str = "auto"
) -> tuple[Call, Call, Call, Callable[[], Awaitable[None]]]:
    ok = _nvgw_session(port, nim="nim", transport=transport)
    failing = _nvgw_session(port, nim="nim_fail", transport=transport)

    async def chat() -> str:
        return str((await ok.achat(messages=MESSAGES)).content)

    async def fallback() -> str:
        result = await failing.achat(messages=MESSAGES)
        assert result.served_by == "nvidia-gateway"
        return str(result.content)

    async def first_chunk() -> str:
        stream = ok.astream(messages=MESSAGES)
        async for chunk in stream:
            if chunk.text:
                await stream.aclose()
                return str(chunk.text)
        raise RuntimeError("no chunk")

    async def close() -> None:
        await ok.aclose()
        await failing.aclose()

    return chat, fallback, first_chunk, close


async def _openai(port: int) -> tuple[Call, Call, Call, Callable[[], Awaitable[None]]]:
    import openai

    urls = _urls(port)
    nim = openai.AsyncOpenAI(base_url=urls["nim"], api_key=KEY, max_retries=0)
    failing = openai.AsyncOpenAI(base_url=urls["nim_fail"], api_key=KEY, max_retries=0)
    gateway = openai.AsyncAzureOpenAI(
        azure_endpoint=urls["gateway"],
        azure_ad_token="bench-token",
        api_version="2024-12-01-preview",
        max_retries=0,
    )

    async def chat() -> str:
        r = await nim.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        return str(r.choices[0].message.content)

    async def fallback() -> str:
        for _ in range(TRIES):
            try:
                r = await failing.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
                return str(r.choices[0].message.content)
            except openai.InternalServerError:
                continue
        r = await gateway.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
        return str(r.choices[0].message.content)

    async def first_chunk() -> str:
        stream = await nim.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                await stream.close()
                return str(chunk.choices[0].delta.content)
        raise RuntimeError("no chunk")

    async def close() -> None:
        for c in (nim, failing, gateway):
            await c.close()

    return chat, fallback, first_chunk, close


async def _litellm(
    port: int, router: bool = False
) -> tuple[Call, Call, Call, Callable[[], Awaitable[None]]]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch from GitHub
    import litellm

    urls = _urls(port)
    # max_retries=0: the OpenAI SDK under LiteLLM would otherwise back off for seconds.
    nim = {"model": f"openai/{MODEL}", "api_base": urls["nim"], "api_key": KEY, "max_retries": 0}
    failing = {**nim, "api_base": urls["nim_fail"]}
    gateway = {
        "model": "azure/gpt-4o-mini",
        "api_base": urls["gateway"],
        "api_key": "bench-token",
        "api_version": "2024-12-01-preview",
        "max_retries": 0,
    }

    if router:
        rt = litellm.Router(
            model_list=[
                {"model_name": "ok", "litellm_params": nim},
                {"model_name": "nim", "litellm_params": failing},
                {"model_name": "gw", "litellm_params": gateway},
            ],
            fallbacks=[{"nim": ["gw"]}],
            # The Router sleeps between its own retries (seconds, exponential) whatever
            # retry_after says: one NIM try, then the fallback. That is less work than the
            # other clients' three tries, so this row flatters the Router.
            num_retries=0,
        )

        async def chat() -> str:
            r = await rt.acompletion(model="ok", messages=MESSAGES)
            return str(r.choices[0].message.content)

        async def fallback() -> str:
            r = await rt.acompletion(model="nim", messages=MESSAGES)
            return str(r.choices[0].message.content)

    else:

        async def chat() -> str:
            r = await litellm.acompletion(messages=MESSAGES, **nim)
            return str(r.choices[0].message.content)

        async def fallback() -> str:
            for _ in range(TRIES):
                try:
                    r = await litellm.acompletion(messages=MESSAGES, **failing)
                    return str(r.choices[0].message.content)
                except litellm.InternalServerError:
                    continue
            r = await litellm.acompletion(messages=MESSAGES, **gateway)
            return str(r.choices[0].message.content)

    async def first_chunk() -> str:
        stream = await litellm.acompletion(messages=MESSAGES, stream=True, **nim)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                return str(chunk.choices[0].delta.content)
        raise RuntimeError("no chunk")

    async def close() -> None:
        return None

    return chat, fallback, first_chunk, close


ASYNC_CLIENTS: dict[str, Callable[[int], Awaitable[tuple[Call, Call, Call, Any]]]] = {
    "httpx": _httpx,
    "aiohttp": _aiohttp,
    "nvgw_nb": _nvgw_nb,
    "nvgw_nb_httpx": lambda port: _nvgw_nb(port, transport="httpx"),
    "openai": _openai,
    "litellm": _litellm,
    "litellm_router": lambda port: _litellm(port, router=True),
}


# --------------------------------------------------------------------------- measuring


async def _timed(call: Call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t0)
    return out


async def _throughput(call: Call, n: int, concurrency: int) -> float:
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            await call()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0)


async def measure_async(client: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    chat, fallback, first_chunk, close = await ASYNC_CLIENTS[client](port)
    try:
        await _timed(chat, args.warmup)
        seq = await _timed(chat, args.seq)
        await _timed(fallback, max(1, args.warmup // 10))
        fb = await _timed(fallback, args.fallback)
        await _timed(first_chunk, max(1, args.warmup // 10))
        ttfc = await _timed(first_chunk, args.stream)
        await _throughput(chat, 2 * args.concurrency, args.concurrency)  # warm the pool
        rps = await _throughput(chat, args.conc, args.concurrency)
    finally:
        await close()
    return _summary(client, seq, fb, ttfc, rps)


def measure_sync(port: int, args: argparse.Namespace) -> dict[str, Any]:
    """nvgw_nb's sync API as a notebook uses it: `session.chat`, and `session.batch`."""
    ok = _nvgw_session(port, nim="nim", transport="auto")
    failing = _nvgw_session(port, nim="nim_fail", transport="auto")

    def timed(call: Callable[[], object], n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            out.append(time.perf_counter() - t0)
        return out

    def first_chunk() -> None:
        stream = ok.stream(messages=MESSAGES)
        next(iter(stream))
        stream.close()

    try:
        timed(lambda: ok.chat(messages=MESSAGES), args.warmup)
        seq = timed(lambda: ok.chat(messages=MESSAGES), args.seq)
        fb = timed(lambda: failing.chat(messages=MESSAGES), args.fallback)
        ttfc = timed(first_chunk, args.stream)
        prompts = [{"prompt": "What is the answer?"}] * args.conc
        ok.batch(prompts[: 2 * args.concurrency], concurrency=args.concurrency, progress=False)
        t0 = time.perf_counter()
        ok.batch(prompts, concurrency=args.concurrency, progress=False)
        rps = args.conc / (time.perf_counter() - t0)
    finally:
        ok.close()
        failing.close()
    return _summary("nvgw_nb_sync", seq, fb, ttfc, rps)


def _summary(
    client: str, seq: list[float], fb: list[float], ttfc: list[float], rps: float
) -> dict[str, Any]:
    def q(values: list[float], p: float) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]

    return {
        "client": client,
        "seq_median_ms": statistics.median(seq) * 1000,
        "seq_p99_ms": q(seq, 99) * 1000,
        "n_seq": len(seq),
        "fallback_median_ms": statistics.median(fb) * 1000,
        "n_fallback": len(fb),
        "ttfc_median_ms": statistics.median(ttfc) * 1000,
        "n_stream": len(ttfc),
        "rps": rps,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=[*ASYNC_CLIENTS, "nvgw_nb_sync"])
    parser.add_argument("port", type=int)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seq", type=int, default=2000)
    parser.add_argument("--fallback", type=int, default=300)
    parser.add_argument("--stream", type=int, default=300)
    parser.add_argument("--conc", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.client == "nvgw_nb_sync":
        result = measure_sync(args.port, args)
    else:
        result = asyncio.run(measure_async(args.client, args.port, args))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
