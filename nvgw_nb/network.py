"""Which proxy and which trusted CAs a Session uses: read once from its settings.

Both transports (aiohttp's and httpx's own) get the same answers from one `Network`, so a
corporate network behaves the same whichever is chosen.

Proxies, the way httpx, curl and urllib read them:

- `NVGW_PROXY` (or `proxy=`): one proxy for every request; it replaces the variables below.
- else `HTTPS_PROXY` for https:// URLs, `HTTP_PROXY` for http:// ones, `ALL_PROXY` for
  either when its own is unset; upper or lower case (lower case wins, as in urllib).
- `NO_PROXY` (either case) names hosts reached directly, with either source: `*` (all),
  a host, a domain (`corp.example` or `.corp.example`: it and its subdomains), an IP
  address or network (`10.0.0.0/8`), each optionally with `:port`.
- A proxy URL is `http://` or `https://` (a bare `host:port` means http); credentials in
  it (`http://user:pass@proxy:3128`) are sent to the proxy and never shown: errors and
  `nvgw-nb check` name its host only. socks proxies are refused (aiohttp has no support).

Trusted CAs (one `ssl.SSLContext` per Session, built on first use and then shared by
every connection):

- `SSL_CERT_FILE` or else `SSL_CERT_DIR`: *the* trust store, replacing the default, as
  OpenSSL and httpx read them;
- else the default: the system store and certifi's list together (aiohttp used the first,
  httpx the second; trusting both keeps every host either reached);
- plus `NVGW_CA_BUNDLE` (or `ca_bundle=`): a PEM file (or a directory hashed by
  `openssl rehash`) *added* to that trust, so a file holding only the corporate root is
  enough and public hosts keep working.
- `REQUESTS_CA_BUNDLE` is read as a fallback for `NVGW_CA_BUNDLE` (added the same way):
  corporate images commonly set it for every Python tool, it only ever names CAs the user
  already trusts, and adding (not replacing) can never break a host the default reaches.
  `CURL_CA_BUNDLE` is not read.

Variables come from where the Session's settings came from (arguments, then the
environment, then `.env`): a Session built from an explicit mapping (the simulator's)
never picks up a proxy from the process environment.

The end of the module words failures for `outcomes.transport_error` and `nvgw-nb check`:
which certificate check failed (`certificate_problem`), which proxy a failed request went
through (`proxy_used`, from the note the transports leave on each request) and what to
check when a connect timed out (`proxy_hint`).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import ssl
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

from nvgw_nb.errors import ConfigError

if TYPE_CHECKING:
    from nvgw_nb.config import Settings

__all__ = [
    "PROXY_EXTENSION",
    "Network",
    "ProxyChoice",
    "certificate_problem",
    "check_proxy_url",
    "proxy_hint",
    "proxy_named",
    "proxy_used",
    "proxy_variable",
    "unreachable_host",
]

#: set on each request by the transports when a proxy is configured: "host:port (VARIABLE)"
#: of the proxy it went through, or "" when NO_PROXY sent it directly
PROXY_EXTENSION = "nvgw_proxy"


def check_proxy_url(value: str) -> str:
    """`value` as a proxy URL (`host:port` gets http://); ValueError, never quoting the
    value (it may hold a password), when it is not an http(s) proxy with a host."""
    value = value.strip()
    # Before urlsplit, which drops CR, LF and tab without a word.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("contains whitespace or a control character")
    if "://" not in value:
        value = "http://" + value
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        raise ValueError("is not a valid proxy URL (expected http://host:port)") from None
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise ValueError(
            f"names a {scheme}:// proxy: socks is not supported; use the proxy's http:// address"
        )
    if scheme not in ("http", "https"):
        raise ValueError(f"must be an http:// or https:// proxy URL, not {scheme}://")
    if not host:
        raise ValueError("has no host (expected http://host:port)")
    return value


@dataclass(frozen=True)
class ProxyChoice:
    """A proxy and the variable it came from. `url` may hold credentials: it goes to the
    transport only; everything shown uses `host`."""

    url: str = field(repr=False)
    variable: str

    @property
    def host(self) -> str:
        """`host:port` of the proxy: what errors and `nvgw-nb check` show."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or "?"
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url_without_credentials(self) -> str:
        """The proxy's URL with any user:password removed."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{self.host}"

    @property
    def authorization(self) -> str | None:
        """The Proxy-Authorization value for credentials in the URL, or None."""
        parts = urlsplit(self.url)
        if parts.username is None:
            return None
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def describe(self) -> str:
        """e.g. "proxy.corp:3128 (HTTPS_PROXY)"."""
        return f"{self.host} ({self.variable})"


class Network:
    """The proxies and the trust of one Session (see the module docstring)."""

    def __init__(
        self,
        *,
        proxies: dict[str, ProxyChoice] | None = None,
        no_proxy: tuple[str, ...] = (),
        cert_file: str | None = None,
        cert_dir: str | None = None,
        extra_ca: tuple[str, str] | None = None,
    ) -> None:
        #: scheme ("http", "https") → proxy; empty when none is configured
        self.proxies = dict(proxies or {})
        self.no_proxy = no_proxy
        self._cert_file = cert_file
        self._cert_dir = cert_dir
        self._extra_ca = extra_ca  # (variable, path)
        self._choices: dict[tuple[str, str, int | None], ProxyChoice | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Network:
        """Read the proxy and CA variables as the module docstring says; ConfigError,
        naming the variable, for a bad proxy URL or a CA file that does not exist."""
        found = _variables(settings)
        proxies: dict[str, ProxyChoice] = {}
        if settings.proxy:
            explicit = _choice(settings.proxy, "NVGW_PROXY")
            proxies = {"http": explicit, "https": explicit}
        else:
            for scheme in ("https", "http"):
                name = scheme if found.get(scheme) else "all"
                if found.get(name):
                    proxies[scheme] = _choice(found[name], f"{name.upper()}_PROXY")
        no_proxy = tuple(e.strip().lower() for e in found.get("no", "").split(",") if e.strip())
        cert_file = settings.variable("SSL_CERT_FILE") or None
        cert_dir = settings.variable("SSL_CERT_DIR") or None
        extra: tuple[str, str] | None = None
        if settings.ca_bundle:
            extra = ("NVGW_CA_BUNDLE", settings.ca_bundle)
        elif settings.variable("REQUESTS_CA_BUNDLE"):
            extra = ("REQUESTS_CA_BUNDLE", str(settings.variable("REQUESTS_CA_BUNDLE")))
        for variable, path in (
            ("SSL_CERT_FILE", cert_file),
            ("SSL_CERT_DIR", None if cert_file else cert_dir),
            extra or ("", None),
        ):
            if path is not None and not os.path.exists(path):
                raise ConfigError(
                    f"Invalid configuration:\n  {variable} names {path}, which does not "
                    "exist; point it at the PEM file holding your CA certificate(s)"
                )
        network = cls(
            proxies=proxies,
            no_proxy=no_proxy,
            cert_file=cert_file,
            cert_dir=cert_dir,
            extra_ca=extra,
        )
        if cert_file or cert_dir or extra:
            network.ssl_context  # noqa: B018 - a bad CA file fails here, not on a first call
        return network

    # --- proxies ------------------------------------------------------------------------
    def proxy_for(self, url: httpx.URL) -> ProxyChoice | None:
        """The proxy a request to `url` goes through; None: directly."""
        if not self.proxies:
            return None
        key = (url.scheme, url.host, url.port)
        if key not in self._choices:
            if len(self._choices) > 1024:  # hosts are few; never let it grow unbounded
                self._choices.clear()
            choice = self.proxies.get(url.scheme)
            if choice is not None and _bypassed(
                url.host, url.port or _default_port(url), self.no_proxy
            ):
                choice = None
            self._choices[key] = choice
        return self._choices[key]

    def describe_proxy(self, url: str) -> str:
        """What `nvgw-nb check` prints for requests to `url`."""
        target = httpx.URL(url)
        choice = self.proxy_for(target)
        if choice is not None:
            return f"through {choice.describe()}"
        if self.proxies.get(target.scheme) is not None:
            return "direct (NO_PROXY)"
        return "direct (no proxy configured)"

    # --- trust --------------------------------------------------------------------------
    @functools.cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """The one context every TLS connection of the Session uses (built on first use;
        with no CA variable set, the process's default one, built once for all)."""
        if not (self._cert_file or self._cert_dir or self._extra_ca):
            return _default_context()
        try:
            if self._cert_file:
                variable = "SSL_CERT_FILE"
                context = ssl.create_default_context(cafile=self._cert_file)
            elif self._cert_dir:
                variable = "SSL_CERT_DIR"
                context = ssl.create_default_context(capath=self._cert_dir)
            else:
                variable = "certifi"
                context = _trust_default()
            if self._extra_ca is not None:
                variable, path = self._extra_ca
                if os.path.isdir(path):
                    context.load_verify_locations(capath=path)
                else:
                    context.load_verify_locations(cafile=path)
        except (ssl.SSLError, OSError) as err:
            reason = getattr(err, "reason", None) or type(err).__name__
            raise ConfigError(
                f"Invalid configuration:\n  {variable}: no CA certificate could be loaded "
                f"({reason}); it must name a PEM file of CA certificates"
            ) from None
        return context

    def describe_trust(self) -> str:
        """Which CA certificates are trusted, in words (paths are not secrets)."""
        if self._cert_file:
            base = f"SSL_CERT_FILE ({self._cert_file})"
        elif self._cert_dir:
            base = f"SSL_CERT_DIR ({self._cert_dir})"
        else:
            base = "the system store and certifi"
        if self._extra_ca is not None:
            variable, path = self._extra_ca
            return f"{base} + {variable} ({path})"
        return base


@functools.lru_cache(maxsize=1)
def _default_context() -> ssl.SSLContext:
    """The context of every Session with no CA variable: built once per process (~30 ms:
    a Session that never opens a TLS connection never builds it)."""
    return _trust_default()


def _trust_default() -> ssl.SSLContext:
    """A context trusting the system store and certifi's list."""
    import certifi

    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    return context


def _variables(settings: Settings) -> dict[str, str]:
    """scheme ("https", "http", "all", "no") → value, from where `settings` were read.

    From the process environment through `urllib.request.getproxies()` (public, reads
    either case with lower case winning, and the system settings on macOS and Windows —
    what httpx itself reads through its private `get_environment_proxies`); then the
    arguments and `.env` for what is still unset, through `Settings.variable`.
    """
    found: dict[str, str] = {}
    if settings.reads_environment:
        found.update({k: v for k, v in urllib.request.getproxies().items() if v})
    for scheme in ("https", "http", "all", "no"):
        if scheme not in found:
            value = settings.variable(f"{scheme.upper()}_PROXY")
            if value:
                found[scheme] = value
    return found


def _choice(value: str, variable: str) -> ProxyChoice:
    try:
        return ProxyChoice(check_proxy_url(value), variable)
    except ValueError as err:
        raise ConfigError(f"Invalid configuration:\n  {variable} {err}") from None


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _bypassed(host: str, port: int, entries: tuple[str, ...]) -> bool:
    """Whether NO_PROXY's `entries` send `host:port` directly (curl's and urllib's rules)."""
    host = host.lower().strip("[]")
    for entry in entries:
        if entry == "*":
            return True
        name, wanted = _split_entry(entry)
        if wanted is not None and wanted != port:
            continue
        try:
            network = ipaddress.ip_network(name, strict=False)
        except ValueError:
            domain = name.lstrip("*").lstrip(".")
            if domain and (host == domain or host.endswith("." + domain)):
                return True
            continue
        try:
            if ipaddress.ip_address(host) in network:
                return True
        except ValueError:
            continue
    return False


def _split_entry(entry: str) -> tuple[str, int | None]:
    """A NO_PROXY entry as (host or network, port or None)."""
    entry = entry.split("://", 1)[-1].rstrip("/")
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host, port = entry, ""
    return host, int(port) if port.isdigit() else None


# --- failures, in words (for outcomes.transport_error and nvgw-nb check) ---------------
# OpenSSL's X509_V_ERR_* codes, as `ssl.SSLCertVerificationError.verify_code`
_UNKNOWN_CA = {2, 18, 19, 20, 21, 27}
_EXPIRED, _NOT_YET_VALID = 10, 9
_HOSTNAME = {62, 64}
# The same, from the text when the code is not at hand (a cause chain cut short).
_CERT_WORDS = (
    ("certificate has expired", "expired"),
    ("certificate is not yet valid", "not_yet_valid"),
    ("hostname mismatch", "hostname"),
    ("ip address mismatch", "hostname"),
    ("unable to get local issuer", "unknown_ca"),
    ("self-signed certificate", "unknown_ca"),
    ("self signed certificate", "unknown_ca"),
    ("unable to get issuer", "unknown_ca"),
    ("certificate_verify_failed", "other"),
)
_CERT_SAYS = {
    "unknown_ca": "it is signed by a certificate authority this machine does not trust",
    "expired": "it has expired",
    "not_yet_valid": "it is not valid yet",
    "hostname": "it was issued for another host name (hostname mismatch)",
}


def certificate_problem(err: BaseException) -> tuple[str, str] | None:
    """(reason, what failed in words: "it has expired") when `err` — or an exception it
    was raised from — is a certificate that failed verification; None otherwise."""
    seen: set[int] = set()
    current: BaseException | None = err
    reason: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # aiohttp's certificate error subclasses it without the code: read on down.
        code = getattr(current, "verify_code", None)
        if isinstance(current, ssl.SSLCertVerificationError) and isinstance(code, int):
            if code in _UNKNOWN_CA:
                reason = "unknown_ca"
            elif code == _EXPIRED:
                reason = "expired"
            elif code == _NOT_YET_VALID:
                reason = "not_yet_valid"
            elif code in _HOSTNAME:
                reason = "hostname"
            else:
                said = str(getattr(current, "verify_message", None) or "verification failed")
                message = " ".join(said.split()[:12])  # OpenSSL's words, a line at most
                return "other", f"it failed verification ({message})"
            break
        if reason is None:
            text = str(current).lower()
            reason = next((r for words, r in _CERT_WORDS if words in text), None)
        current = current.__cause__ or current.__context__
    if reason is None:
        return None
    return reason, _CERT_SAYS.get(reason, "it failed verification")


# How "no route / no name" reads in the errors of the OS, asyncio and aiohttp.
_UNREACHABLE_WORDS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "network is unreachable",
    "no route to host",
)


def unreachable_host(detail: str) -> bool:
    """Whether a connect failure's text says the host has no name or no route (not a
    refusal): what a host reachable only through a proxy looks like."""
    text = detail.lower()
    return any(words in text for words in _UNREACHABLE_WORDS)


def proxy_used(err: httpx.HTTPError) -> str | None:
    """The proxy the failed request went through ("host:port (VARIABLE)"); "" when a
    proxy is configured but NO_PROXY sent it directly; None when none is configured."""
    try:
        extensions = err.request.extensions
    except RuntimeError:  # no request attached
        return None
    value = extensions.get(PROXY_EXTENSION)
    return value if isinstance(value, str) else None


def proxy_named(via: str | None) -> str:
    """ " host:port (VARIABLE)" of the proxy used, for a sentence; "" for none."""
    return f" {via}" if via else ""


def proxy_variable(via: str | None) -> str:
    """The variable that set the proxy used (the usual two when it is not known)."""
    if via and "(" in via:
        return via[via.rindex("(") + 1 : -1]
    return "NVGW_PROXY or HTTPS_PROXY"


def proxy_hint(via: str | None) -> str:
    """What a connect timeout says about proxies."""
    if via:
        return (
            f"through the proxy {via}: check that it is reachable, or change "
            "NVGW_PROXY / HTTPS_PROXY / HTTP_PROXY / NO_PROXY"
        )
    if via == "":
        return (
            "NO_PROXY sends it directly: if this host is reachable only through the "
            "proxy, remove it from NO_PROXY"
        )
    return (
        "no proxy is in use: if this network needs one, set HTTPS_PROXY / HTTP_PROXY "
        "(or NVGW_PROXY); else check the URL, your network and VPN"
    )
