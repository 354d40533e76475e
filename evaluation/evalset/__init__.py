"""humbot's evaluation and demo data: songs rendered from public-domain scores, voice-note
queries of them (hummed, sung, recorded) with ground truth, and voice notes with no song in them
(held notes, sirens, glides, noise, speech, drums, crowds). Everything is generated locally from
a seed — music21's bundled corpus, GM soundfonts through fluidsynth, festival's singing and
speaking modes, ffmpeg — nothing is downloaded.

    from evaluation.evalset import build_dataset, demo_dataset, load_manifest
    manifest = build_dataset("data/eval", n_songs=300, n_queries_per_kind=40, n_out_of_catalog=60, seed=0)

See :mod:`evaluation.evalset.dataset` for the layout and the manifest, :mod:`evaluation.evalset.queries` for
the ground-truth conventions (offset, key shift, tempo).
"""

from evaluation.evalset.arrange import NoteEvent, SongPlan, plan_song
from evaluation.evalset.dataset import (
    BuildStats,
    MissingTools,
    build_dataset,
    check_tools,
    default_outside,
    demo_dataset,
    load_manifest,
    song_upload,
    split_of,
)
from evaluation.evalset.nosong import SUBKINDS, NoSongPlan, plan_nosong, render_nosong
from evaluation.evalset.queries import (
    KINDS,
    QueryNote,
    QueryPlan,
    plan_recorded_query,
    plan_voice_query,
    render_query,
)
from evaluation.evalset.render import render_song
from evaluation.evalset.scores import Melody, Note, load_melodies

__all__ = [
    "KINDS",
    "SUBKINDS",
    "NoSongPlan",
    "default_outside",
    "plan_nosong",
    "render_nosong",
    "split_of",
    "BuildStats",
    "Melody",
    "MissingTools",
    "check_tools",
    "Note",
    "NoteEvent",
    "QueryNote",
    "QueryPlan",
    "SongPlan",
    "build_dataset",
    "demo_dataset",
    "load_manifest",
    "song_upload",
    "load_melodies",
    "plan_recorded_query",
    "plan_song",
    "plan_voice_query",
    "render_query",
    "render_song",
]
