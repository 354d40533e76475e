"""Wiring: build the service and its parts from a :class:`bot.config.Config`."""

from __future__ import annotations

import logging

from bot.config import Config
from core import messages, threads
from core.catalog import Catalog
from core.embedders.base import Embedder
from core.index import make_fingerprint_index, make_index
from core.service import HumService

log = logging.getLogger(__name__)


def build_embedders(config: Config) -> tuple[list[Embedder], list[str]]:
    """The configured embedders, plus notes on any that could not be loaded.

    A missing PANNs checkpoint is not fatal: the service runs on the melody path and says how
    to fetch the checkpoint (``humbot models download``). Nothing is ever downloaded here.
    """
    embedders: list[Embedder] = []
    notes: list[str] = []
    emb = config.embedders
    if emb.melody.enabled:
        from core.embedders.melody import MelodyEmbedder

        embedders.append(
            MelodyEmbedder(
                window_s=emb.melody.window_s,
                hop_s=emb.melody.hop_s,
                query_shifts=emb.melody.query_shifts,
                probe_starts_s=emb.melody.probe_starts_s,
            )
        )
    if emb.harmony.enabled:
        from core.embedders.harmony import HarmonyEmbedder

        embedders.append(HarmonyEmbedder(hop_s=emb.harmony.hop_s))
    if emb.panns.enabled:
        from core.embedders.panns import CheckpointMissing, PannsEmbedder

        try:
            embedders.append(
                PannsEmbedder(
                    config.panns_checkpoint,
                    device=emb.device,
                    window_s=emb.panns.window_s,
                    hop_s=emb.panns.hop_s,
                    batch_size=emb.panns.batch_size,
                )
            )
        except CheckpointMissing:
            note = messages.t("panns_missing", "en", path=config.panns_checkpoint)
            log.warning(note)
            notes.append(note)
    return embedders, notes


def build_service(config: Config) -> HumService:
    """A ready-to-start service (call ``await service.start()`` inside the event loop)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    embedders, notes = build_embedders(config)
    threads.configure(config.limits.workers)  # once the embedders' libraries are loaded
    return HumService(
        catalog=Catalog(config.data_dir),
        index=make_index(config.index, config.data_dir),
        fingerprints=(
            make_fingerprint_index(config.index, config.data_dir)
            if config.embedders.fingerprint.enabled
            else None
        ),
        fingerprint_speeds=tuple(config.embedders.fingerprint.speeds),
        embedders=embedders,
        search=config.search,
        limits=config.limits,
        notes=notes,
    )
