"""The response cache: answers kept in a SQLite file, keyed by a fingerprint of the request.

>>> session = nv.Session.from_env(cache="responses.sqlite")   # doctest: +SKIP
>>> session.chat("Summarise this diff: ...").cached            # doctest: +SKIP
False
>>> session.chat("Summarise this diff: ...").cached            # doctest: +SKIP
True

**Keys are request fingerprints**: the sha256 of the canonical JSON (sorted keys, no
whitespace) of the normalised request — provider, model, messages, tools, tool_choice,
temperature, top_p, max_tokens, stop, seed and response_format (its JSON schema). Not
part of the key: whether the call streams, credentials, URLs, correlation ids.

**What the file holds**: per answer, the key, provider and model, the normalised request
(so the *prompts*), the `ChatResult` as JSON (the answer, usage, the attempt trace with
endpoints as host and path, correlation ids) and when it was stored and replayed. Never a
credential: no key, secret or token is part of a request or a result. Treat the file like
the prompts and answers it holds: a file the cache creates is readable by its owner
only, as are its -wal and -shm files (see `nvgw_nb.private_files` to share it).

One file may be shared by several processes: SQLite in WAL mode (readers never wait,
writers take turns, a busy timeout instead of "database is locked"). A replay is a read
only: its hit is counted in memory and written later, when this process next writes
(`put`), reads the counts (`stats`), or closes the cache — never while another process's
write would make the replay wait. Only successful answers are stored; failures, partial
streams and rejected answers never are.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from nvgw_nb.errors import ConfigError
from nvgw_nb.private_files import create_private
from nvgw_nb.results import ChatRequest, ChatResult

__all__ = [
    "DEFAULT_CACHE_PATH",
    "CacheKey",
    "CacheStats",
    "ModelCount",
    "ResponseCache",
    "open_cache",
]

logger = logging.getLogger("nvgw_nb")

#: `PRAGMA application_id` of a response cache ("nvgc"): tells our file from any other
APPLICATION_ID = 0x6E766763
#: `PRAGMA user_version`: bump it (and migrate in `_prepare`) when the table changes
SCHEMA_VERSION = 1
#: bump when what goes into a key changes: old entries then simply stop matching
KEY_VERSION = 1
#: default seconds a write waits for another process's write before giving up
BUSY_TIMEOUT_S = 10.0
#: the file of `Session(cache=True)` and `nvgw-nb cache` when NVGW_CACHE is not set
DEFAULT_CACHE_PATH = "responses.sqlite"

_SCHEMA = (
    """CREATE TABLE responses (
        key         TEXT PRIMARY KEY,
        provider    TEXT NOT NULL,
        model       TEXT NOT NULL,
        request     TEXT NOT NULL,
        result      TEXT NOT NULL,
        created_at  REAL NOT NULL,
        hits        INTEGER NOT NULL DEFAULT 0,
        last_hit_at REAL
    )""",
    "CREATE INDEX responses_by_model ON responses (provider, model)",
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


@dataclass(frozen=True)
class CacheKey:
    """The fingerprint of one request to one provider and model.

    >>> key = CacheKey.of(request, "nvidia-nim", "gpt-4o-mini")  # doctest: +SKIP
    >>> len(key.digest)                                          # doctest: +SKIP
    64
    """

    provider: str
    model: str
    #: the canonical JSON that was hashed (it holds the prompts)
    material: str
    digest: str

    @classmethod
    def of(cls, request: ChatRequest, provider: str, model: str, salt: str = "") -> CacheKey:
        """The key of `request` sent to `provider` as `model` (the stream flag is ignored);
        a `salt` (an experiment's repeat index) keeps otherwise equal calls apart."""
        # Every wire field but `stream`, unset ones dropped: a field added to ChatRequest
        # later is part of new keys without changing the keys already stored.
        body = request.model_dump(mode="json", exclude={"stream"}, exclude_none=True)
        fields = {"v": KEY_VERSION, "provider": provider, "model": model, "request": body}
        if salt:  # unsalted keys stay as they were, so existing caches still replay
            fields["salt"] = salt
        material = json.dumps(
            fields,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest = hashlib.sha256(material.encode("utf-8")).hexdigest()
        return cls(provider=provider, model=model, material=material, digest=digest)


@dataclass(frozen=True)
class ModelCount:
    """Entries and replays of one provider and model."""

    provider: str
    model: str
    entries: int
    hits: int


@dataclass(frozen=True)
class CacheStats:
    """What a response cache holds; `str(stats)` is a small table."""

    path: Path
    entries: int
    #: lookups that found an entry, summed over the entries there are now
    hits: int
    #: the file with its write-ahead log and shared-memory index
    size_bytes: int
    oldest: datetime | None
    newest: datetime | None
    by_model: tuple[ModelCount, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 (UTC), the path as a string."""
        return {
            "path": str(self.path),
            "entries": self.entries,
            "hits": self.hits,
            "size_bytes": self.size_bytes,
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "newest": self.newest.isoformat() if self.newest else None,
            "by_model": [vars(m) for m in self.by_model],
        }

    def __str__(self) -> str:
        lines = [
            f"{self.path}: {self.entries} entr{'y' if self.entries == 1 else 'ies'}, "
            f"{self.hits} hit{'' if self.hits == 1 else 's'}, {_size(self.size_bytes)} on disk"
        ]
        if self.oldest is not None and self.newest is not None:
            lines.append(f"stored from {_when(self.oldest)} to {_when(self.newest)}")
        if self.by_model:
            rows = [("provider", "model", "entries", "hits")] + [
                (m.provider, m.model, str(m.entries), str(m.hits)) for m in self.by_model
            ]
            widths = [max(len(row[i]) for row in rows) for i in range(4)]
            for row in rows:
                cells = [
                    cell.rjust(w) if i >= 2 else cell.ljust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                ]
                lines.append("  " + "  ".join(cells).rstrip())
        return "\n".join(lines)


class ResponseCache:
    """Answers by request fingerprint in a SQLite file, safe for several processes.

    Opening creates the file (its directory must exist) or checks that an existing one
    is a response cache: anything else raises `ConfigError` and is left untouched.
    One connection, used by one thread at a time; `close()` (or `with`) releases it.

    >>> with ResponseCache("responses.sqlite") as cache:    # doctest: +SKIP
    ...     print(cache.stats())
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._timeout_s = timeout_s
        #: hits not written yet: key → (count, time of the last one)
        self._hits: dict[str, tuple[int, float]] = {}
        self._conn: sqlite3.Connection | None = _open(self.path, timeout_s)
        # A cache nobody closed is closed when collected, quietly (no ResourceWarning).
        self._finalizer = weakref.finalize(self, self._conn.close)

    # --- entries ------------------------------------------------------------------------
    def get(self, key: CacheKey | str) -> ChatResult | None:
        """The stored result (as recorded: `cached` is False), or None; counts a hit.

        A read only: the hit is counted in memory (written by a later `put`, `stats` or
        `close`), so a replay never waits for another process's write.
        """
        digest = key.digest if isinstance(key, CacheKey) else key
        with self._connection() as conn:
            row = conn.execute("SELECT result FROM responses WHERE key = ?", (digest,)).fetchone()
            if row is None:
                return None
            count, _ = self._hits.get(digest, (0, 0.0))
            self._hits[digest] = (count + 1, time.time())
        try:
            return ChatResult.model_validate_json(row[0])
        except ValidationError:
            # Written by another version, or edited: a miss; the next answer replaces it.
            logger.warning("response cache %s: entry %s unreadable; ignoring it", self.path, digest)
            return None

    def put(self, key: CacheKey, result: ChatResult) -> None:
        """Store a successful `result` under `key`, replacing what was there."""
        if result.cached:
            raise ValueError("a cached replay is not stored again: put the recorded result")
        with self._connection() as conn:
            self._flush_hits(conn, wait=False)  # a writer anyway: take the chance
            conn.execute(
                "INSERT OR REPLACE INTO responses "
                "(key, provider, model, request, result, created_at, hits, last_hit_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 0, NULL)",
                (
                    key.digest,
                    key.provider,
                    key.model,
                    key.material,
                    result.model_dump_json(),
                    time.time(),
                ),
            )

    def __len__(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT count(*) FROM responses").fetchone()[0])

    def stats(self) -> CacheStats:
        """Entries, hits, size on disk, oldest and newest entry, counts per provider/model."""
        with self._connection() as conn:
            self._flush_hits(conn, wait=True)
            entries, hits, oldest, newest = conn.execute(
                "SELECT count(*), coalesce(sum(hits), 0), min(created_at), max(created_at) "
                "FROM responses"
            ).fetchone()
            rows = conn.execute(
                "SELECT provider, model, count(*), sum(hits) FROM responses "
                "GROUP BY provider, model ORDER BY provider, model"
            ).fetchall()
        return CacheStats(
            path=self.path,
            entries=int(entries),
            hits=int(hits),
            size_bytes=sum(
                p.stat().st_size
                for p in (self.path, _sibling(self.path, "-wal"), _sibling(self.path, "-shm"))
                if p.exists()
            ),
            oldest=_utc(oldest),
            newest=_utc(newest),
            by_model=tuple(ModelCount(str(p), str(m), int(n), int(h)) for p, m, n, h in rows),
        )

    def clear(self) -> int:
        """Delete every entry and give the space back; returns how many were deleted."""
        with self._connection() as conn:
            self._hits.clear()
            deleted = conn.execute("DELETE FROM responses").rowcount
            # Shrinking needs a moment alone with the file; with another process reading
            # it, the space is reused later instead.
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("VACUUM")
            except sqlite3.OperationalError as err:
                logger.info("response cache %s emptied but not shrunk: %s", self.path, err)
        return int(deleted)

    # --- lifetime -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        """Write the hits counted so far, close the connection (idempotent); later use
        raises ValueError."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):  # counts are not worth a failure
                    self._flush_hits(conn, wait=True)
        if conn is not None:
            self._finalizer.detach()
            conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ResponseCache {str(self.path)!r}{' closed' if self.closed else ''}>"

    def _flush_hits(self, conn: sqlite3.Connection, *, wait: bool) -> None:
        """Write the hits counted in memory. `wait=False`: only if no other process is
        writing right now (else they stay counted for the next chance)."""
        if not self._hits:
            return
        pending = dict(self._hits)
        if not wait:
            conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "UPDATE responses SET hits = hits + ?, "
                "last_hit_at = max(coalesce(last_hit_at, 0), ?) WHERE key = ?",
                [(count, at, digest) for digest, (count, at) in pending.items()],
            )
            conn.execute("COMMIT")
        except sqlite3.OperationalError as err:  # busy, or read-only: keep counting
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if wait:
                logger.info("response cache %s: hit counts not written: %s", self.path, err)
            return
        finally:
            if not wait:
                conn.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
        for digest in pending:
            self._hits.pop(digest, None)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise ValueError(f"the response cache {self.path} is closed")
            yield self._conn


# --- opening --------------------------------------------------------------------------------
def _open(path: Path, timeout_s: float) -> sqlite3.Connection:
    if path.is_dir():
        raise ConfigError(
            f"response cache {path} is a directory; name a file, e.g. {path}/x.sqlite"
        )
    if not path.parent.is_dir():
        raise ConfigError(
            f"cannot create the response cache {path}: the directory {path.parent} does not exist"
        )
    try:
        create_private(path)  # before SQLite makes it 0644: its -wal and -shm follow its mode
    except OSError as err:
        raise ConfigError(
            f"cannot create the response cache {path}: {err.strerror or err}"
        ) from None
    try:
        # Autocommit: each statement is its own short transaction, so a lock is never held
        # across an await or upgraded from read to write (which would not wait, but fail).
        conn = sqlite3.connect(
            path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as err:
        raise ConfigError(f"cannot open the response cache {path}: {err}") from None
    try:
        _prepare(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Check the file is ours (or empty: make it ours), then switch on WAL."""
    fix = "choose another path, or move that file away"
    try:
        owner = _application_id(conn)
        if owner == 0:
            conn.execute("BEGIN IMMEDIATE")  # another process may be creating it too
            try:
                owner = _application_id(conn)
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if owner == 0 and tables == 0:
                    # One transaction (not executescript, which commits first): another
                    # process sees no file, or a whole cache.
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute("COMMIT")
                    owner = APPLICATION_ID
                else:
                    conn.execute("ROLLBACK")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        if owner != APPLICATION_ID:
            raise ConfigError(
                f"{path} is an SQLite database but not an nvgw_nb response cache; {fix}"
            )
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"the response cache {path} was written by a newer nvgw_nb (schema "
                f"{version}, this one reads {SCHEMA_VERSION}); upgrade nvgw_nb or {fix}"
            )
        mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        if mode != "wal":
            logger.warning(
                "response cache %s: WAL mode unavailable (journal_mode=%s), e.g. on a network "
                "file system; concurrent processes will wait for each other",
                path,
                mode,
            )
        # WAL + NORMAL: a commit is durable once the log is checkpointed; losing the last
        # answers to a power cut costs only a re-ask, and commits stay fast.
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as err:
        if "not a database" in str(err) or "malformed" in str(err):
            raise ConfigError(
                f"{path} is not an nvgw_nb response cache (not an SQLite database: {err}); {fix}"
            ) from None
        raise ConfigError(f"cannot use the response cache {path}: {err}") from None


def _application_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA application_id").fetchone()[0])


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=timezone.utc)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def open_cache(
    cache: str | os.PathLike[str] | ResponseCache | bool | None, configured: str | None
) -> tuple[ResponseCache | None, bool]:
    """A Session's cache from its `cache=` argument, and whether the Session owns it.

    A path opens a cache the Session closes with it; a `ResponseCache` passed in stays the
    caller's (it may serve other Sessions too). None → NVGW_CACHE (`configured`), or none;
    True → NVGW_CACHE, else responses.sqlite; False → none, whatever NVGW_CACHE says.
    """
    if isinstance(cache, ResponseCache):
        return cache, False
    where: str | os.PathLike[str] | None
    if cache is None or cache is False:
        where = configured if cache is None else None
    elif cache is True:
        where = configured or DEFAULT_CACHE_PATH
    else:
        where = cache
    return (ResponseCache(where), True) if where is not None else (None, False)
