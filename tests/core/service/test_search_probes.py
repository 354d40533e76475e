"""The first stage's further probes: a query whose opening is another tune still finds its song."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import SR, encode, tune
from service_fixtures import melody_only_config

from bot.wiring import build_service

MELODY_ALONE = {"panns": {"enabled": False}, "harmony": {"enabled": False}, "fingerprint": {"enabled": False}}


def _query() -> bytes:
    """4 s of a tune not in the catalog, then 9 s of Tune 3 (from 6 s in): a wrong opening."""
    y = np.concatenate([tune(99, voice=True)[: 4 * SR], tune(3, voice=True)[6 * SR : 15 * SR]])
    return encode(y, "ogg")


@pytest.mark.parametrize("probe_candidates", [0, 1])
async def test_a_wrong_opening_is_outlived_by_the_later_probes(
    tmp_path: Path, song_tunes: dict[int, bytes], probe_candidates: int
) -> None:
    # One candidate from the query read from its start, as a big catalog's 120 of thousands are.
    cfg = melody_only_config(
        tmp_path, embedders=MELODY_ALONE, search={"candidates": 1, "probe_candidates": probe_candidates}
    )
    svc = build_service(cfg)
    await svc.start()
    try:
        for seed, data in song_tunes.items():
            await svc.add_song(data, filename=f"t{seed}.flac", title=f"Tune {seed}", added_by="test")
        resp = await svc.search(_query(), filename="q.ogg", with_clip=False)
    finally:
        await svc.close()
    titles = [r.song.title for r in resp.results]
    if probe_candidates:
        assert titles[0] == "Tune 3" and resp.match
    else:  # the opening alone sends the first stage elsewhere: the song never reaches the re-ranking
        assert "Tune 3" not in titles and not resp.match
