"""The search pipeline: a recording (hummed, sung or played) in, the songs it comes from out.

The query is decoded and resampled once; each embedder's path (embed → first stage → re-rank)
runs on its own beside the fingerprint lookup and the query's melodic evidence; the paths' hits
are fused and calibrated (:mod:`core.fusion`), the versions of one recording answer together,
and a clip of the best answer is cut. Query embeddings go through a
:class:`core.batching.MicroBatcher`, so queries that arrive together share one model call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from core import audio as audio_mod
from core import evidence, scheduler
from core import fingerprint as fp
from core.batching import MicroBatcher
from core.errors import BackendUnavailable
from core.fingerprint.matching import ACCEPTED_CONFIDENCE, accepted
from core.fusion import Fused, convincing, fuse
from core.index.fingerprint_base import FingerprintMatch
from core.service.admission import Admission
from core.service.backends import Backends, decode
from core.service.library import Library
from core.settings import Gate, SearchConfig
from core.types import IndexHit, SearchFilter, SearchResponse, SearchResult, Song

log = logging.getLogger(__name__)


def _union(rankings: list[list[IndexHit]]) -> list[IndexHit]:
    """The first ranking, then each later one's songs not already in (each song's first hit kept)."""
    seen: set[str] = set()
    out = []
    for hits in rankings:
        for h in hits:
            if h.song_id not in seen:
                seen.add(h.song_id)
                out.append(h)
    return out


def _one_per_recording(hits: list[IndexHit], groups: Mapping[str, str]) -> list[IndexHit]:
    """One hit per group of versions, in the order of each group's best: the primary's own hit
    where the index returned it (every embedder then names the same song, so fusion adds their
    evidence up instead of splitting it between a song and its copy), else the best version's."""
    by_group: dict[str, list[IndexHit]] = {}
    for h in hits:
        by_group.setdefault(groups.get(h.song_id, h.song_id), []).append(h)
    return [next((h for h in members if h.song_id == g), members[0]) for g, members in by_group.items()]


@dataclasses.dataclass(frozen=True)
class Ranking:
    """The fused ranking of a search, before the fingerprint's answer and the match threshold.

    ``reason``: why the query carries no tune (:func:`core.evidence.judge`), or None.
    """

    fused: list[Fused]
    reason: str | None

    @property
    def factor(self) -> float:
        """The share of each song's confidence the answer keeps: :data:`core.evidence.NO_TUNE_FACTOR`
        with a reason, else 1."""
        return evidence.NO_TUNE_FACTOR if self.reason else 1.0


def rank(
    hits: Mapping[str, list[IndexHit]],
    heard: evidence.QueryEvidence | None,
    search: SearchConfig,
    *,
    n_songs: int,
    groups: Mapping[str, str],
    fingerprint_searched: bool,
) -> Ranking:
    """The paths' hits → one calibrated ranking (:func:`core.fusion.fuse`) and the query's verdict.

    A pure function, shared with ``bench/fusion_replay.py`` so that what is replayed offline is
    what is served. ``fingerprint_searched``: the landmark fingerprint index was searched (it
    answers recordings of the song itself). The gated paths (harmony) then stay out: they
    stand in for the fingerprint only where there is none (turned off, or its index
    unavailable); only when nothing else answered do they still list the closest songs. With
    both, on the 411 queries that may be chosen on (A fit + family T), the harmony bonus found no
    song the fingerprint and melody had not, and made a held note a confident match
    (BENCHMARKS.md §5, stop 32).

    A query with no tune in it (a held note, speech, drums…) is never a confident answer. Without
    the fingerprint, a gated path that found a recording of the song itself by a wide margin
    excuses it (:data:`core.evidence.RECORDING_MARGIN`: a held note's chroma can pass the
    ordinary gate); with it, only the fingerprint's own answer does (in the pipeline). ``heard``
    None: not judged.
    """
    recording = {
        n: Gate(score=g.score, margin=max(g.margin, evidence.RECORDING_MARGIN))
        for n, g in search.gates.items()
    }
    if fingerprint_searched:  # with nothing else (a held note has no melody), they still list songs
        exempt = False
        if not reads_gated(hits, search, fingerprint_searched=True):
            hits = {n: h for n, h in hits.items() if n not in search.gates}
    else:
        exempt = bool(convincing(hits, recording, groups))
    fused = fuse(hits, search.weights, search.gates, n_songs=n_songs, group_of=groups)
    reason = None if heard is None or exempt else evidence.judge(heard)
    return Ranking(fused, reason)


def reads_gated(
    hits: Mapping[str, list[IndexHit]], search: SearchConfig, *, fingerprint_searched: bool
) -> bool:
    """Does :func:`rank` read the gated paths' hits beside ``hits`` (the other paths')? Always
    without a searched fingerprint index; beside one, only when no other path found a song."""
    return not fingerprint_searched or not any(h for n, h in hits.items() if n not in search.gates)


def _versions_of(song_id: str, groups: Mapping[str, str]) -> tuple[str, ...]:
    """The other songs of ``song_id``'s group (``groups``: version → primary), primary first."""
    primary = groups.get(song_id, song_id)
    members = [primary, *sorted(v for v, p in groups.items() if p == primary)]
    return tuple(m for m in members if m != song_id)


class SearchPipeline:
    """Searches the catalog for a recording, and takes users' verdicts on the answers."""

    def __init__(
        self, backends: Backends, admission: Admission, library: Library, search: SearchConfig
    ) -> None:
        self.backends = backends
        self.catalog = backends.catalog  # never replaced (the index may be: read it from backends)
        self.admission = admission
        self.library = library
        self.search_cfg = search
        self._batchers = {
            e.name: MicroBatcher(
                e.embed_queries_full, partial(admission.run, admitted=True), max_batch=8, max_wait_s=0.02
            )
            for e in backends.embedders.values()
        }

    def decode_query(self, data: bytes, suffix: str) -> audio_mod.Audio:
        """A query's audio at ``DECODE_RATE``, as the search hears it: its first
        ``limits.max_query_seconds``, cleaned; raises :class:`core.errors.HumbotError` subclasses
        for what a user can fix (too short, silent, undecodable). CPU work: call it off the event loop.
        """
        limits = self.admission.limits
        return decode(
            data, suffix, max_seconds=limits.max_query_seconds, min_seconds=limits.min_query_seconds
        )

    @scheduler.request("search")
    async def search(
        self,
        data: bytes,
        *,
        filename: str = "query",
        top_k: int | None = None,
        with_clip: bool = True,
        source: str = "api",
        filters: SearchFilter | None = None,
    ) -> SearchResponse:
        """Find the songs a recording (hummed, sung or played) comes from."""
        top_k = top_k or self.search_cfg.top_k
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self.admission.check_upload_size(len(data))
        query = await self.admission.run(self.decode_query, data, Path(filename).suffix.lower()[:10])
        t1 = time.perf_counter()
        timings["decode"] = (t1 - t0) * 1000

        by_rate = await self.admission.run(self.backends.by_rate, query, admitted=True)
        # Each embedder's path (embed → search → re-rank) runs on its own: melody can search and
        # re-rank while PANNs is still embedding, instead of every path waiting for the slowest
        # at each step. Stage timings are therefore the slowest path's, and overlap. The query's
        # melodic evidence is measured beside them.
        await self.backends.sync()  # songs another process added or removed since the last look
        groups = await self.backends.group_map()  # versions of one recording are one answer
        first, later = self._paths_now_and_if_needed()

        def paths_of(names: list[str]) -> list[Any]:
            embedders = self.backends.embedders
            return [self.search_path(n, by_rate[embedders[n].sample_rate], filters, groups) for n in names]

        gathered: list[Any] = await asyncio.gather(
            self.admission.run(self._evidence, query, by_rate, admitted=True),
            self._fingerprint_path(query, filters),
            *paths_of(first),
        )
        heard: evidence.QueryEvidence = gathered[0]
        fingerprinted: tuple[bool, FingerprintMatch | None] = gathered[1]
        searched, recognised = fingerprinted
        paths: list[tuple[str, list[IndexHit], dict[str, float]]] = gathered[2:]
        found_so_far = {name: found for name, found, _ in paths}
        if later and reads_gated(found_so_far, self.search_cfg, fingerprint_searched=searched):
            paths += await asyncio.gather(*paths_of(later))
        hits = {name: found for name, found, _ in paths if found}
        for stage in ("embed", "search", "rerank"):
            timings[stage] = max(stage_ms.get(stage, 0.0) for _, _, stage_ms in paths)
        t3 = time.perf_counter()

        # The confidence weighs the catalog's size: a chance match is likelier among more songs.
        n_songs = (
            len(filters.song_ids)
            if filters and filters.song_ids is not None
            else await self.library.count_songs()
        )
        ranking = rank(
            hits, heard, self.search_cfg, n_songs=n_songs, groups=groups, fingerprint_searched=searched
        )
        fused, reason, factor = ranking.fused, ranking.reason, ranking.factor
        versions = {f.song_id: _versions_of(f.song_id, groups) for f in fused[:top_k]}
        songs = await asyncio.to_thread(
            self.catalog.get_many, [i for f in fused[:top_k] for i in (f.song_id, *versions[f.song_id])]
        )
        # Offsets were measured on each song's indexed audio: + its lead-in = the file's time.
        results = [
            SearchResult(
                songs[f.song_id],
                f.score,
                f.confidence * factor,
                songs[f.song_id].start_s + f.offset_s,
                f.scores,
                tuple(songs[v] for v in versions[f.song_id] if v in songs),
            )
            for f in fused[:top_k]
            if f.song_id in songs
        ]
        if recognised is not None:
            missing = [
                i for i in (recognised.song_id, *_versions_of(recognised.song_id, groups)) if i not in songs
            ]
            if missing:
                songs = {**songs, **await asyncio.to_thread(self.catalog.get_many, missing)}
            results = self._recognised_first(recognised, results, songs, groups, filters, top_k)
            if results and results[0].song.song_id == recognised.song_id:
                reason = None  # a recording of the song itself: its tune needs no judging
        match = bool(results) and results[0].confidence >= self.search_cfg.match_threshold
        if results and not match and reason is None:
            reason = evidence.NOT_IN_CATALOG
        clip = None
        if with_clip and results:
            clip = await self.library.clip(results[0].song.song_id, results[0].offset_s, admitted=True)
        timings["clip"] = (time.perf_counter() - t3) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        query_id = uuid.uuid4().hex[:12]
        top = results[0] if results else None
        await asyncio.to_thread(
            self.catalog.log_query,
            query_id,
            source,
            top.song.song_id if top else None,
            match,
            top.confidence if top else None,
        )
        return SearchResponse(
            query_id,
            results,
            match,
            query.duration_s,
            query.truncated,
            clip,
            timings,
            reason=reason,
            evidence=heard,
            standing=fused[0].standing if fused else None,
        )

    def _paths_now_and_if_needed(self) -> tuple[list[str], list[str]]:
        """The embedders' paths searched with every query, and those searched only when
        :func:`rank` would read them (:func:`reads_gated`). Beside a fingerprint index, the gated
        paths (harmony) are read only when that index is unavailable or no other path found a
        song, so they wait for that (``search.gated_paths: when_needed``; ~100 ms of a 1 s search at 1,000 songs,
        BENCHMARKS.md §2); ``always`` searches every path, for benches that replay fusion with
        the fingerprint taken away."""
        names = list(self.backends.embedders)
        if self.search_cfg.gated_paths == "always" or self.backends.fingerprints is None:
            return names, []
        gated = self.search_cfg.gates
        return [n for n in names if n not in gated], [n for n in names if n in gated]

    async def _fingerprint_path(
        self, query: audio_mod.Audio, filters: SearchFilter | None
    ) -> tuple[bool, FingerprintMatch | None]:
        """(was the fingerprint index searched, the song the query is a recording of by its
        landmarks — or None): (False, None) without a fingerprint index or while it is unavailable."""
        fingerprints = self.backends.fingerprints
        if fingerprints is None or not await self.backends.open_fingerprints():
            return False, None
        variants = await self.admission.run(self._query_landmarks, query, admitted=True)
        ids = filters.song_ids if filters else None
        try:
            # The song's own speed first: most recordings are answered by it alone. The other
            # speeds (4× the lookups) only for what it did not answer (BENCHMARKS.md §6).
            for batch in (variants[:1], variants[1:]):
                if not batch:
                    break
                found = await fingerprints.search(batch, top_k=10, song_ids=ids)
                hit = accepted([f.hit for f in found])
                if hit is not None:
                    return True, next(f for f in found if f.hit is hit)
        except BackendUnavailable:  # the other paths still answer, harmony in its place
            log.warning("fingerprint index unavailable: searching without it")
            return False, None
        return True, None

    def _query_landmarks(self, query: audio_mod.Audio) -> list[tuple[float, fp.Landmarks]]:
        return fp.query_variants(query.resampled(fp.SAMPLE_RATE).samples, self.backends.fingerprint_speeds)

    @staticmethod
    def _recognised_first(
        recognised: FingerprintMatch,
        results: list[SearchResult],
        songs: Mapping[str, Song],
        groups: Mapping[str, str],
        filters: SearchFilter | None,
        top_k: int,
    ) -> list[SearchResult]:
        """``results`` with the fingerprint's song first, where its alignment puts the query.

        The landmarks decide a recording of the song itself (``ACCEPTED_CONFIDENCE``: every accepted
        alignment named the right song on the fit split); the song's versions stay one answer, and
        every other song is left at most what the answer leaves (``1 − confidence``).
        """
        song = songs.get(recognised.song_id)
        if song is None or (
            filters is not None and not filters.admits(song.song_id, song.artist, song.genre)
        ):
            return results
        group = groups.get(song.song_id, song.song_id)
        same = next((r for r in results if groups.get(r.song.song_id, r.song.song_id) == group), None)
        confidence = max(ACCEPTED_CONFIDENCE, same.confidence if same else 0.0)
        top = SearchResult(
            song,
            same.score if same else 0.0,
            confidence,
            song.start_s + recognised.hit.offset_s,
            {**(same.scores if same else {}), "fingerprint": float(recognised.hit.aligned)},
            tuple(songs[v] for v in _versions_of(song.song_id, groups) if v in songs),
        )
        others = [
            dataclasses.replace(r, confidence=min(r.confidence, 1.0 - confidence))
            for r in results
            if r is not same
        ]
        return [top, *others][:top_k]

    @staticmethod
    def _evidence(query: audio_mod.Audio, by_rate: Mapping[int, np.ndarray]) -> evidence.QueryEvidence:
        rate = evidence.SAMPLE_RATE
        return evidence.measure(by_rate[rate] if rate in by_rate else query.resampled(rate).samples)

    async def search_path(
        self, name: str, samples: np.ndarray, filters: SearchFilter | None, groups: Mapping[str, str]
    ) -> tuple[str, list[IndexHit], dict[str, float]]:
        """One embedder's candidates for a query: embed, first stage, then its re-ranking if any.

        The first stage's ``search.candidates`` are distinct *recordings*: a song's versions score
        like it and would each take a candidate's place (with every song of the 300-song
        evaluation set imported twice, 150 candidates were 75 songs, and top-1 fell 95.0 → 93.3 %),
        so the index is asked for as many more as there are versions and each group keeps its best.
        """
        stage_ms: dict[str, float] = {}
        t = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal t
            now = time.perf_counter()
            stage_ms[stage], t = (now - t) * 1000, now

        query = await self._batchers[name].submit(samples)
        qfeat = query.features
        lap("embed")
        if not len(query.vectors):
            return name, [], stage_ms
        cfg = self.search_cfg
        probes = [(query.vectors, cfg.candidates)]
        probes += [(p, cfg.probe_candidates) for p in query.probes if cfg.probe_candidates]
        found = await asyncio.gather(
            *(self.backends.index.search(name, vecs, k + len(groups), filters) for vecs, k in probes)
        )
        hits = _union(
            [(_one_per_recording(h, groups) if groups else h)[:k] for h, (_, k) in zip(found, probes)]
        )
        hits = _one_per_recording(hits, groups) if groups else hits  # probes may bring another version
        lap("search")
        if self.backends.embedders[name].reranks and qfeat is not None and hits:
            hits = await self._rerank(name, qfeat, hits)
            lap("rerank")
        return name, hits, stage_ms

    async def _rerank(self, name: str, qfeat: np.ndarray, hits: list[IndexHit]) -> list[IndexHit]:
        """Second stage: precise scores and offsets for the first stage's best candidates."""
        top = hits[: self.search_cfg.rerank_candidates]
        feats = await asyncio.to_thread(self.catalog.load_features, name, [h.song_id for h in top])
        top = [h for h in top if h.song_id in feats]
        scored = await self.admission.run(
            self.backends.embedders[name].rerank,
            qfeat,
            [(feats[h.song_id], h.offset_s) for h in top],
            admitted=True,
        )
        out = [IndexHit(h.song_id, float(score), float(offset)) for h, (score, offset) in zip(top, scored)]
        return sorted(out, key=lambda h: (-h.score, h.song_id))

    async def feedback(
        self, query_id: str, song_id: str | None, correct: bool, user: str | None = None
    ) -> None:
        """A user's verdict on an answer ("not it"), stored for evaluation and /stats."""
        await asyncio.to_thread(self.catalog.add_feedback, query_id, song_id, correct, user)
