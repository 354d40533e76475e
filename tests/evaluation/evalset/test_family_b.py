"""Family B of the evaluation set: built by other means than family A, and only reported."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from evaluation.evalset import realmusic
from evaluation.evalset import singer as synth
from evaluation.evalset.dataset import FAMILIES, FAMILY_B_TUNE_OFFSET, build_dataset, plan_song_and_format
from evaluation.evalset.instruments import FAMILY_B_SOUNDFONTS, SOUNDFONTS
from evaluation.evalset.scores import Melody


def test_a_small_family_b_set_uses_other_singers_soundfonts_tunes_and_real_music(
    melodies: list[Melody], tune_cache: Path, tmp_path: Path
) -> None:
    # the real family skips 1,000 tunes (A's and the salience network's training tunes); here 10,
    # the ones the `melodies` fixture holds, so that the test parses few tunes
    fam = dataclasses.replace(FAMILIES["b"], tune_offset=10, real_distractors=2)
    m = build_dataset(tmp_path, n_songs=3, n_queries_per_kind=1, n_out_of_catalog=0, n_nosong=0,
                      family=fam, cache_dir=tune_cache, workers=2)
    assert m["family"] == "b"
    made = [s for s in m["songs"] if not s.get("real")]
    assert len(made) == 3 and sum(s["sung"] for s in made) == 2  # 60 %, rounded up
    assert not {s["tune_id"] for s in made} & {t.tune_id for t in melodies}
    b_fonts = {f.name for f in FAMILY_B_SOUNDFONTS}
    for s in made:
        plan = json.loads((tmp_path / s["truth"]).read_text())["plan"]
        assert {plan["band_soundfont"], plan["lead_soundfont"]} <= b_fonts
        assert plan["master"] is not None
        assert -9.0 <= plan["melody_db"] <= 6.0
        if s["sung"]:
            assert s["lead"] in synth.HELD_OUT_VOICES
    by_kind = {q["kind"]: q for q in m["queries"]}
    assert by_kind["hummed"]["performer"].startswith("synth-hum:")
    assert by_kind["sung"]["performer"].startswith("synth:")
    for q in m["queries"]:
        assert (tmp_path / q["file"]).stat().st_size > 1000
    real = [s for s in m["songs"] if s.get("real")]
    installed = realmusic.tracks(tune_cache / "realmusic", splits=("held-out",))
    assert installed, "scripts/install.sh installs asc-music, a held-out real-music package"
    assert len(real) == 2 and all((tmp_path / s["file"]).exists() for s in real)
    assert {s["artist"] for s in real} <= {t.package for t in installed}


def test_family_a_is_rendered_as_before(melodies: list[Melody]) -> None:
    # Family A's files are cached by a hash of their plans: these are the hashes the code before
    # family B gave (checked in a worktree of a0bd1dd), so adding B re-rendered none of A.
    from dataclasses import asdict

    from evaluation.evalset.dataset import DEFAULT_SR, RENDER_VERSION, _spec_hash, plan_dict

    got = []
    for m in melodies[:2]:
        for sung in (False, True):
            plan, fmt = plan_song_and_format(m, 0, sung)
            assert plan.master is None and "master" not in plan_dict(plan) and "master" in asdict(plan)
            assert {plan.band_soundfont, plan.lead_soundfont} <= {f.name for f in SOUNDFONTS}
            got.append(_spec_hash({"v": RENDER_VERSION, "sr": DEFAULT_SR, "fmt": fmt, "plan": plan_dict(plan)}))
    assert got == ["3c9737b7f0479c0a", "e78ad94c175480d6", "f7ec4c503577d346", "6372d88da106fbcc"]


def test_family_b_tunes_start_after_a_and_the_training_tunes() -> None:
    from evaluation import train_salience as train

    assert train.DEFAULT_EXCLUDE >= 429  # family A: 300 songs + 129 outside tunes
    assert train.DEFAULT_EXCLUDE + train.DEFAULT_SONGS <= FAMILY_B_TUNE_OFFSET
    assert not set(train.training_family(7, "x", True).singers or ()) & {synth.as_lead(n) for n in synth.HELD_OUT_VOICES}


def test_family_t_is_b_kind_of_material_made_only_of_training_parts(
    melodies: list[Melody], tune_cache: Path, tmp_path: Path
) -> None:
    # Family T is for choosing: none of its singers, soundfonts, tunes or real tracks is B's
    t, b = FAMILIES["t"], FAMILIES["b"]
    assert t.for_choices and FAMILIES["a"].for_choices and not b.for_choices
    assert t.tune_offset >= b.tune_offset + 429  # B: 300 songs + 129 outside tunes
    assert set(t.query_voices) <= set(synth.TRAIN_VOICES)
    assert t.real_split == "fit" and b.real_split == "held-out"
    assert any(split == "fit" for split, _ in realmusic.PACKAGES.values())
    fam = dataclasses.replace(t, tune_offset=10, real_distractors=0)
    m = build_dataset(tmp_path, n_songs=3, n_queries_per_kind=1, n_out_of_catalog=0, n_nosong=0,
                      family=fam, cache_dir=tune_cache, workers=2)
    assert m["family"] == "t"
    fonts = {f.name for f in SOUNDFONTS}
    for s in m["songs"]:
        plan = json.loads((tmp_path / s["truth"]).read_text())["plan"]
        assert {plan["band_soundfont"], plan["lead_soundfont"]} <= fonts
        assert plan["master"] is not None and -9.0 <= plan["melody_db"] <= 6.0
        if s["sung"]:
            assert s["lead"] in synth.TRAIN_VOICES
    voices = {q["performer"].split(":", 1)[1].split("/")[-1] for q in m["queries"] if q["kind"] != "recorded"}
    assert voices <= set(synth.TRAIN_VOICES), voices
