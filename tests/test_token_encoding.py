"""Starfleet's Basic encoding end to end, and token bodies that must not hurt.

Table: token server (the simulator in each strictness; stdlib servers that compare the
header as sent or form-decode it) x NVGW_TOKEN_AUTH x a secret with and without
`+ / = :`. Each row checks who gets a token, how many token requests were made, what
`token_status()` says, and that the secret is in no log line and no error. Then hostile
token bodies (huge, endless, 100k deep, trickling, a gzip bomb) end as an AuthError
within the deadline.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote_plus

import pytest

import nvgw_nb as nv
from nvgw_nb.sim.credentials import SimCredentials
from tests.token_servers import Hostile, TokenServer

GW = "nvidia-gateway"
CLIENT_ID = "sim-client-0a1b2c"
SPECIAL = "s3+cr/et==:x"  # every character form-encoding changes, and a colon
PLAIN = "s3cret-plain_1"

pytestmark = pytest.mark.timeout(30)


@dataclass(frozen=True)
class Row:
    """One server, one setting, one secret, and what should happen."""

    server: str  # sim-either, sim-form, sim-raw, stdlib-raw, stdlib-form
    token_auth: str
    secret: str
    ok: bool
    token_requests: int
    encoding: str | None

    def __str__(self) -> str:
        kind = "special" if self.secret == SPECIAL else "plain"
        return f"{self.server}-{self.token_auth}-{kind}"


def _rows() -> list[Row]:
    """The expected outcome of every combination."""
    rows = []
    for server in ("sim-either", "sim-form", "sim-raw", "stdlib-raw", "stdlib-form"):
        accepts = server.split("-")[1]  # either, form or raw
        for token_auth in ("auto", "form", "raw"):
            # same header either way: one request, and it works everywhere
            plain = "form" if token_auth == "auto" else token_auth
            rows.append(Row(server, token_auth, PLAIN, True, 1, plain))
            if token_auth == "auto":
                # form first; a raw-only server turns it down, then raw is tried once
                raw_only = accepts == "raw"
                rows.append(
                    Row(server, "auto", SPECIAL, True, 2 if raw_only else 1,
                        "raw" if raw_only else "form")
                )  # fmt: skip
            else:
                ok = accepts in ("either", token_auth)
                rows.append(Row(server, token_auth, SPECIAL, ok, 1, token_auth))
    return rows


@contextmanager
def _session(row: Row, secret: str | None = None) -> Iterator[tuple[nv.Session, object]]:
    """A gateway-only Session against `row.server`, and the server (for its counters)."""
    secret = secret if secret is not None else row.secret
    kind, accepts = row.server.split("-")
    if kind == "sim":
        creds = dataclasses.replace(
            SimCredentials.generate(), client_id=CLIENT_ID, client_secret=row.secret
        )
        with nv.Simulator(seed=3, time_scale=0, token_auth=accepts, credentials=creds) as sim:
            env = {**sim.env(), "NVGW_TOKEN_AUTH": row.token_auth, "STARFLEET_SECRET": secret}
            with nv.Session.from_env(env=env, env_file=None, provider_order=[GW]) as session:
                yield session, sim
        return
    server = TokenServer(CLIENT_ID, row.secret, check=accepts)  # type: ignore[arg-type]
    with server:
        env = {**server.env(row.token_auth), "STARFLEET_SECRET": secret}
        with nv.Session.from_env(env=env, env_file=None, provider_order=[GW]) as session:
            yield session, server


def _token_requests(server: object) -> int:
    if isinstance(server, TokenServer):
        return server.token_requests
    assert isinstance(server, nv.Simulator)
    return int(server.stats()["requests"]["starfleet"]["token"])


def _secret_forms(secret: str) -> list[str]:
    """The secret as it could leak: as is, form-encoded, and in either Basic header."""
    forms = [secret, quote_plus(secret)]
    for user, password in ((CLIENT_ID, secret), (CLIENT_ID, quote_plus(secret))):
        forms.append(base64.b64encode(f"{user}:{password}".encode()).decode())
    return forms


@pytest.mark.parametrize("row", _rows(), ids=str)
def test_who_gets_a_token(row: Row, caplog: pytest.LogCaptureFixture) -> None:
    """Token or AuthError, token requests made and token_status(), per server and setting."""
    caplog.set_level(logging.DEBUG)
    error: nv.NvgwError | None = None
    with _session(row) as (session, server):
        try:
            result = session.chat("hi", providers=[GW])
        except nv.NvgwError as err:
            error = err
        status = session.token_status()
        requests = _token_requests(server)
    if row.ok:
        assert error is None, error
        assert result.served_by == GW
    else:
        assert isinstance(error, nv.AuthError)
        assert "invalid_client" in str(error)
    assert requests == row.token_requests
    assert status["token_auth"] == row.token_auth
    assert status["encoding"] == row.encoding
    assert status["held"] is row.ok
    shown = caplog.text + str(error) + repr(error) + repr(status)
    for form in _secret_forms(row.secret):
        assert form not in shown


@pytest.mark.parametrize("server", ["sim-either", "stdlib-raw", "stdlib-form"])
def test_a_wrong_secret_is_tried_in_both_encodings_once(server: str) -> None:
    """auto with a wrong secret: two token requests, an AuthError, no encoding learned."""
    row = Row(server, "auto", SPECIAL, False, 2, None)
    with _session(row, secret="wr+ong/=") as (session, srv):
        with pytest.raises(nv.AuthError, match="check STARFLEET_ID and STARFLEET_SECRET"):
            session.chat("hi", providers=[GW])
        assert _token_requests(srv) == 2
        assert session.token_status()["encoding"] is None


def test_the_learned_encoding_is_kept_for_the_session() -> None:
    """Once raw worked, later fetches send raw only: one request per refresh."""
    row = Row("stdlib-raw", "auto", SPECIAL, True, 2, "raw")
    with _session(row) as (session, server):
        session.chat("hi", providers=[GW])
        assert isinstance(server, TokenServer)
        server.tokens.clear()  # the gateway turns the token down: one refresh follows
        session.chat("again", providers=[GW])
        assert server.token_requests == 3
        assert session.token_status()["encoding"] == "raw"


def test_the_guide_s_own_request_works_against_the_simulator() -> None:
    """`httpx.post(url, auth=(id, secret))` gets a token from `nv.Simulator` by default."""
    import httpx

    with nv.Simulator(seed=1, time_scale=0) as sim:
        env = sim.env()
        response = httpx.post(
            env["STARFLEET_TOKEN_URL"],
            auth=(env["STARFLEET_ID"], env["STARFLEET_SECRET"]),
            data={"grant_type": "client_credentials", "scope": "azureopenai-readwrite"},
        )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


# --- hostile token bodies ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("hostile", "settings", "says"),
    [
        ("huge", {}, "over 65536 bytes"),
        ("endless", {}, "over 65536 bytes"),
        ("gzip-bomb", {}, "over 65536 bytes"),
        ("deep", {}, "over 65536 bytes"),
        ("deep", {"NVGW_MAX_TOKEN_BYTES": str(1024 * 1024)}, "nested deeper than 100"),
        ("deep-401", {"NVGW_MAX_TOKEN_BYTES": str(1024 * 1024)}, "HTTP 401"),
        ("trickle", {"NVGW_READ_TIMEOUT": "1"}, "too slowly"),
    ],
)
def test_hostile_token_bodies_are_auth_errors(
    hostile: Hostile, settings: dict[str, str], says: str
) -> None:
    """A token body that is too big, endless, too deep or too slow is an AuthError, soon."""
    with TokenServer(CLIENT_ID, PLAIN, hostile=hostile) as server:
        env = {**server.env("auto"), "NVGW_MAX_RETRIES": "0", **settings}
        with nv.Session.from_env(env=env, env_file=None, provider_order=[GW]) as session:
            started = time.monotonic()
            with pytest.raises(nv.AuthError) as info:
                session.chat("hi", providers=[GW])
            elapsed = time.monotonic() - started
    assert says in str(info.value)
    assert elapsed < 3.0
    assert server.token_requests == 1


def test_a_trickling_token_body_ends_at_the_attempt_deadline() -> None:
    """With a longer read timeout, the attempt deadline still ends the trickle."""
    with TokenServer(CLIENT_ID, PLAIN, hostile="trickle") as server:
        env = {
            **server.env("auto"),
            "NVGW_MAX_RETRIES": "0",
            "NVGW_READ_TIMEOUT": "30",
            "NVGW_ATTEMPT_DEADLINE": "1",
        }
        with nv.Session.from_env(env=env, env_file=None, provider_order=[GW]) as session:
            started = time.monotonic()
            with pytest.raises((nv.ProviderTimeout, nv.AuthError)):
                session.chat("hi", providers=[GW])
            elapsed = time.monotonic() - started
    assert elapsed < 2.0


_CHILD = """
import sys
import nvgw_nb as nv
from tests.token_servers import TokenServer
for kind in sys.argv[1:]:
    server = TokenServer("id", "pw", hostile=kind)
    server.bomb_mib = 512  # 512 MiB decoded from ~0.5 MiB on the wire
    with server:
        env = {**server.env("auto"), "NVGW_MAX_RETRIES": "0", "NVGW_READ_TIMEOUT": "2",
               "NVGW_MAX_TOKEN_BYTES": str(1024 * 1024)}
        with nv.Session.from_env(env=env, env_file=None, provider_order=["nvidia-gateway"]) as s:
            try:
                s.chat("hi", providers=["nvidia-gateway"])
            except nv.AuthError:
                print(kind, "AuthError", flush=True)
# VmHWM: this process's own peak (ru_maxrss would count the forking parent's too)
status = open("/proc/self/status").read()
print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
"""


def test_hostile_token_bodies_stay_small_in_memory() -> None:
    """In a fresh process: huge, endless and bomb token bodies stay under 100 MB of RSS."""
    kinds = ["huge", "endless", "gzip-bomb"]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *kinds],
        capture_output=True,
        text=True,
        timeout=25,
        check=True,
    )
    *lines, peak_mb = done.stdout.split()[-(2 * len(kinds) + 1) :]
    assert lines == [word for kind in kinds for word in (kind, "AuthError")]
    assert int(peak_mb) < 100, done.stdout + done.stderr


def test_check_fetches_its_token_the_same_way() -> None:
    """`nvgw-nb check` against a raw-comparing server: form, then raw, and fetched."""
    import io

    from nvgw_nb.setup_check import run_check

    out = io.StringIO()
    with TokenServer(CLIENT_ID, SPECIAL, check="raw") as server:
        run_check(out, env=server.env("auto"), env_file=None)
    # form then raw for the token step, and again for the probe's own Session
    assert server.token_requests == 4
    line = next(x for x in out.getvalue().splitlines() if "Starfleet token" in x)
    assert "fetched, valid for" in line
    assert SPECIAL not in out.getvalue()


def test_the_sim_command_can_be_strict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nvgw-nb sim --token-auth raw`: the raw encoding gets a token, the form one 401."""
    import shlex

    import httpx

    from nvgw_nb import cli
    from nvgw_nb.sim import command

    statuses: dict[str, int] = {}

    def fake_wait() -> None:
        env = {}
        for line in capsys.readouterr().out.splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                env[name] = shlex.split(value)[0]
        cid, secret = env["STARFLEET_ID"], env["STARFLEET_SECRET"]
        form = {"grant_type": "client_credentials", "scope": "azureopenai-readwrite"}
        url = env["STARFLEET_TOKEN_URL"]
        statuses["raw"] = httpx.post(url, auth=(cid, secret), data=form).status_code
        encoded = (quote_plus(cid), quote_plus(secret))
        statuses["form"] = httpx.post(url, auth=encoded, data=form).status_code
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "wait_for_interrupt", fake_wait)
    assert cli.main(["sim", "--time-scale", "0", "--token-auth", "raw"]) == 0
    assert statuses == {"raw": 200, "form": 401}


def test_t4_rejects_the_client_in_either_encoding() -> None:
    """T4 means wrong credentials: auto's second try in the other encoding is refused too."""
    with nv.Simulator(seed=5, time_scale=0) as sim:
        sim.inject("starfleet", "T4")
        with sim.session(provider_order=[GW]) as session:
            with pytest.raises(nv.AuthError, match="invalid_client"):
                session.chat("hi", providers=[GW])
            assert session.token_status()["encoding"] is None
        stats = sim.stats()
    assert stats["requests"]["starfleet"]["token"] == 2
    assert stats["faults_fired"]["starfleet"] == {"T4": 1}
