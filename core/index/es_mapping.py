"""What the Elasticsearch backend stores: index settings, mapping, ``_meta`` and song documents.

One document per song (``_id`` = song id, so every write is an idempotent overwrite):

* the original design's fields — ``audio-embedding`` (a whole-song vector: the mean of the song's
  segment vectors of the widest embedder, PANNs' 2048-d in the shipped configuration), ``title``
  (text), ``path`` (text with a ``keyword`` subfield: the original file inside the data
  directory), ``timestamp`` (date added), ``genre`` (keyword);
* ``song_id``, ``artist``, ``duration_s``, ``embedders`` ("name:version" of each embedder);
* ``segments``: a ``nested`` array, one object per (embedder, window): ``start_ms``, ``embedder``
  and one vector field named after the embedder (``segments.melody``, ``segments.panns``, …).
  Embedders hop differently (melody every 1 s, PANNs every 5 s), so each object carries only its
  embedder's vector; a kNN on ``segments.<name>`` only sees the objects that have one.

Vector fields are built from the :class:`~core.types.EmbedderSpec` s the index is opened with,
never hard-coded. ``index_options.type`` is always explicit (its default changed between server
versions) and vectors are excluded from ``_source`` (they are large and never read back: a
reindex re-embeds the catalog's originals).

The mapping's ``_meta.humbot`` records the mapping version and the embedders; :func:`mismatch`
compares it with what the running configuration wants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from core.types import EmbedderSpec, Segments, Song

#: Bump when the document layout or mapping changes: existing indices then ask for a reindex.
MAPPING_VERSION = 1
#: The oldest server this backend supports (the 9.x client cannot talk to 8.x servers).
MIN_SERVER_VERSION = (9, 0, 0)
#: From this server version on, dense vectors may be sent as base64 float32 (far smaller bulk bodies).
BASE64_VECTORS_SINCE = (9, 3, 0)
#: Nested objects one song may have (Elasticsearch's default limit, 10,000, is too low for a
#: 20-minute song at a 0.25 s hop).
NESTED_LIMIT = 100_000

SONG_VECTOR_FIELD = "audio-embedding"


def song_vector_embedder(specs: Mapping[str, EmbedderSpec]) -> str | None:
    """The embedder whose whole-song mean fills ``audio-embedding``: the widest one (ties: by name)."""
    if not specs:
        return None
    return max(specs.values(), key=lambda s: (s.dim, s.name)).name


def _vector(dims: int, index_type: str) -> dict[str, Any]:
    options: dict[str, Any] = {"type": index_type}
    if index_type.endswith("hnsw"):
        # Explicit too: graph defaults may change like the type's did.
        options |= {"m": 16, "ef_construction": 100}
    return {
        "type": "dense_vector",
        "dims": dims,
        "similarity": "cosine",
        "index": True,
        "index_options": options,
    }


def meta(specs: Mapping[str, EmbedderSpec], index_type: str) -> dict[str, Any]:
    return {
        "mapping_version": MAPPING_VERSION,
        "vector_index_type": index_type,
        "embedders": {n: {"version": s.version, "dim": s.dim} for n, s in sorted(specs.items())},
    }


def index_body(
    specs: Mapping[str, EmbedderSpec], *, index_type: str, shards: int, replicas: int, bulk_load: bool = False
) -> dict[str, Any]:
    """Settings and mappings of a new concrete index (``bulk_load``: no refreshes until the load ends)."""
    for name in specs:
        if not name or "." in name or name in ("start_ms", "embedder"):
            raise ValueError(f"embedder name {name!r} cannot be a vector field name")
    segment_props: dict[str, Any] = {"start_ms": {"type": "integer"}, "embedder": {"type": "keyword"}}
    for name, spec in sorted(specs.items()):
        segment_props[name] = _vector(spec.dim, index_type)
    props: dict[str, Any] = {
        "song_id": {"type": "keyword"},
        "title": {"type": "text"},
        "artist": {"type": "keyword"},
        "genre": {"type": "keyword"},
        "path": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}},
        "source_name": {"type": "keyword", "ignore_above": 1024},
        "timestamp": {"type": "date"},
        "duration_s": {"type": "float"},
        "embedders": {"type": "keyword"},
        "segments": {"type": "nested", "properties": segment_props},
    }
    song_vec = song_vector_embedder(specs)
    excludes = [f"segments.{n}" for n in sorted(specs)]
    if song_vec is not None:
        props[SONG_VECTOR_FIELD] = _vector(specs[song_vec].dim, index_type)
        excludes.append(SONG_VECTOR_FIELD)
    settings: dict[str, Any] = {
        "number_of_shards": shards,
        "number_of_replicas": replicas,
        "mapping.nested_objects.limit": NESTED_LIMIT,
    }
    if bulk_load:
        settings["refresh_interval"] = "-1"
    return {
        "settings": {"index": settings},
        "mappings": {
            "dynamic": "strict",  # a typo in a field name is an error, not a new field
            "_meta": {"humbot": meta(specs, index_type) | {"song_vector": song_vec}},
            "_source": {"excludes": excludes},
            "properties": props,
        },
    }


def mismatch(
    stored: Mapping[str, Any] | None, specs: Mapping[str, EmbedderSpec], index_type: str
) -> str | None:
    """Why an index whose ``_meta.humbot`` is ``stored`` cannot serve ``specs`` (None: it can)."""
    if not stored:
        return "the index has no humbot metadata (not created by humbot)"
    if stored.get("mapping_version") != MAPPING_VERSION:
        return f"mapping version {stored.get('mapping_version')}, this humbot uses {MAPPING_VERSION}"
    want = meta(specs, index_type)
    if stored.get("embedders") != want["embedders"]:

        def show(e: Mapping[str, Any]) -> str:
            parts = [f"{n} {v.get('version')} ({v.get('dim')}-d)" for n, v in sorted(e.items())]
            return ", ".join(parts) or "none"

        return (
            f"index built for embedders [{show(stored.get('embedders') or {})}], "
            f"configured [{show(want['embedders'])}]"
        )
    if stored.get("vector_index_type") != index_type:
        return f"vectors indexed as {stored.get('vector_index_type')}, configured {index_type}"
    return None


def song_path(song: Song) -> str:
    """The original file's path inside the data directory (see :meth:`core.catalog.Catalog.file_path`)."""
    return f"songs/{song.sha256[:2]}/{song.sha256}{song.ext}"


def _b64(v: np.ndarray) -> str:
    from elasticsearch.helpers import pack_dense_vector

    return pack_dense_vector(np.ascontiguousarray(v, dtype=np.float32))


def _floats(v: np.ndarray) -> list[float]:
    floats: list[float] = np.asarray(v, dtype=np.float32).tolist()
    return floats


def song_document(
    song: Song, segments: Mapping[str, Segments], specs: Mapping[str, EmbedderSpec], *, base64_vectors: bool
) -> dict[str, Any]:
    """The document stored for ``song`` (segments of embedders not in ``specs`` are ignored)."""
    enc = _b64 if base64_vectors else _floats
    segs: list[dict[str, Any]] = []
    for name, spec in sorted(specs.items()):
        seg = segments.get(name)
        if seg is None or not len(seg):
            continue
        if seg.vectors.shape[1] != spec.dim:
            raise ValueError(
                f"{name} vectors of song {song.song_id} have {seg.vectors.shape[1]} dims, "
                f"the index expects {spec.dim}"
            )
        for t, v in zip(seg.starts_s, seg.vectors):
            segs.append({"start_ms": int(round(float(t) * 1000)), "embedder": name, name: enc(v)})
    doc: dict[str, Any] = {
        "song_id": song.song_id,
        "title": song.title,
        "artist": song.artist,
        "genre": song.genre,
        "path": song_path(song),
        "source_name": song.source_name,
        "timestamp": song.added_at.isoformat(),
        "duration_s": float(song.duration_s),
        "embedders": [f"{n}:{s.version}" for n, s in sorted(specs.items())],
        "segments": segs,
    }
    song_vec = song_vector_embedder(specs)
    seg = segments.get(song_vec) if song_vec else None
    if seg is not None and len(seg):
        mean = np.asarray(seg.vectors, np.float32).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 1e-6:  # cosine fields reject zero vectors
            doc[SONG_VECTOR_FIELD] = enc(mean / norm)
    return doc
