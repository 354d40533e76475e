"""Settings of the platform-neutral core, validated by pydantic.

``bot.config`` composes these with the adapters' sections into the one ``config.yaml``; the core
takes them as typed objects and never reads files or the environment itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Section(BaseModel):
    # A misspelt key is an error that names the key, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ElasticsearchConfig(Section):
    hosts: list[str] = ["http://127.0.0.1:9200"]
    index: str = "humbot-songs"
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout_s: float = Field(10.0, gt=0)
    max_retries: int = Field(3, ge=0)
    queue_path: Path | None = None  # durable queue of writes made while the cluster is down
    # -- added for the Elasticsearch backend (core/index/elasticsearch.py) --
    search_timeout_s: float = Field(3.0, gt=0)  # searches fail fast ("temporarily unavailable"), no retries
    retry_backoff_s: float = Field(0.5, gt=0)  # first wait between write retries and queue replays
    retry_backoff_max_s: float = Field(30.0, gt=0)  # ... doubling up to this
    shards: int = Field(1, ge=1)
    replicas: int = Field(0, ge=0)
    vector_index_type: Literal[
        "hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw", "flat", "int8_flat", "int4_flat", "bbq_flat"
    ] = "int8_hnsw"
    num_candidates: int = Field(100, ge=1, le=10000)  # kNN candidates per shard (at least top_k)
    multi_query: Literal["msearch", "knn_clauses"] = "msearch"  # how several query vectors are sent
    bulk_chunk_size: int = Field(50, ge=1)  # songs per bulk request
    bulk_concurrency: int = Field(2, ge=1)  # bulk requests in flight while reindexing


class IndexConfig(Section):
    backend: Literal["local", "elasticsearch"] = "local"
    elasticsearch: ElasticsearchConfig = ElasticsearchConfig()


class PannsConfig(Section):
    enabled: bool = True
    checkpoint: Path | None = None  # default: <data_dir>/models/Cnn14_mAP=0.431.pth
    batch_size: int = Field(8, ge=1)
    window_s: float = Field(10.0, gt=0)
    hop_s: float = Field(5.0, gt=0)


class MelodyConfig(Section):
    enabled: bool = True
    window_s: float = Field(6.0, gt=0)  # seconds of song per indexed window (core.embedders.melody.WINDOW_S)
    hop_s: float = Field(1.0, gt=0)
    query_shifts: int = Field(4, ge=1, le=10)  # query window starts per song hop (accuracy vs query vectors)
    # Later starts (s) of a query searched as further first-stage probes (core.embedders.melody.PROBE_STARTS_S)
    probe_starts_s: tuple[float, ...] = (2.0, 4.0)


class HarmonyConfig(Section):
    enabled: bool = True  # chroma fingerprints: finds recordings of the song itself
    hop_s: float = Field(1.0, ge=0.5)


class FingerprintConfig(Section):
    enabled: bool = True  # landmark fingerprints: recordings of the song itself (core.fingerprint)
    # Playback speeds tried, the first alone and the others only when it found nothing
    # (core.fingerprint.landmarks.SPEEDS); [1.0] never pays for them.
    speeds: list[float] = Field([1.0, 0.98, 0.99, 1.01, 1.02], min_length=1)


class EmbeddersConfig(Section):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    fingerprint: FingerprintConfig = FingerprintConfig()
    panns: PannsConfig = PannsConfig()
    melody: MelodyConfig = MelodyConfig()
    harmony: HarmonyConfig = HarmonyConfig()


class Gate(Section):
    """When a gated embedder's best song counts (see core.fusion.fuse)."""

    score: float = Field(ge=-1, le=1)
    margin: float = Field(0.0, ge=0)  # lead over its runner-up


class SearchConfig(Section):
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(120, ge=1)  # songs fetched per embedder before fusion, by its main probe
    probe_candidates: int = Field(15, ge=0)  # songs each further probe adds (QueryEmbedding.probes)
    rerank_candidates: int = Field(
        150, ge=1
    )  # of those, re-ranked (melody: coarse DTW on all, precise on 50)
    weights: dict[str, float] = {"melody": 1.0, "panns": 0.5, "harmony": 3.0}
    # Embedders that only add evidence when their best song is convincing (see core.fusion.fuse).
    gates: dict[str, Gate] = {"harmony": Gate(score=0.6, margin=0.08)}  # config.yaml says why
    # Beside a fingerprint index, search the gated paths only when the ranking reads them.
    gated_paths: Literal["when_needed", "always"] = "when_needed"
    match_threshold: float = Field(0.5, ge=0, le=1)  # confidence needed to call it a match
    clip_seconds: float = Field(15.0, gt=1, le=60)
    clip_format: Literal["ogg", "mp3"] = "ogg"


class LimitsConfig(Section):
    max_upload_mb: float = Field(20.0, gt=0)  # the Telegram Bot API download cap
    min_query_seconds: float = Field(2.0, ge=0)
    max_query_seconds: float = Field(30.0, gt=0)
    max_song_seconds: float = Field(1200.0, gt=0)
    workers: int = Field(2, ge=1)  # concurrent CPU/GPU jobs
    max_queued: int = Field(32, ge=1)  # jobs waiting or running; beyond → "busy, try again"
    user_requests_per_minute: int = Field(6, ge=1)
    # Requests holding a downloaded recording at once (adapters.common.admission), checked before
    # the download: 256 concurrent Telegram updates × 20 MB would otherwise be ~5 GB in memory.
    # As many as max_queued: the work queue would answer "busy" beyond it anyway.
    max_in_flight: int = Field(32, ge=1)
    max_in_flight_per_user: int = Field(2, ge=1)  # one user's burst cannot take every place
