"""`nvgw-nb check`: is the setup right? One `[ok]` / `[FAIL]` line per step, with a fix.

The steps, for every provider the settings put in the order (read from the registry):
the settings parse; the proxy and CA certificates its requests will use
(`nvgw_nb.network`); its credentials are there (the very check a Session makes, through
`Provider.from_settings`); a Starfleet token can be fetched where the provider's auth
uses one; and one short request is answered. Secrets are never printed: credentials
are reported as "set", a client id masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlsplit

import httpx

from nvgw_nb.auth import StarfleetAuth
from nvgw_nb.config import Settings
from nvgw_nb.env_files import did_you_mean
from nvgw_nb.errors import (
    AuthError,
    ConfigError,
    MissingCredentials,
    ModelNotFound,
    NvgwError,
    ProviderAuthError,
    ProviderTimeout,
    ProviderUnreachable,
    TLSError,
)
from nvgw_nb.network import PROXY_EXTENSION, Network
from nvgw_nb.outcomes import transport_error
from nvgw_nb.provider_choice import left_out, settings_source, usable_order
from nvgw_nb.providers import Provider, registry
from nvgw_nb.redaction import is_loopback
from nvgw_nb.session import Session

__all__ = ["PROBE_PROMPT", "CheckReport", "one_line", "run_check"]

PROBE_PROMPT = "Reply with one word: ready"


def one_line(message: str) -> str:
    """Fold a multi-line message ("Header:\\n  a\\n  b") into "Header: a; b"."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    head, rest = lines[0], lines[1:]
    if not rest:
        return head
    return f"{head} {'; '.join(rest)}" if head.endswith(":") else "; ".join(lines)


@dataclass
class CheckReport:
    """Collects and prints check results as `[ok]` / `[FAIL]` lines with fixes."""

    out: TextIO
    failures: int = 0

    def ok(self, what: str, detail: str) -> None:
        self._print(f"  [ok]   {what}: {detail}")

    def info(self, what: str, detail: str) -> None:
        self._print(f"  [--]   {what}: {detail}")

    def fail(self, what: str, problem: str, fix: str | None = None) -> None:
        self.failures += 1
        self._print(f"  [FAIL] {what}: {one_line(problem)}")
        if fix:
            self._print(f"         fix: {fix}")

    def verdict(self) -> int:
        """Print the closing line; the exit code (1 when anything failed)."""
        if self.failures:
            n = self.failures
            self._print(f"{n} check{'s' if n != 1 else ''} failed.")
            return 1
        self._print("All checks passed.")
        return 0

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def run_check(
    out: TextIO,
    *,
    env: dict[str, str] | None,
    env_file: str | None,
    simulated: bool = False,
    prog: str = "nvgw-nb",
    header: str | None = None,
) -> int:
    """Run every step, print a line each; the exit code. `header` (e.g. "nvgw-nb check")
    opens the output with where the settings come from and what they point at."""
    report = CheckReport(out)
    # 1. settings
    try:
        settings = Settings.load(env=env, env_file=env_file)
    except ConfigError as err:
        if header:
            out.write(f"{header}: settings from {settings_source(None)}\n")
        report.fail("configuration", str(err), "correct the variables named above")
        return report.verdict()
    # the providers a Session would use: those with credentials (nvgw_nb.provider_choice)
    order = usable_order(settings) or settings.default_order
    classes = [registry.provider_class(name) for name in order]
    if header:
        out.write(
            f"{header}: {_endpoints(settings, classes)}, settings from "
            f"{settings_source(settings)}\n"
        )
    places = ", ".join(cls.describe(settings) for cls in classes)
    report.ok("configuration", f"{places}, order {' → '.join(order)}")
    _near_miss_lines(report, settings, classes)
    try:
        network = Network.from_settings(settings)
    except ConfigError as err:
        report.fail("network", str(err), "correct the variable named above")
        return report.verdict()
    _network_lines(report, network, classes, settings)

    # 2. credentials: the Session's own check, provider by provider
    probes: list[type[Provider]] = []
    for cls in classes:
        if _credentials_ok(report, cls, settings, prog):
            probes.append(cls)
    for name in registry.internal_names():
        if name not in order and name not in left_out(settings):
            report.info(name, "not in the provider order")

    # 3. a token, where the provider's auth fetches one
    for cls in list(probes):
        auth = cls.auth_from_settings(settings)
        if isinstance(auth, StarfleetAuth) and not _token_ok(report, cls, auth, settings, network):
            probes.remove(cls)
            report.info(cls.name, "not probed: no Starfleet token")

    # 4. one short request per provider
    answered_by_sim: list[bool] = []
    if probes:
        names = tuple(cls.name for cls in probes)
        with Session(settings.model_copy(update={"provider_order": names})) as session:
            answered_by_sim = [_probe(report, session, cls) for cls in probes]
    elif report.failures == 0:
        report.fail("providers", "nothing to probe", "configure NIM or the gateway in .env")
    if simulated and report.failures == 0:
        report.info("note", f"this was the simulator; run `{prog} check` for your real setup")
    elif not simulated and probes and any(answered_by_sim):
        report.info(
            "note",
            f"these answers came from the nvgw_nb SIMULATOR (e.g. `{prog} sim`), not the real "
            "endpoints: unset its exported variables to check your real setup",
        )
    return report.verdict()


def _near_miss_lines(
    report: CheckReport, settings: Settings, classes: list[type[Provider]]
) -> None:
    """The providers left out for want of credentials, and variables set under a name
    nvgw_nb does not read but that is close to one it does (names only, never values).
    A near miss of a missing credential is said on that credential's [FAIL] line instead."""
    missing = {v for cls in classes for v in cls.missing_credentials(settings)}
    misses = {k: v for k, v in settings.near_misses.items() if v not in missing}
    for name in left_out(settings):
        variables = registry.provider_class(name).key_variables
        hint = did_you_mean(misses, variables)
        report.info(
            name, f"left out: {' and '.join(variables)} not set" + (f" ({hint})" if hint else "")
        )
        misses = {k: v for k, v in misses.items() if v not in variables}
    for name, meant in misses.items():
        report.info(name, f"is set, but nvgw_nb reads no such variable; did you mean {meant}?")


def _credentials_ok(
    report: CheckReport, cls: type[Provider], settings: Settings, prog: str
) -> bool:
    if cls.external and not settings.allow_external:
        report.fail(
            cls.name,
            "external providers are off: requests go only to NVIDIA endpoints unless "
            "NVGW_ALLOW_EXTERNAL=true",
            "set NVGW_ALLOW_EXTERNAL=true, or remove it from NVGW_PROVIDER_ORDER",
        )
        return False
    try:
        cls.from_settings(settings)
    except MissingCredentials as err:
        verb = "is not set" if len(err.variables) == 1 else "are not set"
        hint = did_you_mean(settings.near_misses, err.variables)
        report.fail(
            " and ".join(err.variables),
            f"{verb} ({hint})" if hint else verb,
            f"{err.hint} (or try `{prog} check --sim`)",
        )
        return False
    except ConfigError as err:
        report.fail(cls.name, str(err))
        return False
    if cls.key_variables:
        verb = "is set" if len(cls.key_variables) == 1 else "are set"
        note = cls.credentials_note(settings)
        report.ok(", ".join(cls.key_variables), f"{verb} ({note})" if note else verb)
    return True


def _network_lines(
    report: CheckReport, network: Network, classes: list[type[Provider]], settings: Settings
) -> None:
    """One line per provider: the proxy its requests (and its token requests) go through
    and the CA certificates trusted; the proxy's host only, never its credentials."""
    trust = network.describe_trust()
    for cls in classes:
        url = settings.url(cls.base_url_variable, cls.default_base_url)
        where = [f"requests {network.describe_proxy(url)}"]
        try:
            auth = cls.auth_from_settings(settings)
        except NvgwError:  # missing credentials: the next step reports them
            auth = None
        if isinstance(auth, StarfleetAuth) and auth.token_url:
            where.append(f"token requests {network.describe_proxy(auth.token_url)}")
        report.info(f"{cls.name} network", f"{', '.join(where)}; CA: {trust}")


def _token_ok(
    report: CheckReport,
    cls: type[Provider],
    auth: StarfleetAuth,
    settings: Settings,
    network: Network,
) -> bool:
    """Fetch one Starfleet token (the integration guide's "test authentication" step), through the
    proxy and with the CAs a Session would use."""
    what = f"Starfleet token ({auth.token_host})"
    timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
    request = auth.build_token_request()
    proxy = network.proxy_for(request.url)
    if network.proxies:  # for the wording of a failure, as the transports note it
        request.extensions[PROXY_EXTENSION] = proxy.describe() if proxy else ""
    try:
        with httpx.Client(
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            verify=network.ssl_context,
            proxy=proxy.url if proxy else None,
        ) as client:
            # the flow's own fetch: NVGW_TOKEN_AUTH and the token body limits apply
            auth.fetch_token(client, extensions=request.extensions)
    except httpx.HTTPError as err:
        # The error is worded as the Session words it: host, proxy, TLS; never the request.
        error = transport_error(err, cls.name, 0.0, auth)
        report.fail(what, str(error), "check STARFLEET_TOKEN_URL, your network and VPN")
        return False
    except AuthError as err:
        variables = ", ".join(cls.key_variables)
        report.fail(what, str(err), f"check {variables} and STARFLEET_TOKEN_URL")
        return False
    left = auth.cache.seconds_left() or 0.0
    report.ok(what, f"fetched, valid for {left:.0f} s")
    return True


def _fix(cls: type[Provider], err: NvgwError) -> str:
    """What to do about a failed probe, from the provider's own facts."""
    if isinstance(err, AuthError):
        return f"check {', '.join(cls.key_variables)} and NVGW_TOKEN_SCOPE"
    if isinstance(err, ProviderAuthError):
        return getattr(cls, "auth_hint", None) or cls.setup_hint
    if isinstance(err, ModelNotFound):
        return cls.model_hint
    if isinstance(err, TLSError):
        return "the message says what the certificate failed; NVGW_CA_BUNDLE adds a CA"
    if isinstance(err, ProviderUnreachable):
        return f"check {cls.base_url_variable}, your network and VPN"
    if isinstance(err, ProviderTimeout) and err.phase == "connect":
        return f"check {cls.base_url_variable} and the proxy (NVGW_PROXY, HTTPS_PROXY, NO_PROXY)"
    if isinstance(err, ProviderTimeout):
        return f"{cls.name} is slow or down; try again, or raise NVGW_READ_TIMEOUT"
    return "see the message; try again if it was transient"


def _endpoints(settings: Settings, classes: list[type[Provider]]) -> str:
    """ "real endpoints", or what loopback URLs mean: a simulator on this machine."""
    hosts = [
        urlsplit(settings.url(cls.base_url_variable, cls.default_base_url)).hostname or ""
        for cls in classes
    ]
    if hosts and all(is_loopback(host) for host in hosts):
        return "endpoints on this machine (127.0.0.1: a simulator such as `nvgw-nb sim`?)"
    return "real endpoints"


def _probe(report: CheckReport, session: Session, cls: type[Provider]) -> bool:
    """Probe one provider; whether its answer came from the simulator."""
    try:
        result = session.chat(PROBE_PROMPT, providers=[cls.name], fallbacks=False, max_tokens=16)
    except NvgwError as err:
        report.fail(cls.name, str(err), _fix(cls, err))
        return False
    tries = len(result.attempts)
    correlation = f", correlationId {result.correlation_id}" if result.correlation_id else ""
    report.ok(
        cls.name,
        f"{result.model} answered in {result.latency_s:.2f} s "
        f"({tries} attempt{'s' if tries != 1 else ''}{correlation})"
        f"{' [simulated]' if result.simulated else ''}",
    )
    return result.simulated
