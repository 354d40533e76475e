"""The Elasticsearch backend: the same index interface on a cluster, with nothing lost in outages.

Layout (see :mod:`core.index.es_mapping`): one document per song with a ``nested`` array of
segments, each holding one embedder's vector. ``config.index`` (``humbot-songs``) is an *alias*
of a versioned concrete index (``humbot-songs-v1``, ``-v2``, …): :meth:`rebuild` fills a new
concrete index and switches the alias in one atomic ``_aliases`` call, so searches keep working
on the old index until the switch.

Search: a top-level ``knn`` on ``segments.<embedder>`` with named ``inner_hits``; kNN over a
nested field ranks *parent* documents by their best child, so every hit is a distinct song and
the inner hit names the best segment (its ``start_ms`` is the offset). Several query vectors
(the melody embedder sends one per tempo ratio) must give each song its best (query, segment)
pair. Two ways, chosen by ``multi_query`` (``bench/bench_index.py`` measures both):

* ``msearch`` (default): one kNN search per query vector in one ``_msearch``; per song, the
  maximum over the searches. Each search returns its own top k; the true top k by maximum is
  contained in their union (a song that is best for query i is in query i's top k).
* ``knn_clauses``: one search with a ``knn`` clause per query vector, each with its own inner
  hits. Elasticsearch scores a song by the *sum* of its clause scores, so we ask for every song
  in the union and take, per song, the best inner-hit score ourselves.

Scores: a cosine field's ``_score`` is ``(1 + cos) / 2``; hits carry the cosine back.

Faults: searches run with ``search_timeout_s`` and no retries, and raise
:class:`~core.errors.BackendUnavailable` when the cluster cannot answer. Writes go straight to
the cluster (bulk helper, ``refresh=wait_for``: searchable on return), with the client's retries
and exponential backoff; when the cluster is still unreachable they go to a durable local queue
(:class:`~core.index.write_queue.WriteQueue`), replayed in order by a background task with
backoff, at :meth:`open`, and on :meth:`flush`. While writes are queued, new writes queue behind
them (so a queued delete can never overtake a later upsert of the same song). The index also
starts when the cluster is down (the bot keeps accepting uploads); its mapping is then checked
as soon as the cluster answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
from elastic_transport import AsyncTransport, ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError, TransportError
from elasticsearch.helpers import async_bulk, async_scan

from core.errors import BackendSlow, BackendTooOld, BackendUnavailable, IndexMismatch
from core.index import es_mapping as em
from core.index.base import VectorIndex
from core.index.write_queue import Write, WriteQueue, replay_retrying
from core.settings import ElasticsearchConfig
from core.types import EmbedderSpec, IndexHit, IndexStats, SearchFilter, Segments, Song

log = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 20 * 1024 * 1024  # per bulk request: well under http.max_content_length (100 MB)
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_TRANSIENT_TYPES = {
    "unavailable_shards_exception",
    "no_shard_available_action_exception",
    "cluster_block_exception",
    "es_rejected_execution_exception",
    "node_not_connected_exception",
    "node_closed_exception",
    "circuit_breaking_exception",
    "search_phase_execution_exception",
}


class _Unavailable(Exception):
    """Internal: the cluster cannot take this request now (connection, timeout, 5xx, 429)."""


def _error_type(e: ApiError) -> str:
    try:
        return str(e.body["error"]["type"])
    except (TypeError, KeyError):
        return ""


def _transient(e: BaseException) -> bool:
    if isinstance(e, TransportError):  # connection refused/reset, timeout, TLS: no HTTP answer at all
        return True
    if isinstance(e, ApiError):
        return e.status_code in _TRANSIENT_STATUS or _error_type(e) in _TRANSIENT_TYPES
    return False


def _version(text: str) -> tuple[int, int, int]:
    nums = [int(x) for x in re.findall(r"\d+", text.split("-")[0])[:3]]
    return tuple((nums + [0, 0, 0])[:3])  # type: ignore[return-value]


def _show(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def make_client(c: ElasticsearchConfig) -> AsyncElasticsearch:
    """A client for the cluster of ``c``: its hosts, auth, TLS, timeouts and retries (with backoff).

    Shared by every index on the cluster (songs' vectors, fingerprints).
    """
    auth: dict[str, Any] = {}
    if c.api_key is not None:
        auth["api_key"] = c.api_key.get_secret_value()
    elif c.username:
        auth["basic_auth"] = (c.username, c.password.get_secret_value() if c.password else "")
    tls: dict[str, Any] = {"verify_certs": c.verify_certs}
    if c.ca_certs is not None:
        tls["ca_certs"] = str(c.ca_certs)
    # Exponential backoff with full jitter between retries (0 in the transport's defaults).
    transport = functools.partial(
        AsyncTransport, retry_backoff_base=c.retry_backoff_s, retry_backoff_cap=c.retry_backoff_max_s
    )
    return AsyncElasticsearch(
        c.hosts,
        request_timeout=c.request_timeout_s,
        max_retries=c.max_retries,
        retry_on_timeout=True,
        # A factory, not a class: the client only calls it to build its transport.
        transport_class=cast("type[AsyncTransport]", transport),
        **auth,
        **tls,
    )


def fast(es: AsyncElasticsearch, c: ElasticsearchConfig) -> AsyncElasticsearch:
    """``es`` for requests a user waits on: ``c.search_timeout_s``, no retries."""
    return es.options(request_timeout=c.search_timeout_s, max_retries=0, retry_on_timeout=False)


class ClusterClient:
    """What an index on the cluster inherits: its client, made on first use (``_client()``: the
    configured timeouts and retries; ``_fast``: for what a user waits on), and ``_close_client``."""

    cfg: ElasticsearchConfig
    _es: AsyncElasticsearch | None = None

    def _client(self) -> AsyncElasticsearch:
        if self._es is None:
            self._es = make_client(self.cfg)
        return self._es

    @property
    def _fast(self) -> AsyncElasticsearch:
        """The client for requests a user waits on: short timeout, no retries."""
        return fast(self._client(), self.cfg)

    async def _bulk_apply(
        self, actions: list[dict[str, Any]], *, chunk_size: int, **options: Any
    ) -> list[dict[str, Any]]:
        """Apply ``actions`` with the bulk helper (each chunk retried with the configured backoff)
        and refresh, so they are searchable on return; the items the cluster refused, as
        ``{op: result}``. ``options`` go to :func:`elasticsearch.helpers.async_bulk`."""
        _, errors = await async_bulk(
            self._client(),
            actions,
            chunk_size=chunk_size,
            max_chunk_bytes=MAX_CHUNK_BYTES,
            raise_on_error=False,
            raise_on_exception=True,
            max_retries=self.cfg.max_retries,
            initial_backoff=self.cfg.retry_backoff_s,
            max_backoff=self.cfg.retry_backoff_max_s,
            refresh="true",
            **options,
        )
        return cast("list[dict[str, Any]]", errors)  # a list, as raise_on_error=False makes it

    async def _close_client(self) -> None:
        if self._es is not None:
            await self._es.close()
            self._es = None


async def server_version(es: AsyncElasticsearch) -> tuple[int, int, int]:
    """The oldest node's version; :class:`BackendTooOld` when the cluster is too old."""
    try:
        nodes = await es.nodes.info(node_id="_all", metric="_none", filter_path="nodes.*.version")
        versions = [_version(n["version"]) for n in nodes.get("nodes", {}).values()]
    except ApiError as e:
        if _error_type(e) == "media_type_header_exception" or "compatible-with=9" in str(e.body):
            # An 8.x (or older) server refusing the 9.x client's compatibility header.
            raise BackendTooOld(found="8.x or older", needed=_show(em.MIN_SERVER_VERSION)) from e
        if e.status_code not in (401, 403, 404, 405):
            raise
        # No permission for the nodes API (a restricted API key): the root endpoint tells too.
        versions = [_version((await es.info())["version"]["number"])]
    v = min(versions) if versions else (0, 0, 0)
    if v < em.MIN_SERVER_VERSION:
        raise BackendTooOld(found=_show(v), needed=_show(em.MIN_SERVER_VERSION))
    return v


class ElasticsearchIndex(ClusterClient, VectorIndex):
    backend = "elasticsearch"

    def __init__(self, config: ElasticsearchConfig, data_dir: Path) -> None:
        self.cfg = config
        self.alias = config.index
        self.queue_path = config.queue_path or data_dir / "index" / "es-queue.db"
        self._es: AsyncElasticsearch | None = None
        self._queue: WriteQueue | None = None
        self._specs: dict[str, EmbedderSpec] = {}
        self._concrete: str | None = None  # verified: the alias points here and its mapping fits
        self._mismatch: str | None = None
        self._server: tuple[int, int, int] | None = None
        self._healthy = False
        self._last_error = ""
        self._rebuilding = False
        self._lock = asyncio.Lock()  # serialises writes and replays: the queue's order is the cluster's
        self._wake = asyncio.Event()
        self._replayer: asyncio.Task[None] | None = None

    # -- connection -----------------------------------------------------------------------
    def _mark_down(self, e: BaseException) -> None:
        if self._healthy:
            log.warning("Elasticsearch unavailable (%s): writes go to the local queue %s", e, self.queue_path)
        self._healthy = False
        self._last_error = str(e) or type(e).__name__
        self._wake.set()

    async def _server_version(self) -> tuple[int, int, int]:
        """The oldest node's version; :class:`BackendTooOld` when the cluster is too old."""
        self._server = await server_version(self._fast)
        return self._server

    # -- index lifecycle ------------------------------------------------------------------
    async def _concrete_indices(self) -> list[str]:
        """Concrete indices the alias points to ([] when it does not exist)."""
        try:
            return sorted(await self._fast.indices.get_alias(name=self.alias))
        except NotFoundError:
            return []

    async def _stored_meta(self, concrete: str) -> dict[str, Any] | None:
        m = await self._fast.indices.get_mapping(index=concrete)
        return (m[concrete]["mappings"].get("_meta") or {}).get("humbot")

    async def _next_concrete(self) -> str:
        existing = await self._client().indices.get(
            index=f"{self.alias}-v*",
            allow_no_indices=True,
            ignore_unavailable=True,
            filter_path="*.settings.index.uuid",
        )
        pattern = re.compile(re.escape(self.alias) + r"-v(\d+)")
        nums = [int(m.group(1)) for name in existing if (m := pattern.fullmatch(name))]
        return f"{self.alias}-v{max(nums, default=0) + 1}"

    def _body(self, specs: Mapping[str, EmbedderSpec], *, bulk_load: bool = False) -> dict[str, Any]:
        return em.index_body(
            specs,
            index_type=self.cfg.vector_index_type,
            shards=self.cfg.shards,
            replicas=self.cfg.replicas,
            bulk_load=bulk_load,
        )

    async def _create(
        self, name: str, specs: Mapping[str, EmbedderSpec], *, alias: bool, bulk_load: bool = False
    ) -> None:
        body = self._body(specs, bulk_load=bulk_load)
        await self._client().indices.create(
            index=name,
            settings=body["settings"],
            mappings=body["mappings"],
            aliases={self.alias: {}} if alias else None,
            wait_for_active_shards="1",
        )

    async def _switch_alias(self, new: str, old: list[str]) -> None:
        actions: list[dict[str, Any]] = [{"remove": {"index": o, "alias": self.alias}} for o in old]
        actions.append({"add": {"index": new, "alias": self.alias}})
        await self._client().indices.update_aliases(actions=actions)  # one atomic cluster-state change

    async def _verify(self) -> None:
        """Create the index on first use, or check that the existing one fits the embedders."""
        await self._server_version()
        self._mismatch = None
        for _ in range(3):  # another process may be creating it at the same moment
            concrete = await self._concrete_indices()
            if len(concrete) > 1:
                raise IndexMismatch(detail=f"alias {self.alias} points to several indices {concrete}")
            if concrete:
                stored = await self._stored_meta(concrete[0])
                why = em.mismatch(stored, self._specs, self.cfg.vector_index_type)
                if why is None:
                    self._concrete = concrete[0]
                    return
                count = (await self._fast.count(index=concrete[0]))["count"]
                if count:
                    self._mismatch = f"{concrete[0]}: {why}"
                    raise IndexMismatch(detail=self._mismatch)
                # An empty index simply adopts the configured embedders (as the local index does).
                log.info("empty index %s was built differently (%s): replacing it", concrete[0], why)
                new = await self._next_concrete()
                await self._create(new, self._specs, alias=False)
                await self._switch_alias(new, concrete)
                await self._client().indices.delete(index=concrete[0])
                self._concrete = new
                return
            if await self._client().indices.exists(index=self.alias):
                self._mismatch = (
                    f"{self.alias} is an index, not the alias humbot manages; delete it or set "
                    "index.elasticsearch.index to another name"
                )
                raise IndexMismatch(detail=self._mismatch)
            name = await self._next_concrete()
            try:
                await self._create(name, self._specs, alias=True)
                log.info("created Elasticsearch index %s (alias %s)", name, self.alias)
                self._concrete = name
                return
            except ApiError as e:
                if _error_type(e) != "resource_already_exists_exception":
                    raise
        raise BackendUnavailable()

    async def _ensure_verified(self) -> None:
        if self._mismatch is not None:
            raise IndexMismatch(detail=self._mismatch)
        if self._concrete is None:
            try:
                await self._verify()
            except Exception as e:
                if _transient(e):
                    raise _Unavailable(str(e)) from e
                raise

    async def open(self, embedders: Mapping[str, EmbedderSpec]) -> None:
        self._specs = dict(embedders)
        self._concrete = None
        self._mismatch = None
        self._client()
        if self._queue is None:
            self._queue = await asyncio.to_thread(WriteQueue, self.queue_path)
        try:
            async with self._lock:
                await self._ensure_verified()
                self._healthy = True
                await self._drain_locked()
        except _Unavailable as e:
            # Start anyway: uploads queue up, searches say "temporarily unavailable", and the
            # replayer checks the mapping and drains the queue once the cluster answers.
            self._mark_down(e)
        except BaseException:
            await self.close()
            raise
        if self._replayer is None or self._replayer.done():
            self._replayer = asyncio.create_task(self._replay_loop(), name="humbot-es-replayer")

    async def close(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._replayer
            self._replayer = None
        await self._close_client()
        if self._queue is not None:
            await asyncio.to_thread(self._queue.close)
            self._queue = None
        self._concrete = None

    # -- writes ---------------------------------------------------------------------------
    def _action(self, w: Write) -> dict[str, Any]:
        if w.kind == "delete":
            return {"_op_type": "delete", "_index": self.alias, "_id": w.song_id}
        assert w.song is not None and w.segments is not None
        doc = em.song_document(
            w.song,
            w.segments,
            self._specs,
            base64_vectors=(self._server or (0, 0, 0)) >= em.BASE64_VECTORS_SINCE,
        )
        return {"_op_type": "index", "_index": self.alias, "_id": w.song_id, "_source": doc}

    async def _apply(self, writes: list[Write]) -> tuple[list[int], dict[int, str], dict[str, bool]]:
        """Send ``writes`` in bulk; (applied seqs, seq → permanent error, song id → existed, for deletes).

        Raises :class:`_Unavailable` when the cluster did not take them all for a transient
        reason: the caller then keeps the whole batch queued and replays it later (idempotent).
        """
        actions = await asyncio.to_thread(lambda: [self._action(w) for w in writes])
        try:
            errors = await self._bulk_apply(
                actions,
                chunk_size=self.cfg.bulk_chunk_size,
                require_alias=True,  # never auto-create a dynamic-mapped index if the alias vanished
            )
        except Exception as e:
            if _transient(e):
                raise _Unavailable(str(e)) from e
            raise
        by_id = {w.song_id: w for w in writes}
        failed: dict[int, str] = {}
        existed = {w.song_id: True for w in writes}
        transient = []
        for item in errors:
            ((op, res),) = item.items()
            w = by_id[res["_id"]]
            status = int(res.get("status", 500))
            if op == "delete" and status == 404:
                existed[w.song_id] = False  # already gone: that is what a delete wants
            elif status in _TRANSIENT_STATUS or (res.get("error") or {}).get("type") in _TRANSIENT_TYPES:
                transient.append(res)
            else:
                failed[w.seq] = f"{status} {res.get('error')}"
        if transient:
            raise _Unavailable(f"{len(transient)} writes not taken: {transient[0].get('error')}")
        applied = [w.seq for w in writes if w.seq not in failed]
        return applied, failed, existed

    async def _drain_locked(self) -> int:
        """Replay queued writes in order (call with the lock held). Returns how many remain (0)."""
        assert self._queue is not None
        await self._ensure_verified()
        while batch := await asyncio.to_thread(self._queue.peek, self.cfg.bulk_chunk_size):
            applied, failed, _ = await self._apply(batch)
            for seq, err in failed.items():
                log.error(
                    "Elasticsearch rejected a queued write (kept in %s, table dead): %s", self.queue_path, err
                )
                await asyncio.to_thread(self._queue.bury, seq, err)
            await asyncio.to_thread(self._queue.remove, applied)
            log.info("replayed %d queued writes", len(applied))
        self._healthy = True
        return 0

    async def _write(self, w: Write) -> bool:
        assert self._queue is not None, "open() first"
        async with self._lock:
            if self._healthy and not self._rebuilding and await asyncio.to_thread(len, self._queue) == 0:
                try:
                    await self._ensure_verified()
                    _, failed, existed = await self._apply([w])
                    if failed:
                        raise RuntimeError(
                            f"Elasticsearch rejected the write of {w.song_id}: {failed[w.seq]}"
                        )
                    return existed[w.song_id]
                except _Unavailable as e:
                    self._mark_down(e)
            # Queue it: the cluster is down, a reindex is running, or earlier writes are waiting.
            if w.kind == "upsert":
                assert w.song is not None and w.segments is not None
                await asyncio.to_thread(self._queue.append_upsert, w.song, w.segments)
            else:
                await asyncio.to_thread(self._queue.append_delete, w.song_id)
            if self._healthy and not self._rebuilding:
                try:  # earlier writes were waiting but the cluster is up: apply them all now, in order
                    await self._drain_locked()
                except _Unavailable as e:
                    self._mark_down(e)
            self._wake.set()
            return True  # a queued delete: we cannot know yet whether the song was there

    async def upsert(self, song: Song, segments: Mapping[str, Segments]) -> None:
        await self._write(Write(0, "upsert", song.song_id, song, dict(segments)))

    async def delete(self, song_id: str) -> bool:
        return await self._write(Write(0, "delete", song_id))

    async def flush(self) -> int:
        """Replay queued writes now. Returns how many are still queued (0 unless the cluster is down)."""
        assert self._queue is not None, "open() first"
        async with self._lock:
            if not self._rebuilding:
                try:
                    await self._drain_locked()
                except _Unavailable as e:
                    self._mark_down(e)
            return await asyncio.to_thread(len, self._queue)

    async def _replay_loop(self) -> None:
        """Background: whenever writes are queued, retry with exponential backoff until they're in
        (:func:`~core.index.write_queue.replay_retrying`); an index needing ``humbot reindex``
        stops the replay until the next wake-up."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                async for attempt in replay_retrying(
                    self.cfg.retry_backoff_s,
                    self.cfg.retry_backoff_max_s,
                    give_up=(IndexMismatch,),
                    quiet=(_Unavailable,),
                    logger=log,
                ):
                    with attempt:
                        await self._replay_once()
            except IndexMismatch as e:
                log.error("queued writes wait for `humbot reindex`: %s", e)

    async def _replay_once(self) -> None:
        """One replay attempt; a rebuild in progress replays its own writes, so none is needed."""
        try:
            async with self._lock:
                if not self._rebuilding:
                    await self._drain_locked()
        except _Unavailable as e:
            self._mark_down(e)
            self._wake.clear()  # this retry loop is already on it
            raise

    # -- search ---------------------------------------------------------------------------
    @staticmethod
    def _filter(f: SearchFilter | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if f is None:
            return out
        if f.song_ids is not None:
            out.append({"ids": {"values": sorted(f.song_ids)}})
        if f.artist is not None:
            out.append({"term": {"artist": {"value": f.artist, "case_insensitive": True}}})
        if f.genre is not None:
            out.append({"term": {"genre": {"value": f.genre, "case_insensitive": True}}})
        return out

    def _knn(
        self, embedder: str, q: np.ndarray, k: int, filters: list[dict[str, Any]], name: str
    ) -> dict[str, Any]:
        clause: dict[str, Any] = {
            "field": f"segments.{embedder}",
            "query_vector": np.asarray(q, np.float32).tolist(),
            "k": k,
            "num_candidates": min(10_000, max(k, self.cfg.num_candidates)),
            # The best segment of each song, and where it starts: the offset.
            "inner_hits": {"name": name, "size": 1, "_source": False, "fields": ["segments.start_ms"]},
        }
        if filters:
            clause["filter"] = filters  # a pre-filter: still k songs when few pass
        return clause

    @staticmethod
    def _inner(hit: dict[str, Any], name: str) -> tuple[float, float] | None:
        """(cosine, offset in s) of a hit's best segment for clause ``name``."""
        inner = (hit.get("inner_hits") or {}).get(name, {}).get("hits", {}).get("hits") or []
        if not inner:
            return None
        best = inner[0]
        start_ms = 0
        for seg in (best.get("fields") or {}).get("segments") or []:
            start_ms = (seg.get("start_ms") or [0])[0]
        return 2.0 * float(best["_score"]) - 1.0, start_ms / 1000.0

    async def search(
        self, embedder: str, queries: np.ndarray, top_k: int, filters: SearchFilter | None = None
    ) -> list[IndexHit]:
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        if embedder not in self._specs or len(queries) == 0 or top_k <= 0:
            return []
        if filters is not None and filters.song_ids is not None and not filters.song_ids:
            return []
        try:
            await self._ensure_verified()
            if self.cfg.multi_query == "msearch" or len(queries) == 1:
                best = await self._search_msearch(embedder, queries, top_k, self._filter(filters))
            else:
                best = await self._search_knn_clauses(embedder, queries, top_k, self._filter(filters))
        except ConnectionTimeout as e:  # slow or hung: writes queue meanwhile, as for a node that is down
            log.warning("search timed out: %s", e)
            self._mark_down(e)
            raise BackendSlow() from e
        except (_Unavailable, TransportError) as e:
            log.warning("search unavailable: %s", e)
            self._mark_down(e)  # so the next upload goes straight to the queue, not into retries
            raise BackendUnavailable() from e
        except ApiError as e:
            if _transient(e):
                log.warning("search unavailable: %s", e)
                self._mark_down(e)
                raise BackendUnavailable() from e
            if _error_type(e) == "index_not_found_exception":
                raise IndexMismatch(detail=f"index {self.alias} not found") from e
            raise
        hits = [IndexHit(sid, score, off) for sid, (score, off) in best.items()]
        hits.sort(key=lambda h: (-h.score, h.song_id))
        return hits[:top_k]

    async def _search_msearch(
        self, embedder: str, queries: np.ndarray, k: int, filters: list[dict[str, Any]]
    ) -> dict[str, tuple[float, float]]:
        searches: list[dict[str, Any]] = []
        for q in queries:
            searches += [
                {"index": self.alias},
                {"knn": self._knn(embedder, q, k, filters, "best"), "size": k, "_source": False},
            ]
        resp = await self._fast.msearch(searches=searches)
        best: dict[str, tuple[float, float]] = {}
        for r in resp["responses"]:
            if "error" in r:
                raise ApiError(message=str(r["error"]), meta=resp.meta, body=r)
            for h in r["hits"]["hits"]:
                found = self._inner(h, "best")
                if found is None:
                    found = (2.0 * float(h["_score"]) - 1.0, 0.0)
                if h["_id"] not in best or found[0] > best[h["_id"]][0]:
                    best[h["_id"]] = found
        return best

    async def _search_knn_clauses(
        self, embedder: str, queries: np.ndarray, k: int, filters: list[dict[str, Any]]
    ) -> dict[str, tuple[float, float]]:
        names = [f"q{i}" for i in range(len(queries))]
        knn = [self._knn(embedder, q, k, filters, n) for q, n in zip(queries, names)]
        resp = await self._fast.search(
            index=self.alias, knn=knn, size=min(10_000, k * len(queries)), source=False
        )
        best: dict[str, tuple[float, float]] = {}
        for h in resp["hits"]["hits"]:
            for n in names:
                found = self._inner(h, n)
                if found is not None and (h["_id"] not in best or found[0] > best[h["_id"]][0]):
                    best[h["_id"]] = found
        return best

    # -- inspection -----------------------------------------------------------------------
    async def song_ids(self) -> set[str]:
        try:
            await self._ensure_verified()
            ids = {
                h["_id"]
                async for h in async_scan(
                    self._client(),
                    index=self.alias,
                    size=2000,
                    query={"query": {"match_all": {}}, "_source": False},
                )
            }
        except (_Unavailable, TransportError) as e:
            raise BackendUnavailable() from e
        except ApiError as e:
            if _transient(e):
                raise BackendUnavailable() from e
            raise
        # What the index will hold once the queue is replayed.
        if self._queue is not None:
            for song_id, kind in (await asyncio.to_thread(self._queue.pending_ids)).items():
                (ids.add if kind == "upsert" else ids.discard)(song_id)
        return ids

    async def stats(self) -> IndexStats:
        pending = await asyncio.to_thread(len, self._queue) if self._queue is not None else 0
        dead = await asyncio.to_thread(self._queue.dead_count) if self._queue is not None else 0
        where = f"{','.join(self.cfg.hosts)} alias {self.alias}"
        try:
            await self._ensure_verified()
            es = self._fast
            health = await es.cluster.health(index=self.alias)
            count = (await es.count(index=self.alias))["count"]
            aggs = await es.search(
                index=self.alias,
                size=0,
                aggs={
                    "segments": {
                        "nested": {"path": "segments"},
                        "aggs": {"per": {"terms": {"field": "segments.embedder", "size": 100}}},
                    }
                },
            )
            per = {b["key"]: b["doc_count"] for b in aggs["aggregations"]["segments"]["per"]["buckets"]}
        except IndexMismatch as e:
            return IndexStats(self.backend, 0, {}, False, f"{where}: {e}", pending)
        except (_Unavailable, TransportError, ApiError) as e:
            if isinstance(e, ApiError) and not _transient(e):
                # e.g. the alias was deleted behind our back: a status to show, not a crash
                return IndexStats(self.backend, 0, {}, False, f"{where}: {_error_type(e)}: {e}", pending)
            return IndexStats(
                self.backend, 0, {}, False, f"{where}: unreachable ({e or self._last_error})", pending
            )
        detail = (
            f"Elasticsearch {_show(self._server or (0, 0, 0))} at {where} → {self._concrete}, "
            f"cluster {health['status']}"
        )
        if dead:
            detail += f"; {dead} rejected writes kept in {self.queue_path} (table dead)"
        healthy = health["status"] in ("green", "yellow") and self._healthy
        segments = {n: int(per.get(n, 0)) for n in self._specs}
        return IndexStats(self.backend, int(count), segments, healthy, detail, pending)

    # -- reindex --------------------------------------------------------------------------
    async def rebuild(
        self, embedders: Mapping[str, EmbedderSpec], songs: AsyncIterator[tuple[Song, Mapping[str, Segments]]]
    ) -> int:
        """Fill a new concrete index from ``songs``, then switch the alias to it atomically.

        Writes made meanwhile are queued (they already use the new embedders) and replayed into
        the new index right after the switch.
        """
        self._client()
        if self._queue is None:
            self._queue = await asyncio.to_thread(WriteQueue, self.queue_path)
        specs = dict(embedders)
        try:
            await self._server_version()
            old = await self._concrete_indices()
            if not old and await self._client().indices.exists(index=self.alias):
                raise IndexMismatch(
                    detail=f"{self.alias} is an index, not the alias humbot manages; delete it first"
                )
            new = await self._next_concrete()
            await self._create(new, specs, alias=False, bulk_load=True)
        except Exception as e:
            if _transient(e):
                raise BackendUnavailable() from e
            raise
        self._rebuilding = True
        n = 0
        switched = False
        try:
            b64 = (self._server or (0, 0, 0)) >= em.BASE64_VECTORS_SINCE

            es = self._client()

            async def send(chunk: list[dict[str, Any]]) -> None:
                await async_bulk(
                    es,
                    chunk,
                    chunk_size=len(chunk),
                    max_chunk_bytes=MAX_CHUNK_BYTES,
                    max_retries=self.cfg.max_retries,
                    initial_backoff=self.cfg.retry_backoff_s,
                    max_backoff=self.cfg.retry_backoff_max_s,
                )

            # Several bulk requests in flight: the cluster indexes (builds HNSW graphs) on all its
            # cores while the next chunk is being embedded and encoded here.
            in_flight: set[asyncio.Task[None]] = set()
            chunk: list[dict[str, Any]] = []
            try:
                async for song, segments in songs:
                    doc = await asyncio.to_thread(em.song_document, song, segments, specs, base64_vectors=b64)
                    chunk.append({"_op_type": "index", "_index": new, "_id": song.song_id, "_source": doc})
                    n += 1
                    if len(chunk) >= self.cfg.bulk_chunk_size:
                        while len(in_flight) >= self.cfg.bulk_concurrency:
                            done, in_flight = await asyncio.wait(
                                in_flight, return_when=asyncio.FIRST_COMPLETED
                            )
                            for t in done:
                                t.result()
                        in_flight.add(asyncio.create_task(send(chunk)))
                        chunk = []
                if chunk:
                    in_flight.add(asyncio.create_task(send(chunk)))
                for finished in asyncio.as_completed(list(in_flight)):
                    await finished
            finally:
                for t in in_flight:
                    t.cancel()
            await es.indices.put_settings(index=new, settings={"index": {"refresh_interval": None}})
            await es.indices.refresh(index=new)
            await self._switch_alias(new, old)
            switched = True
            for o in old:
                try:  # best effort: the switch is done, a leftover old index only costs disk
                    await es.indices.delete(index=o)
                except Exception as e:  # noqa: BLE001
                    log.warning("could not delete the old index %s (%s): delete it by hand", o, e)
            log.info(
                "reindexed %d songs into %s; alias %s switched from %s", n, new, self.alias, old or "nothing"
            )
        except BaseException as e:
            self._rebuilding = False
            if not switched:  # after the switch, `new` is the live index: never delete it
                with contextlib.suppress(Exception):
                    await self._client().indices.delete(index=new)
            if isinstance(e, Exception) and _transient(e):
                raise BackendUnavailable() from e
            raise
        self._specs, self._concrete, self._mismatch = specs, new, None
        self._rebuilding = False
        self._healthy = True
        await self.flush()  # writes queued during the rebuild
        return n
