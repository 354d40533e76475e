"""Landmark hashes in Elasticsearch: index ``<config.index>-fingerprints``.

Layout: one document per (song, block of :data:`BLOCK_S` seconds of the song), id
``<song_id>:<block>``, with

* ``hashes``: the block's distinct hashes as terms (space-joined decimals, a ``text`` field with the
  ``whitespace`` analyzer, ``similarity: boolean``, no norms, no frequencies): a ``match`` query of
  a recording's hashes then scores each block by *how many of them it holds* — every matching term
  scores its boost, 1, and nothing else (no IDF, no length norm), so scores are exact counts and
  agree across shards. The field is indexed only (excluded from ``_source``);
* ``payload``: the block's (hash, frame) rows, zlib-deflated little-endian ``uint32`` hashes then
  ``int32`` frames, base64 in a ``binary`` field (never indexed, no doc values: stored in
  ``_source`` only, which is all the second step reads);
* ``peaks``: the block's constellation (the peaks a search verifies its candidates on), packed
  as the local store packs a song's (frame deltas, then bins, deflated), base64, never indexed;
* ``song_id`` (keyword), ``block``, ``n`` (rows in the block), ``frames`` (the song's length in
  frames, on every block: voting needs it for each song it sees) and ``song_frames`` (the same, on
  block 0 only, so that a plain ``sum`` / ``value_count`` aggregation gives the catalog's frames and
  song count). Block 0 exists for every song, even one without landmarks.

``_meta.humbot.format`` records :data:`~core.index.fingerprint_base.FORMAT`.

Lookup is two steps. (1) *Which blocks*: the :data:`CANDIDATE_BLOCKS` blocks holding most of the
query's hashes. Lucene caps a query at 1024 leaf clauses at least (Elasticsearch ≥ 8 sizes the cap
from the heap and never below 1024; the old ``indices.query.bool.max_clause_count`` has no effect
and nesting does not help: the cap counts every leaf of the query tree), and a query's hashes are
thousands (≈ 150 a second per speed variant, up to five variants), so they are dealt round-robin
into chunks of :data:`QUERY_CHUNK` terms (fewer if the cluster's cap is lower), one search per
chunk in one ``_msearch``; a block's count is the sum of its counts over the chunks whose top
:data:`CHUNK_BLOCKS` it is in. (2) *Their postings*: an
``mget`` of those blocks' payloads, decoded here and cut to the rows whose hash is in the query.
Offset voting is then the same :func:`~core.fingerprint.matching.match` as the local store's,
and the verification of its best candidates reads their peaks with one more ``mget`` of the
blocks around each alignment (:meth:`ElasticsearchFingerprintIndex.constellations`).

What the first step loses, compared with the local store (every occurrence of every hash):
the postings of the blocks that did not make the top. For a real recording that is nothing — the
song's block holds a large share of the recording's hashes (the noise only removes some), while
any other block shares a handful by chance, so the right block (or the two a recording straddles)
ranks first by far and its rows come back complete. What can be lost is a recording so degraded
that its few surviving hashes, though aligned (voting needs only
:data:`~core.fingerprint.matching.MIN_ALIGNED` of them), are no more than what chance gives the
best-sharing of a large catalog's blocks; and, when more than :data:`CANDIDATE_BLOCKS` blocks share
the recording (the same recording in dozens of songs), the weakest of them. Voting also sees only
the fetched blocks of each song, so a song's vote count (and its chance rate) can be a little lower
than the local store would give; its alignment, which lies in the fetched block, is the same.

Writes: :meth:`add` looks up the song's stored blocks, then in one bulk request indexes the new
blocks (deterministic ids overwrite the old ones) and deletes the stored ones that are not among
them (which also removes leftovers of an interrupted add), and refreshes: searchable when it
returns. (Not ``delete_by_query``: it lives in the ``reindex`` module, which minimal distributions,
such as the one the tests run, leave out.) Unlike SQLite this is not one transaction: a search
racing an add can see a mix of the song's old and new blocks for a moment, and a failed add can
leave a partial song (the next add or delete of it cleans up). There is no durable write queue
here as there is for the vector index: when the cluster is down, writes raise
:class:`~core.errors.BackendUnavailable` (fingerprints are recomputed from the audio by ``humbot
reindex``, after :meth:`reset` when the FORMAT changed). Searches run with ``search_timeout_s``
and no retries, writes with the client's retries.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from elastic_transport import ObjectApiResponse
from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from elasticsearch.helpers import async_scan

from core.errors import BackendUnavailable, IndexMismatch
from core.fingerprint.landmarks import FRAME_RATE, Landmarks
from core.fingerprint.matching import Postings
from core.index.elasticsearch import (
    _TRANSIENT_STATUS,
    ClusterClient,
    _error_type,
    _transient,
    server_version,
)
from core.index.fingerprint_base import (
    FORMAT,
    FingerprintIndex,
    FingerprintStats,
    Lookup,
    pack_peaks,
    unpack_peaks,
)
from core.settings import ElasticsearchConfig

log = logging.getLogger(__name__)

#: Seconds of a song per document. A query (5–30 s) lies in one or two blocks, so its song's
#: hashes are concentrated there (what makes the first step work), and the payloads fetched per
#: query stay small (≈ 3,000 rows, ≈ 14 kB of payload a block).
BLOCK_S = 20.0
BLOCK_FRAMES = int(BLOCK_S * FRAME_RATE)  # 1250
#: Blocks whose postings a lookup fetches. A query needs its song's one to three blocks (a 30 s
#: voice note straddles at most three), each found again by every speed variant; 50 leaves room for
#: the same recording in many songs (versions, compilations, covers sampling it) — a search
#: returns ``top_k`` = 10 songs — and for runners-up, at ≈ 0.7 MB of payload per query.
CANDIDATE_BLOCKS = 50
#: Terms per first-step search, to begin with. Elasticsearch sizes the clause cap from the heap
#: (8192 on a 512 MB node, more on bigger ones, never under 1024); on a cluster whose cap is lower
#: the error names it, and the index searches in chunks under it from then on.
QUERY_CHUNK = 4000
_CLAUSE_CAP = re.compile(r"maxClauseCount is set to (\d+)")
#: Blocks each chunk's search returns (only ids and counts): more than CANDIDATE_BLOCKS, so that a
#: block a little lower in one chunk still adds that chunk's count to its sum.
CHUNK_BLOCKS = 2 * CANDIDATE_BLOCKS
#: Most values a ``terms`` filter takes (``index.max_terms_count``' default); larger song filters
#: are applied to the candidates here instead.
MAX_TERMS = 65536
BULK_DOCS = 200
#: Most blocks a song can have (55 hours of audio): what one search for its blocks returns.
MAX_BLOCKS = 10_000


def _pack(hashes: np.ndarray, times: np.ndarray) -> str:
    raw = hashes.astype("<u4").tobytes() + times.astype("<i4").tobytes()
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def _unpack(payload: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    raw = zlib.decompress(base64.b64decode(payload))
    return (
        np.frombuffer(raw, "<u4", n).astype(np.uint32),
        np.frombuffer(raw, "<i4", n, offset=4 * n).astype(np.int32),
    )


def _doc_id(song_id: str, block: int) -> str:
    return f"{song_id}:{block}"


def blocks_of(song_id: str, lm: Landmarks) -> list[tuple[str, dict[str, Any]]]:
    """The documents of a song: (id, source), block 0 always, then every block with landmarks."""
    hashes = np.asarray(lm.hashes, np.uint32)
    times = np.asarray(lm.times, np.int32)
    block = times // BLOCK_FRAMES
    order = np.argsort(block, kind="stable")
    hashes, times, block = hashes[order], times[order], block[order]
    peak_frames, peak_bins = np.asarray(lm.peak_frames, np.int32), np.asarray(lm.peak_bins, np.int32)
    peak_block = peak_frames // BLOCK_FRAMES  # frames are sorted: so are their blocks
    numbers = sorted({0, *np.unique(block).tolist(), *np.unique(peak_block).tolist()})
    docs = []
    for b in numbers:
        lo, hi = np.searchsorted(block, b, "left"), np.searchsorted(block, b, "right")
        plo, phi = np.searchsorted(peak_block, b, "left"), np.searchsorted(peak_block, b, "right")
        h, t = hashes[lo:hi], times[lo:hi]
        src: dict[str, Any] = {
            "song_id": song_id,
            "block": b,
            "frames": lm.frames,
            "n": int(hi - lo),
            "hashes": " ".join(map(str, np.unique(h).tolist())),
            "payload": _pack(h, t),
            "peaks": base64.b64encode(
                pack_peaks(peak_frames[plo:phi] - b * BLOCK_FRAMES, peak_bins[plo:phi])
            ).decode("ascii"),
        }
        if b == 0:
            src["song_frames"] = lm.frames
        docs.append((_doc_id(song_id, b), src))
    return docs


def index_body(shards: int, replicas: int) -> dict[str, Any]:
    return {
        "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
        "mappings": {
            "dynamic": "strict",
            "_meta": {"humbot": {"kind": "fingerprints", "format": FORMAT, "block_s": BLOCK_S}},
            "_source": {"excludes": ["hashes"]},
            "properties": {
                "song_id": {"type": "keyword"},
                "block": {"type": "integer"},
                "frames": {"type": "integer", "index": False},
                "song_frames": {"type": "integer", "index": False},
                "n": {"type": "integer", "index": False},
                "hashes": {
                    "type": "text",
                    "analyzer": "whitespace",
                    "similarity": "boolean",
                    "norms": False,
                    "index_options": "docs",
                },
                "payload": {"type": "binary"},
                "peaks": {"type": "binary"},
            },
        },
    }


class ElasticsearchFingerprintIndex(ClusterClient, FingerprintIndex):
    backend = "elasticsearch"

    def __init__(self, config: ElasticsearchConfig) -> None:
        self.cfg = config
        self.name = f"{config.index}-fingerprints"
        self._es: AsyncElasticsearch | None = None
        self._chunk = QUERY_CHUNK  # terms per first-step search; lowered to the cluster's clause cap

    # -- plumbing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Cluster failures as the service's errors: unreachable → BackendUnavailable."""
        try:
            yield
        except ApiError as e:
            if _transient(e):
                raise BackendUnavailable() from e
            if _error_type(e) == "index_not_found_exception":
                raise IndexMismatch(detail=f"index {self.name} not found (open it first)") from e
            raise
        except TransportError as e:
            raise BackendUnavailable() from e

    async def _stored_format(self) -> str | None:
        m = await self._fast.indices.get_mapping(index=self.name)
        mappings = next(iter(m.values()))["mappings"]
        return ((mappings.get("_meta") or {}).get("humbot") or {}).get("format")

    async def _create(self) -> bool:
        """Create the index; False when another process just did."""
        body = index_body(self.cfg.shards, self.cfg.replicas)
        try:
            await self._client().indices.create(
                index=self.name,
                settings=body["settings"],
                mappings=body["mappings"],
                wait_for_active_shards="1",
            )
        except ApiError as e:
            if _error_type(e) == "resource_already_exists_exception":
                return False
            raise
        log.info("created Elasticsearch index %s", self.name)
        return True

    async def _prepare(self) -> None:
        """Create the index if missing, check an existing one, adopt an empty one of another FORMAT."""
        await server_version(self._fast)
        for _ in range(3):  # another process may be creating or replacing it at the same moment
            es = self._client()
            if await es.indices.exists(index=self.name):
                stored = await self._stored_format()
                if stored == FORMAT:
                    return
                count = (await self._fast.count(index=self.name))["count"]
                if count:
                    raise IndexMismatch(
                        detail=f"{self.name} holds fingerprints stored as "
                        f"{stored or 'unknown'}, this version uses {FORMAT}"
                    )
                log.info(
                    "index %s holds %d fingerprints stored as %s: replacing it (%s)",
                    self.name,
                    count,
                    stored,
                    FORMAT,
                )
                with contextlib.suppress(ApiError):
                    await es.indices.delete(index=self.name)
            if await self._create():
                return
        raise BackendUnavailable()

    # -- FingerprintIndex -----------------------------------------------------------------
    async def open(self) -> None:
        try:
            with self._errors():
                await self._prepare()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await self._close_client()

    async def reset(self) -> None:
        """Drop the index and create it afresh, with this version's FORMAT: searches see an empty
        catalog until ``humbot reindex`` refills it (an index of another FORMAT matched nothing anyway)."""
        with self._errors():
            await server_version(self._fast)
            await self._client().indices.delete(index=self.name, ignore_unavailable=True)
            await self._create()  # False: another process re-created it first, just as empty

    async def _block_ids(self, song_id: str) -> set[str]:
        """Ids of the song's stored blocks (what a search sees: refreshed writes)."""
        r = await self._client().search(
            index=self.name,
            size=MAX_BLOCKS,
            source=False,
            track_total_hits=False,
            query={"term": {"song_id": song_id}},
        )
        return {h["_id"] for h in r["hits"]["hits"]}

    async def _bulk(self, actions: list[dict[str, Any]], song_id: str) -> None:
        """Apply ``actions`` and refresh (searchable on return); a delete of a missing block is fine."""
        errors = await self._bulk_apply(actions, chunk_size=BULK_DOCS)
        for item in errors:
            ((op, res),) = item.items()
            status = int(res.get("status", 500))
            if op == "delete" and status == 404:
                continue
            if status in _TRANSIENT_STATUS:
                raise BackendUnavailable()
            raise RuntimeError(
                f"Elasticsearch rejected fingerprints of {song_id}: {status} {res.get('error')}"
            )

    async def add(self, song_id: str, landmarks: Landmarks) -> None:
        await self.add_many([(song_id, landmarks)])

    async def add_many(self, songs: Sequence[tuple[str, Landmarks]]) -> None:
        batch = dict(songs)  # one song id given twice: the last landmarks win, as with add()
        if not batch:
            return
        with self._errors():
            # Each song's old blocks beyond the new ones (and any an interrupted add left behind);
            # the others are overwritten in place (same ids). One bulk request, refreshed per chunk.
            actions: list[dict[str, Any]] = []
            for song_id, landmarks in batch.items():
                docs = blocks_of(song_id, landmarks)
                stale = await self._block_ids(song_id) - {i for i, _ in docs}
                actions += [
                    {"_op_type": "index", "_index": self.name, "_id": i, "_source": src} for i, src in docs
                ]
                actions += [{"_op_type": "delete", "_index": self.name, "_id": i} for i in sorted(stale)]
            await self._bulk(actions, ", ".join(batch) if len(batch) < 4 else f"{len(batch)} songs")

    async def delete(self, song_id: str) -> bool:
        with self._errors():
            ids = await self._block_ids(song_id)
            if ids:
                await self._bulk(
                    [{"_op_type": "delete", "_index": self.name, "_id": i} for i in sorted(ids)], song_id
                )
        return bool(ids)

    def _searches(
        self, hashes: np.ndarray, filters: list[dict[str, Any]], chunk: int
    ) -> list[dict[str, Any]]:
        n_chunks = -(-len(hashes) // chunk)
        searches: list[dict[str, Any]] = []
        for c in range(n_chunks):
            # Round-robin over the sorted hashes: every chunk spans all anchor frequencies, so a
            # recording's block is near the top of each, not only of the chunk of its register.
            terms = " ".join(map(str, hashes[c::n_chunks].tolist()))
            searches += [
                {"index": self.name},
                {
                    "size": CHUNK_BLOCKS,
                    "_source": False,
                    "track_total_hits": False,
                    "query": {
                        "bool": {
                            "must": [{"match": {"hashes": {"query": terms, "operator": "or"}}}],
                            "filter": filters,
                        }
                    },
                },
            ]
        return searches + [
            {"index": self.name},
            {"size": 0, "track_total_hits": False, "aggs": {"frames": {"sum": {"field": "song_frames"}}}},
        ]

    async def _top_blocks(
        self, hashes: np.ndarray, filters: list[dict[str, Any]]
    ) -> tuple[dict[str, float], int]:
        """First step: (block id → query hashes it holds, for the blocks found; catalog frames)."""
        for _ in range(3):
            resp = await self._fast.msearch(searches=self._searches(hashes, filters, self._chunk))
            cap = None
            for r in resp["responses"]:
                if "error" in r:
                    if (m := _CLAUSE_CAP.search(str(r["error"]))) and int(m.group(1)) < self._chunk + 8:
                        cap = int(m.group(1))
                        continue
                    raise ApiError(message=str(r["error"]), meta=resp.meta, body=r)
            if cap is not None:  # this cluster's cap is lower: fit under it from now on
                self._chunk = max(1, cap - 8)
                log.info(
                    "%s: the cluster takes at most %d clauses a query; searching %d hashes at a time",
                    self.name,
                    cap,
                    self._chunk,
                )
                continue
            *chunks, total = resp["responses"]
            count: dict[str, float] = {}
            for r in chunks:
                for h in r["hits"]["hits"]:
                    count[h["_id"]] = count.get(h["_id"], 0.0) + float(h["_score"])
            return count, int(round(total["aggregations"]["frames"]["value"] or 0))
        raise RuntimeError(f"{self.name}: queries keep exceeding the cluster's clause cap")

    async def lookup(self, hashes: np.ndarray, song_ids: frozenset[str] | None = None) -> Lookup:
        hashes = np.unique(np.asarray(hashes, np.uint32))
        filters: list[dict[str, Any]] = []
        if song_ids is not None and len(song_ids) <= MAX_TERMS:
            filters.append({"terms": {"song_id": sorted(song_ids)}})
        if song_ids is not None and not song_ids:
            hashes = hashes[:0]
        with self._errors():
            count, catalog_frames = await self._top_blocks(hashes, filters)
            best = sorted(count, key=lambda i: (-count[i], i))
            if song_ids is not None and not filters:  # a filter too large to send: applied here
                best = [i for i in best if i.rsplit(":", 1)[0] in song_ids]
            docs = []
            if best:
                got = await self._fast.mget(
                    index=self.name,
                    ids=best[:CANDIDATE_BLOCKS],
                    source_includes=["song_id", "frames", "n", "payload"],
                )
                docs = [d["_source"] for d in got["docs"] if d.get("found")]
        ids: dict[int, str] = {}
        frames: dict[int, int] = {}
        keys: dict[str, int] = {}
        parts_h, parts_s, parts_t = [], [], []
        for src in docs:
            h, t = _unpack(src["payload"], int(src["n"]))
            keep = np.isin(h, hashes)
            if not keep.any():
                continue
            key = keys.setdefault(src["song_id"], len(keys))
            ids[key], frames[key] = src["song_id"], int(src["frames"])
            parts_h.append(h[keep])
            parts_t.append(t[keep])
            parts_s.append(np.full(int(keep.sum()), key, np.int64))
        if not parts_h:
            return Lookup(Postings.empty(), {}, {}, catalog_frames)
        return Lookup(
            Postings(np.concatenate(parts_h), np.concatenate(parts_s), np.concatenate(parts_t)),
            ids,
            frames,
            catalog_frames,
        )

    async def constellations(
        self, windows: list[tuple[str, int, int]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        ids = sorted(
            {
                _doc_id(song_id, b)
                for song_id, first, last in windows
                for b in range(max(0, first // BLOCK_FRAMES), max(0, last // BLOCK_FRAMES) + 1)
            }
        )
        with self._errors():
            got: Mapping[str, Any] | ObjectApiResponse[Any] = (
                await self._fast.mget(index=self.name, ids=ids, source_includes=["block", "peaks"])
                if ids
                else {"docs": []}
            )
        blocks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for d in got["docs"]:
            if d.get("found") and d["_source"].get("peaks"):
                f, b = unpack_peaks(base64.b64decode(d["_source"]["peaks"]))
                blocks[d["_id"]] = (f + int(d["_source"]["block"]) * BLOCK_FRAMES, b)
        out = []
        for song_id, first, last in windows:
            parts = [
                blocks[i]
                for b in range(max(0, first // BLOCK_FRAMES), max(0, last // BLOCK_FRAMES) + 1)
                if (i := _doc_id(song_id, b)) in blocks
            ]
            frames = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
            bins = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
            keep = (frames >= first) & (frames <= last)
            out.append((frames[keep].astype(np.int32), bins[keep].astype(np.int32)))
        return out

    async def song_ids(self) -> set[str]:
        with self._errors():
            return {
                h["_id"].rsplit(":", 1)[0]
                async for h in async_scan(
                    self._client(),
                    index=self.name,
                    size=5000,
                    query={"query": {"term": {"block": 0}}, "_source": False},
                )
            }

    async def stats(self) -> FingerprintStats:
        es = self._fast
        with self._errors():
            r = await es.search(
                index=self.name,
                size=0,
                track_total_hits=False,
                aggs={
                    "songs": {"value_count": {"field": "song_frames"}},
                    "frames": {"sum": {"field": "song_frames"}},
                    "hashes": {"sum": {"field": "n"}},
                },
            )
            store = await es.indices.stats(index=self.name, metric="store")
        a = r["aggregations"]
        # The whole cluster's copies (primaries and replicas), as "in the cluster" asks.
        size = store["_all"]["total"]["store"]["size_in_bytes"]
        return FingerprintStats(
            self.backend,
            int(a["songs"]["value"]),
            int(round(a["hashes"]["value"] or 0)),
            float(a["frames"]["value"] or 0) / FRAME_RATE,
            int(size),
        )
