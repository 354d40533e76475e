"""Typed values that cross module boundaries (adapter ↔ service ↔ embedder/index)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Required, TypedDict

import numpy as np

from core.calibration import Standing
from core.evidence import QueryEvidence


@dataclass(frozen=True)
class Song:
    """A catalog entry. ``song_id`` is a prefix of the original file's sha256."""

    song_id: str
    title: str
    artist: str | None
    duration_s: float
    source_name: str
    sha256: str
    ext: str
    added_by: str | None
    added_at: datetime
    genre: str | None = None
    #: The song this one is a version of (another copy of the same recording: a re-encode, a
    #: remaster, the same track on another album), always a primary (a song with no version_of).
    version_of: str | None = None
    #: Where the indexed audio starts in the original file (s): a lead-in of silence is trimmed
    #: before embedding, and every offset the index gives is added to it, so offsets and clips are
    #: in the uploaded file's time. ``duration_s`` is the whole file's.
    start_s: float = 0.0
    #: Seconds of the file that were indexed (``limits.max_song_seconds`` cuts a long one), or
    #: None for songs imported before this was recorded.
    indexed_s: float | None = None


@dataclass(frozen=True)
class Segments:
    """Per-window embeddings of one song for one embedder.

    ``starts_s``: shape (n,), window start times in seconds.
    ``vectors``: shape (n, dim), float32, L2-normalised rows.
    ``features``: optional whole-song data the embedder re-ranks with (e.g. the melody contour);
    kept by the catalog, not by the index.
    """

    starts_s: np.ndarray
    vectors: np.ndarray
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or len(self.starts_s) != len(self.vectors):
            raise ValueError("Segments: starts_s (n,) and vectors (n, dim) must agree")

    def __len__(self) -> int:
        return len(self.starts_s)


@dataclass(frozen=True)
class QueryEmbedding:
    """One query as an embedder gives it to the search.

    ``vectors``: (q, dim) unit rows, the query read from its start: the first stage's main probe.
    ``features``: what :meth:`~core.embedders.base.Embedder.rerank` aligns with, or None.
    ``probes``: further (q_i, dim) vector sets, each the query read from a later start; each is
    searched on its own and adds its best few songs to the main probe's candidates, so a query
    whose opening is poorly sung or poorly tracked still brings its song to the re-ranking.
    """

    vectors: np.ndarray
    features: np.ndarray | None = None
    probes: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class EmbedderSpec:
    """What an index needs to know about an embedder to store and check its vectors."""

    name: str
    version: str
    dim: int


@dataclass(frozen=True)
class IndexHit:
    """One song found by one embedder: best segment's score (cosine in [-1, 1]) and offset."""

    song_id: str
    score: float
    offset_s: float


class Upload(TypedDict, total=False):
    """What comes with a song file: ``filename`` (its suffix tells the decoder the format; its
    stem is the title of last resort), and what the uploader said: ``title``, ``artist``,
    ``genre`` (each cleaned; an empty title falls back to the file name) and ``added_by`` (who,
    as ``telegram:<user id>``, ``discord:<user id>``, ``cli``). The keywords of
    :meth:`core.service.HumService.add_song` and :meth:`~core.service.HumService.hold_upload`."""

    filename: Required[str]
    title: str | None
    artist: str | None
    genre: str | None
    added_by: str | None


class SearchOptions(TypedDict, total=False):
    """How to search (the keywords of :meth:`core.service.HumService.search`): ``filename``
    (the upload's name; its suffix tells the decoder the format; default ``"query"``),
    ``top_k`` (results; default ``search.top_k``), ``with_clip`` (cut the best match's clip;
    default True), ``source`` (who asks, for the query log: ``telegram``, ``discord``, ``cli``;
    default ``"api"``) and ``filters`` (:class:`SearchFilter`)."""

    filename: str
    top_k: int | None
    with_clip: bool
    source: str
    filters: SearchFilter | None


@dataclass(frozen=True)
class SearchFilter:
    """Optional restrictions on a search (applied by every backend)."""

    song_ids: frozenset[str] | None = None
    artist: str | None = None
    genre: str | None = None

    def admits(self, song_id: str, artist: str | None, genre: str | None) -> bool:
        """Does a song with this id, artist and genre meet every restriction (case-insensitive)?"""
        if self.song_ids is not None and song_id not in self.song_ids:
            return False
        return all(
            want is None or (have or "").casefold() == want.casefold()
            for want, have in ((self.artist, artist), (self.genre, genre))
        )


@dataclass(frozen=True)
class IndexStats:
    backend: str
    songs: int
    segments: dict[str, int]
    healthy: bool
    detail: str = ""
    pending: int = 0  # writes queued while the backend was unavailable


@dataclass(frozen=True)
class Clip:
    """An excerpt of a catalog song around a match, ready to upload."""

    data: bytes
    mime: str
    filename: str
    start_s: float
    duration_s: float
    title: str
    artist: str | None


@dataclass(frozen=True)
class SearchResult:
    song: Song
    score: float  # fused similarity, higher is better
    confidence: float  # calibrated probability that this is the sung song, in [0, 1]
    offset_s: float  # where in the song the matching passage starts
    scores: dict[str, float] = field(default_factory=dict)  # per embedder
    #: The other versions of the same recording the search also found (one answer, listed together).
    versions: tuple[Song, ...] = ()


@dataclass(frozen=True)
class SearchResponse:
    query_id: str
    results: list[SearchResult]
    match: bool  # True when the top result is convincing
    query_duration_s: float
    truncated: bool  # only the first ``max_query_seconds`` were used
    clip: Clip | None  # clip of the top result, when asked for
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: Why the answer is not a match (``core.evidence.REASONS``: "one_note", "speech", …,
    #: "not_in_catalog"), None for a match or an empty catalog.
    reason: str | None = None
    evidence: QueryEvidence | None = None  # how much tune the query carried
    standing: Standing | None = None  # what the top result's confidence was computed from

    @property
    def best(self) -> SearchResult | None:
        return self.results[0] if self.results else None

    @property
    def heard_tune(self) -> bool:
        """False when the query carried no tune (a held note, speech, noise…): its closest songs
        are listed, but no clip of one should be offered as if it were the answer."""
        return self.reason in (None, "not_in_catalog")


@dataclass(frozen=True)
class ReindexResult:
    indexed: int  # songs in the rebuilt index
    #: Songs left out, with why (their original is missing or cannot be decoded): still in the
    #: catalog, unsearchable until their file is restored or they are removed.
    skipped: tuple[tuple[Song, str], ...] = ()


@dataclass(frozen=True)
class AddResult:
    song: Song
    created: bool  # False when the same file (or, skipped, the same recording) was already in the catalog
    #: The catalog song the upload is the same recording as (skipped, or kept as its version).
    duplicate_of: Song | None = None
    #: The file was longer than ``limits.max_song_seconds``: only its first part was indexed
    #: (``song.indexed_s`` of ``song.duration_s``), which the admin is told.
    truncated: bool = False
