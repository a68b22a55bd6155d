"""One HTTP exchange with a provider: send (polling NVCF's 202), read the body or the
event stream, all within the attempt's deadline and the Session's read limits.

The engine (`nvgw_nb.engine`) decides what an exchange means; this module only moves and
bounds bytes, and turns what a provider's parser raises into `NvgwError`s.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

import anyio
import httpx

from nvgw_nb.errors import MalformedResponse
from nvgw_nb.outcomes import attempt_error
from nvgw_nb.providers.base import Provider, Reply
from nvgw_nb.reading import TooLarge, aiter_sse, parsing, read_body, too_large
from nvgw_nb.steps import CountingAuth
from nvgw_nb.untrusted import Limits

__all__ = ["SIMULATOR_HEADER", "embeddings", "events", "is_sse", "list_models", "read", "send"]

T = TypeVar("T")

#: the header the built-in simulator marks its answers with
SIMULATOR_HEADER = "x-nvgw-simulator"


def is_sse(response: httpx.Response) -> bool:
    """True when `response` is a server-sent event stream."""
    return "text/event-stream" in response.headers.get("content-type", "")


async def list_models(
    client: httpx.AsyncClient,
    provider: Provider,
    auth: httpx.Auth | None,
    *,
    deadline: float,
    limits: Limits,
    clock: Callable[[], float],
) -> list[str]:
    """The provider's model list (`Provider.models_request`), read as an attempt is:
    within `deadline` and the read limits; every failure an NvgwError."""
    name = provider.name
    started = clock()
    response: httpx.Response | None = None
    try:
        with anyio.fail_after(max(0.0, deadline - clock())):
            response = await client.send(provider.models_request(), auth=auth, stream=True)
        answer = await read(response, name, deadline, limits, clock)
        with parsing(name, answer.status_code, limits):
            return provider.parse_models(answer)
    except (TimeoutError, httpx.HTTPError) as err:
        raise attempt_error(err, name, clock() - started, auth) from None
    finally:
        if response is not None:
            await response.aclose()


async def embeddings(
    client: httpx.AsyncClient,
    name: str,
    request: httpx.Request,
    auth: httpx.Auth | None,
    parse: Callable[[httpx.Response], T],
    *,
    deadline: float,
    limits: Limits,
    clock: Callable[[], float],
) -> T:
    """One embeddings request to provider `name`, read as an attempt is (within
    `deadline` and the read limits), then `parse`d — `parse` sees any status and raises
    the status error of a non-2xx; every failure is an NvgwError."""
    started = clock()
    response: httpx.Response | None = None
    try:
        with anyio.fail_after(max(0.0, deadline - clock())):
            response = await client.send(request, auth=auth, stream=True)
        answer = await read(response, name, deadline, limits, clock)
        with parsing(name, answer.status_code, limits):
            return parse(answer)
    except (TimeoutError, httpx.HTTPError) as err:
        raise attempt_error(err, name, clock() - started, auth) from None
    finally:
        if response is not None:
            await response.aclose()


async def send(
    client: httpx.AsyncClient,
    provider: Provider,
    http_request: httpx.Request,
    auth: CountingAuth,
    *,
    sleep: Callable[[float], Awaitable[None]],
    poll_interval: float,
) -> httpx.Response:
    """Send `http_request`; an NVCF `202 Accepted` is polled at the status URL until it
    is answered (fault N2). The response comes back unread (`stream=True`)."""
    response = await client.send(http_request, auth=auth, stream=True)
    # NVCF long requests: 202 + NVCF-REQID, then poll the status URL (fault N2).
    while response.status_code == 202:
        request_id = provider.request_id(response)
        # Closed first: poll_request refuses (raises on) an id that would steer the poll.
        await response.aclose()
        poll = provider.poll_request(request_id) if request_id else None
        if poll is None:
            raise MalformedResponse(
                f"{provider.name} answered 202 Accepted without an NVCF-REQID to poll",
                provider=provider.name,
                status_code=202,
            )
        await sleep(poll_interval)
        response = await client.send(poll, auth=auth.inner, stream=True)
    return response


async def read(
    response: httpx.Response,
    name: str,
    deadline: float,
    limits: Limits,
    clock: Callable[[], float],
) -> httpx.Response:
    """`response` with its body read, within `deadline` and the body limit."""
    try:
        return await read_body(response, limit=limits.body_bytes, deadline=deadline, clock=clock)
    except TooLarge as err:
        raise too_large(err, name, response.status_code) from None


async def events(
    provider: Provider,
    response: httpx.Response,
    deadline: float,
    limits: Limits,
    clock: Callable[[], float],
) -> AsyncGenerator[str | Reply, None]:
    """The text of each event as it arrives, then the whole Reply. The events are read
    within `deadline` and the stream and event limits (`nvgw_nb.reading.aiter_sse`:
    httpx_sse has no limit on a line or an event)."""
    parser = provider.stream_parser()
    name = provider.name
    stream = aiter_sse(response, limits=limits, deadline=deadline, clock=clock)
    try:
        async for event in stream:
            with parsing(name, response.status_code, limits):
                text = parser.feed(event.event, event.data)
            if text:
                yield text
            if parser.done:
                break
    except TooLarge as err:
        raise too_large(err, name, response.status_code) from None
    finally:
        await stream.aclose()
    with parsing(name, response.status_code, limits):
        reply = parser.reply()
    yield reply
