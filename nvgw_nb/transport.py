"""The HTTP transport under the Session's `httpx.AsyncClient`.

httpx stays the client and the API: auth flows, timeouts, `httpx.Request`/`Response` and the
`httpx.HTTPError` tree. Only the connection handling below it changes. httpcore's pool does
bookkeeping that grows with the number of open connections, so at 64 calls in flight it
serves fewer calls per second than one at a time (benchmarks/README.md). `AiohttpTransport`
hands the connections to aiohttp, whose pool does not have that cost.

This is hand-written (~150 lines) rather than taken from `httpx-aiohttp` because that
package maps a refused connection and a server hang-up to `ConnectTimeout`. Retry code that
reads "connect failed" as "never sent" would then replay requests that were sent. Here each
aiohttp failure maps to the httpx exception httpcore would raise for it, and
tests/test_socket_faults.py checks every socket-level fault on both transports.

`transport="httpx"` keeps httpx's own transport, which is also what HTTP/2 and client
certificates need. Proxies and trusted CAs are the same on both: a `Network`
(nvgw_nb/network.py) read from the Session's settings picks the proxy for each request and
holds the one `ssl.SSLContext`; the client itself reads no environment (`trust_env=False`),
because httpx applies environment proxies only to a transport it builds itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Literal

import httpx

if TYPE_CHECKING:
    import aiohttp

    from nvgw_nb.config import Settings

from nvgw_nb.errors import ConfigError
from nvgw_nb.network import PROXY_EXTENSION, Network, ProxyChoice

__all__ = [
    "TRANSPORTS",
    "AiohttpTransport",
    "TransportName",
    "make_client",
    "make_transport",
]

TransportName = Literal["auto", "aiohttp", "httpx"]
TRANSPORTS: tuple[TransportName, ...] = ("auto", "aiohttp", "httpx")

_CHUNK = 64 * 1024


def make_client(
    transport: httpx.AsyncBaseTransport | TransportName,
    *,
    read_s: float,
    connect_s: float,
    settings: Settings | None = None,
) -> httpx.AsyncClient:
    """A Session's client: on `transport` (a name: see `make_transport`, with the proxies
    and CAs `settings` name: `Network.from_settings`), never following redirects
    (credentials would go along); httpx itself reads no environment. A transport object
    is used as it is."""
    if isinstance(transport, str):
        network = Network.from_settings(settings) if settings is not None else None
        try:
            transport = make_transport(transport, max_connections=100, network=network)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    # The pool size is the transport's own: httpx ignores `limits=` when given one.
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(read_s, connect=connect_s),
        follow_redirects=False,
        trust_env=False,
    )


def make_transport(
    name: TransportName, *, max_connections: int, network: Network | None = None
) -> httpx.AsyncBaseTransport:
    """The transport called `name`: "auto" is aiohttp when installed, else httpx's own;
    both use `network`'s proxies and trusted CAs (default: none, system + certifi)."""
    network = network or Network()
    if name not in TRANSPORTS:
        raise ValueError(f"transport: expected one of {', '.join(TRANSPORTS)}, got {name!r}")
    if name in ("auto", "aiohttp"):
        # find_spec, not import: aiohttp loads on the first request, not with the Session.
        if importlib.util.find_spec("aiohttp") is not None:
            return AiohttpTransport(max_connections=max_connections, network=network)
        if name == "aiohttp":
            raise ValueError("transport='aiohttp' needs the aiohttp package: pip install aiohttp")
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    direct = httpx.AsyncHTTPTransport(verify=network.ssl_context, limits=limits, trust_env=False)
    if not network.proxies:
        return direct
    return _ProxyRoutes(direct, network, limits)


class _ProxyRoutes(httpx.AsyncBaseTransport):
    """httpx's own transport with proxies: one pool per proxy, chosen per request by
    `Network.proxy_for` (the same rule the aiohttp transport follows). httpx's `mounts=`
    would need NO_PROXY turned into its URL patterns, a second reading of the rules."""

    def __init__(self, direct: httpx.AsyncHTTPTransport, network: Network, limits: httpx.Limits):
        self._direct = direct
        self._network = network
        self._via: dict[str, httpx.AsyncHTTPTransport] = {}
        context = network.ssl_context
        for choice in {c.url: c for c in network.proxies.values()}.values():
            proxy = httpx.Proxy(
                choice.url, ssl_context=context if choice.url.startswith("https") else None
            )
            self._via[choice.url] = httpx.AsyncHTTPTransport(
                verify=context, limits=limits, trust_env=False, proxy=proxy
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        choice = self._network.proxy_for(request.url)
        request.extensions[PROXY_EXTENSION] = choice.describe() if choice else ""
        transport = self._direct if choice is None else self._via[choice.url]
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._direct.aclose()
        for transport in self._via.values():
            await transport.aclose()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An `httpx.AsyncBaseTransport` that sends over an aiohttp connection pool (HTTP/1.1).

    The aiohttp session is opened on first use, on the loop that uses it. Redirects,
    cookies and decompression are left to httpx (or off), and aiohttp reads no
    environment: the proxy for each request and the SSL context come from `network`.
    `verify` (a context, or False) replaces the network's context when given.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        verify: ssl.SSLContext | bool = True,
        network: Network | None = None,
    ) -> None:
        self.max_connections = max_connections
        self._verify = verify
        self._network = network or Network()
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        # The context goes with each https request (`_ssl`): a Session that only speaks
        # http (the simulator) never builds one.
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            trust_env=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp

        session = self._session or self._open()
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        body = await request.aread()
        proxy = self._proxy(request)
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=_headers(request, proxy),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
                ssl=self._ssl(request),
                proxy=proxy.url_without_credentials if proxy else None,
                proxy_headers=_proxy_headers(proxy),
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            raise _map(err, request, connecting=True) from err
        return httpx.Response(
            status_code=response.status,
            headers=[(bytes(k), bytes(v)) for k, v in response.raw_headers],
            stream=_Body(response, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
            request=request,
        )

    def _ssl(self, request: httpx.Request) -> ssl.SSLContext | bool:
        """The SSL context for `request` (True, unused, for http:// with no proxy: an
        https:// proxy needs the context for an http:// URL too)."""
        if request.url.scheme != "https" and not self._network.proxies:
            return True
        return self._network.ssl_context if self._verify is True else self._verify

    def _proxy(self, request: httpx.Request) -> ProxyChoice | None:
        """The proxy for `request` (noted on it for the error wording), or None."""
        if not self._network.proxies:
            return None
        choice = self._network.proxy_for(request.url)
        request.extensions[PROXY_EXTENSION] = choice.describe() if choice else ""
        return choice

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _headers(request: httpx.Request, proxy: ProxyChoice | None) -> list[tuple[str, str]]:
    """`request`'s headers for aiohttp; an http:// request through a proxy carries the
    proxy's credentials itself (aiohttp sends `proxy_headers` only with a CONNECT)."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    authorization = proxy.authorization if proxy else None
    if authorization and request.url.scheme != "https":
        headers.append(("Proxy-Authorization", authorization))
    return headers


def _proxy_headers(proxy: ProxyChoice | None) -> dict[str, str] | None:
    """Credentials from the proxy URL as a header: the URL aiohttp sees has none, so no
    error of its can quote them."""
    authorization = proxy.authorization if proxy else None
    return {"Proxy-Authorization": authorization} if authorization else None


class _Body(httpx.AsyncByteStream):
    """A response body read from aiohttp, with its failures mapped as httpx's would be."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            raise _map(err, self._request, connecting=False) from err

    async def aclose(self) -> None:
        self._response.release()


def _map(err: BaseException, request: httpx.Request, *, connecting: bool) -> httpx.TransportError:
    """The httpx exception httpcore raises for the same failure."""
    import aiohttp

    kind: Callable[..., httpx.TransportError]
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout if connecting else httpx.ReadTimeout
    elif isinstance(err, (aiohttp.SocketTimeoutError, asyncio.TimeoutError)):
        kind = httpx.ReadTimeout
    elif isinstance(err, aiohttp.ClientHttpProxyError):
        # The proxy refused the tunnel (403, 407, 502): httpcore raises ProxyError.
        return httpx.ProxyError(f"the proxy answered {err.status} {err.message}", request=request)
    elif isinstance(err, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError  # refused, DNS, TLS handshake
    elif isinstance(err, (aiohttp.ClientSSLError, ssl.SSLError)):
        kind = httpx.ConnectError
    elif isinstance(err, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        kind = httpx.RemoteProtocolError  # closed before the status line, or mid-body
    elif isinstance(err, aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError  # a status line or header aiohttp could not parse
    elif isinstance(err, OSError):
        kind = httpx.ReadError  # e.g. connection reset
    else:
        kind = httpx.RemoteProtocolError
    return kind(f"{type(err).__name__}: {err}", request=request)
