"""PANNs Cnn14 on a checkpoint the tests generate: shapes, norms, determinism, no downloads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import tune

from core.embedders.panns import SAMPLE_RATE, CheckpointMissing, PannsEmbedder


@pytest.fixture(scope="module")
def panns(panns_checkpoint: Path) -> PannsEmbedder:
    return PannsEmbedder(panns_checkpoint, device="cpu")


def test_query_embedding_is_2048d_unit_norm_and_deterministic(panns: PannsEmbedder) -> None:
    q = tune(1, sr=SAMPLE_RATE)[: 10 * SAMPLE_RATE]
    a, b = panns.embed_queries([q])[0], panns.embed_queries([q.copy()])[0]
    assert a.shape == (1, 2048) and a.dtype == np.float32
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(a, b)


def test_batched_queries_match_single_queries(panns: PannsEmbedder) -> None:
    q1, q2 = tune(1, sr=SAMPLE_RATE)[: 8 * SAMPLE_RATE], tune(2, sr=SAMPLE_RATE)[: 8 * SAMPLE_RATE]
    batched = panns.embed_queries([q1, q2])
    for x, q in zip(batched, (q1, q2)):
        np.testing.assert_allclose(x, panns.embed_queries([q])[0], atol=1e-4)
    # Different lengths are zero-padded to a common length; each keeps its own valid frames.
    short = panns.embed_queries([q1, q2[: 5 * SAMPLE_RATE]])[1]
    assert float(short[0] @ panns.embed_queries([q2[: 5 * SAMPLE_RATE]])[0][0]) > 0.99


def test_song_segments_cover_the_song(panns: PannsEmbedder) -> None:
    y = tune(3, sr=SAMPLE_RATE)
    seg = panns.embed_song(y)
    duration = len(y) / SAMPLE_RATE
    assert seg.vectors.shape[1] == 2048
    assert seg.starts_s[0] == 0.0
    assert np.all(np.diff(seg.starts_s) > 0)
    assert seg.starts_s[-1] + panns.window_s >= duration - 1.0  # the end is covered
    np.testing.assert_allclose(np.linalg.norm(seg.vectors, axis=1), 1.0, atol=1e-5)


def test_the_vendored_cnn14_loads_the_checkpoint_without_panns_inference_or_matplotlib(
    panns_checkpoint: Path,
) -> None:
    # A fresh interpreter, so what other tests imported does not count: the runtime needs
    # neither panns-inference (its import downloads a label file) nor matplotlib (it imports it).
    probe = (
        "import sys; from pathlib import Path; from core.embedders.panns import PannsEmbedder; "
        f"e = PannsEmbedder(Path({str(panns_checkpoint)!r}), device='cpu'); "
        "e.model.load_state_dict(e.model.state_dict(), strict=True); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('panns_inference', 'matplotlib')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointMissing):
        PannsEmbedder(tmp_path / "nope.pth", device="cpu")


def test_service_runs_without_panns_and_names_the_fix(tmp_path: Path) -> None:
    from bot.config import parse_config
    from bot.wiring import build_embedders

    cfg = parse_config({"embedders": {"panns": {"checkpoint": str(tmp_path / "missing.pth")}}}, data_dir=tmp_path)
    embedders, notes = build_embedders(cfg)
    assert [e.name for e in embedders] == ["melody", "harmony"]
    assert any("humbot models download" in n for n in notes)
