"""Build an evaluation (or demo) data set: songs, voice-note queries, and a manifest.

Layout of ``out_dir``::

    manifest.json            songs, queries and how they were built (see build_dataset)
    songs/                   the catalog: import these (MP3/FLAC/WAV, tagged title/artist)
    queries/                 voice notes (OGG/Opus): in-catalog, out-of-catalog, and no-song
    outside/                 songs that are NOT in the catalog (sources of out-of-catalog
                             "recorded" queries) — never import these
    truth/songs/*.json       each song's plan: the melody as it sounds (s, MIDI), chords, parts
    truth/queries/*.json     each query's ground truth, with the notes as performed

``manifest.json``:

* ``family``: "a", "b" or "t" (:class:`Family`: who generated it, and whether choices may be made on it);
* ``songs[]``: ``id``, ``file``, ``title``, ``artist``, ``duration_s``, ``format``, ``sung`` (melody
  sung: festival in family A, the synthetic singer in B), ``lead`` (instrument or voice), ``qpm``, ``key``, ``melody_db`` (melody RMS
  over band RMS where it plays; negative = under the band), ``tune_id``, ``truth``;
* ``outside[]``: the same for out-of-catalog tunes (``file`` is null unless a recording needed it);
  by default 30 % of all tunes are held out (:func:`default_outside`); family B's ``songs[]``
  also hold real tracks (``real``: true, no truth, no queries) as distractors;
* ``queries[]``: ``id``, ``file``, ``kind`` (hummed/sung/recorded), ``song`` (expected song id, or
  null when out of catalog), ``source`` (the song it was taken from), ``offset_s``,
  ``alt_offsets_s``, ``key_shift``, ``register_shift``, ``tempo``, ``duration_s``, ``lead_s``,
  ``performer``, ``bitrate_kbps``, ``truth`` — see :mod:`evaluation.evalset.queries` for their meaning;
  no-song queries (``kind`` "nosong", see :mod:`evaluation.evalset.nosong`) have ``subkind``,
  ``variant`` and ``pitches_hz`` instead, and null ``song``/``source``;
* every song, outside tune and query has ``split``: "fit" (for choosing thresholds and weights)
  or "held-out" (for reporting only), see :func:`split_of`;
* ``build``: files rendered/reused, wall time, CPU seconds per song and per query kind.

Everything follows from ``seed`` and the parameters; nothing is downloaded. Each file's
*spec* (its full plan plus the render settings) is hashed and stored next to it: a re-run
renders only files whose spec changed, so growing a data set or re-running it is cheap.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import resource
import shutil
import time
import unicodedata
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from core import audio
from core.errors import HumbotError
from core.types import Upload
from evaluation.evalset import realmusic
from evaluation.evalset import singer as synth
from evaluation.evalset.arrange import SongPlan, plan_song
from evaluation.evalset.effects import random_master
from evaluation.evalset.festival import Singer, missing_voices
from evaluation.evalset.instruments import FAMILY_B_SOUNDFONTS, SoundFont, missing_soundfonts
from evaluation.evalset.nosong import NOSONG_VERSION, SUBKINDS, NoSongPlan, plan_nosong, render_nosong
from evaluation.evalset.queries import KINDS, QueryPlan, plan_recorded_query, plan_voice_query, render_query
from evaluation.evalset.render import DEFAULT_SR, render_song
from evaluation.evalset.scores import Melody, default_cache_dir, load_melodies

log = logging.getLogger(__name__)

#: Bump when rendering changes in a way the plans do not show: every file is rendered again.
RENDER_VERSION = 1
MANIFEST_VERSION = 1
#: Catalog files come in the formats people have, mostly MP3 (FLAC/WAV are 5–10× bigger).
SONG_FORMATS = {"mp3": 0.7, "flac": 0.2, "wav": 0.1}
#: Share of all tunes held out of the catalog by default (sources of out-of-catalog queries).
OUTSIDE_SHARE = 0.3
#: Earlier builds held out this many tunes, drawn by lot among the first ``n_songs + 30``; the
#: first lot is still drawn that way (the rest are the next tunes of the corpus), so a catalog
#: of earlier builds is the same catalog now and figures stay comparable.
FIRST_OUTSIDE_LOT = 30
SPLITS = ("fit", "held-out")


@dataclass(frozen=True)
class Family:
    """How a data set is generated. Family A is the original generator; every window, threshold,
    weight and training run is chosen on A's fit split. Family B is built by other means and is
    only ever reported: other tunes (``tune_offset`` skips A's and the salience network's
    training tunes), held-out synthetic singers for the sung songs and for the hummed and sung
    queries (never trained on), a soundfont A and the training never use, the tune up to 9 dB
    under the band, a mix bus per song (EQ, compression, saturation, room, noise), and real
    produced music from Debian's game-music packages in the catalog as distractors."""

    name: str
    tune_offset: int = 0
    sung_share: float = 0.4
    singers: tuple[Singer, ...] | None = None  # None: festival's voices
    soundfonts: tuple[SoundFont, ...] | None = None  # None: A's soundfonts
    melody_db_range: tuple[float, float] | None = None  # None: the arranger's ranges
    mastered: bool = False
    query_voices: tuple[str, ...] = ()  # synthetic voices of hummed/sung queries; () = A's
    real_distractors: int = 0  # real tracks added to the catalog
    real_split: str = "held-out"  # the game-music packages they come from (realmusic.PACKAGES)
    for_choices: bool = False  # whether windows, thresholds and weights may be chosen on it


#: Tunes of the corpus order before family B's: A's catalog and outside tunes (≤ 429 for 300
#: songs) and the salience network's training tunes (evaluation/train_salience.py takes 560 after
#: A's first 440).
FAMILY_B_TUNE_OFFSET = 1000
#: Family T's tunes come after B's (B takes ≤ 429 from 1000 for 300 songs).
FAMILY_T_TUNE_OFFSET = 1500
FAMILIES = {
    "a": Family("a", for_choices=True),
    "b": Family(
        "b",
        tune_offset=FAMILY_B_TUNE_OFFSET,
        sung_share=0.6,
        singers=tuple(synth.as_lead(n) for n in synth.HELD_OUT_VOICES),
        soundfonts=FAMILY_B_SOUNDFONTS,
        melody_db_range=(-9.0, 6.0),
        mastered=True,
        query_voices=synth.HELD_OUT_VOICES,
        real_distractors=20,
    ),
    # B's kind of material made only of training parts, so that choices about sung-melody songs,
    # synthetic singers and mix buses can be made without reading B: tunes after B's, the
    # synthetic singer's training voices (the salience network heard them), A's soundfonts, and
    # real tracks of the fit packages. Every split of it is for choosing.
    "t": Family(
        "t",
        tune_offset=FAMILY_T_TUNE_OFFSET,
        sung_share=0.6,
        singers=tuple(synth.as_lead(n) for n in synth.TRAIN_VOICES),
        melody_db_range=(-9.0, 6.0),
        mastered=True,
        query_voices=synth.TRAIN_VOICES,
        real_distractors=20,
        real_split="fit",
        for_choices=True,
    ),
}


@dataclass(frozen=True)
class BuildStats:
    songs_rendered: int
    songs_reused: int
    queries_rendered: int
    queries_reused: int
    wall_s: float


class MissingTools(RuntimeError):
    """A program, soundfont or festival voice the generator needs is not installed."""


def check_tools(family: Family = FAMILIES["a"]) -> None:
    """Fail early, naming the apt packages, when something the generator runs is missing."""
    need: list[str] = []
    for prog, pkg in (
        ("fluidsynth", "fluidsynth"),
        ("ffmpeg", "ffmpeg"),
        ("ffprobe", "ffmpeg"),
        ("text2wave", "festival"),
    ):
        if shutil.which(prog) is None:
            need.append(pkg)
    need += [s.package for s in missing_soundfonts()] + [v.package for v in missing_voices()]
    if family.soundfonts:
        need += [s.package for s in missing_soundfonts(family.soundfonts)]
    if need:
        raise MissingTools(
            "the evaluation-set generator needs: apt-get install " + " ".join(dict.fromkeys(need))
        )


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def _spec_hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()  # Jäger → Jager
    s = re.sub(r"[^A-Za-z0-9]+", "-", ascii_title).strip("-").lower()
    return s[:40] or "song"


def song_id_for(m: Melody) -> str:
    return "s" + hashlib.sha256(m.tune_id.encode()).hexdigest()[:8]


def split_of(key: str) -> str:
    """ "fit" or "held-out", 50/50, from a stable hash of ``key`` (a song id, or a no-song
    query's own id). Independent of the seed and of everything else in the set, so a song —
    and every query taken from it — stays on its side when the set grows."""
    return SPLITS[hashlib.sha256(f"split|{key}".encode()).digest()[0] & 1]


def default_outside(n_songs: int, share: float = OUTSIDE_SHARE) -> int:
    """Tunes to hold out so that they are ``share`` of all tunes: outside / (catalog +
    outside) ≥ ``share`` (300 catalog songs → 129 outside)."""
    # rounded before the ceiling: 0.3 · 7 / 0.7 is 3.0000000000000004 in floating point
    return int(np.ceil(round(share * n_songs / (1.0 - share), 9)))


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its finished children (ffmpeg, fluidsynth…)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


# ----------------------------------------------------------------------------- jobs (workers)


def _render_song_job(args: tuple[SongPlan, str, int, str, str, str]) -> float:
    plan, path, sr, fmt, truth_path, spec = args
    t = cpu_seconds()
    render_song(plan, Path(path), sr=sr, fmt=fmt)
    cpu = cpu_seconds() - t
    truth = {"spec": spec, "cpu_s": round(cpu, 3), "plan": plan_dict(plan)}
    _write_json(Path(truth_path), truth)
    return cpu


def _render_query_job(args: tuple[QueryPlan, str, str | None, int, str, str]) -> float:
    q, path, song_file, seed, truth_path, spec = args
    t = cpu_seconds()
    render_query(q, Path(path), song_file=Path(song_file) if song_file else None, seed=seed)
    cpu = cpu_seconds() - t
    truth = {
        "spec": spec,
        "cpu_s": round(cpu, 3),
        **q.truth(),
        "notes": [asdict(n) for n in q.notes],
        "target": [asdict(n) for n in q.target],
    }
    _write_json(Path(truth_path), truth)
    return cpu


def _render_nosong_job(args: tuple[NoSongPlan, str, int, str, str]) -> float:
    p, path, seed, truth_path, spec = args
    t = cpu_seconds()
    render_nosong(p, Path(path), seed=seed)
    cpu = cpu_seconds() - t
    _write_json(Path(truth_path), {"spec": spec, "cpu_s": round(cpu, 3), **p.truth()})
    return cpu


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False, default=str))
    tmp.replace(path)


def _cached(audio: Path, truth: Path, spec: str) -> dict | None:
    """The stored truth when ``audio`` exists and was made from ``spec``."""
    if not audio.exists() or not truth.exists():
        return None
    try:
        got = json.loads(truth.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return got if got.get("spec") == spec else None


# ----------------------------------------------------------------------------- the build


def plan_song_and_format(
    m: Melody,
    seed: int,
    sung: bool,
    formats: Mapping[str, float] = SONG_FORMATS,
    *,
    family: Family = FAMILIES["a"],
) -> tuple[SongPlan, str]:
    """The arrangement of tune ``m`` and the file format it is written in, from ``seed``."""
    rng = np.random.default_rng([seed, _h("song", m.tune_id) % 2**63])
    plan = plan_song(
        m,
        rng,
        song_id=song_id_for(m),
        sung=sung,
        soundfonts=family.soundfonts,
        singers=family.singers,
        melody_db_range=family.melody_db_range,
    )
    p = np.array(list(formats.values()), dtype=float)
    fmt = str(rng.choice(list(formats), p=p / p.sum()))
    if family.mastered:  # drawn after everything A draws, so A's songs are what they were
        plan = replace(plan, master=random_master(rng))
    return plan, fmt


def plan_dict(plan: SongPlan) -> dict:
    """The plan as its spec hash and truth file see it; a plan without a mix bus hashes as plans
    did before the field existed (family A's files are not rendered again)."""
    d = asdict(plan)
    if d.get("master") is None:
        d.pop("master", None)
    return d


def build_dataset(
    out_dir: Path | str,
    n_songs: int = 300,
    n_queries_per_kind: int | Mapping[str, int] = 40,
    n_out_of_catalog: int = 60,
    seed: int = 0,
    *,
    n_outside: int | None = None,
    n_nosong: int | Mapping[str, int] = 12,
    sung_share: float | None = None,
    family: str | Family = "a",
    sample_rate: int = DEFAULT_SR,
    formats: Mapping[str, float] = SONG_FORMATS,
    workers: int | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Render (or reuse) the data set in ``out_dir`` and write ``manifest.json``; returns it.

    ``n_queries_per_kind``: an int for each of hummed/sung/recorded, or a mapping such as
    ``{"hummed": 2}``. ``n_out_of_catalog`` queries cycle through the kinds, each from its own
    outside tune while there are enough.
    ``n_outside``: tunes held out of the catalog (default: :func:`default_outside` of
    ``n_songs``, and at least ``n_out_of_catalog``).
    ``n_nosong``: no-song queries per subkind (:data:`evaluation.evalset.nosong.SUBKINDS`), an int or a
    mapping such as ``{"held": 2}``.
    ``sung_share``: the share of songs whose melody is sung (exact, rounded up; default: the
    family's). ``family``: "a" (the generator every choice is made on) or "b" (other means,
    only reported): see :class:`Family`.
    ``workers``: parallel render processes (default: CPU count).
    """
    fam = FAMILIES[family] if isinstance(family, str) else family
    sung_share = fam.sung_share if sung_share is None else sung_share
    check_tools(fam)
    t_start = time.time()
    out = Path(out_dir)
    per_kind = (
        {k: int(n_queries_per_kind) for k in KINDS}
        if isinstance(n_queries_per_kind, int)
        else {k: int(n_queries_per_kind.get(k, 0)) for k in KINDS}
    )
    nosong_per = (
        {k: int(n_nosong) for k in SUBKINDS}
        if isinstance(n_nosong, int)
        else {k: int(n_nosong.get(k, 0)) for k in SUBKINDS}
    )
    if n_outside is None:
        n_outside = max(n_out_of_catalog, default_outside(n_songs)) if n_out_of_catalog else 0
    workers = workers or os.cpu_count() or 1
    for sub in ("songs", "queries", "outside", "truth/songs", "truth/queries"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    pool_tunes = load_melodies(fam.tune_offset + n_songs + n_outside, cache_dir=cache_dir, workers=workers)[
        fam.tune_offset :
    ]
    first_lot = min(n_outside, FIRST_OUTSIDE_LOT)
    by_lot = sorted(pool_tunes[: n_songs + first_lot], key=lambda m: _h(seed, "outside", m.tune_id))
    outside_ids = {m.tune_id for m in by_lot[:first_lot]} | {
        m.tune_id for m in pool_tunes[n_songs + first_lot :]
    }
    catalog = [m for m in pool_tunes if m.tune_id not in outside_ids]
    outside = [m for m in pool_tunes if m.tune_id in outside_ids]
    n_sung = int(np.ceil(sung_share * len(catalog)))
    sung_ids = {m.tune_id for m in sorted(catalog, key=lambda m: _h(seed, "sung", m.tune_id))[:n_sung]}

    def plan_for(m: Melody, sung: bool) -> tuple[SongPlan, str]:
        return plan_song_and_format(m, seed, sung, formats, family=fam)

    songs: list[tuple[SongPlan, str, Path]] = []
    for m in catalog:
        plan, fmt = plan_for(m, m.tune_id in sung_ids)
        songs.append((plan, fmt, out / "songs" / f"{plan.song_id}-{_slug(plan.title)}.{fmt}"))
    outside_plans: list[tuple[SongPlan, str, Path]] = []
    for k, m in enumerate(outside):
        plan, fmt = plan_for(m, _h(seed, "sung-out", m.tune_id) % 100 < sung_share * 100)
        outside_plans.append((plan, fmt, out / "outside" / f"{plan.song_id}-{_slug(plan.title)}.{fmt}"))

    # queries: in-catalog, each kind spread over the catalog without repeats while it can
    qplans: list[tuple[QueryPlan, Path | None, int]] = []
    for ki, kind in enumerate(KINDS):
        order = np.random.default_rng([seed, 99, ki]).permutation(len(songs))
        for k in range(per_kind[kind]):
            plan, _, path = songs[int(order[k % len(order)])]
            qseed = _h(seed, kind, k) % 2**63
            rng = np.random.default_rng(qseed)
            qid = f"{kind}-{k:03d}"
            if kind == "recorded":
                q = plan_recorded_query(plan, rng, query_id=qid)
                qplans.append((q, path, qseed))
            else:
                qplans.append(
                    (
                        plan_voice_query(plan, rng, query_id=qid, kind=kind, voices=fam.query_voices),
                        None,
                        qseed,
                    )
                )
    for k in range(n_out_of_catalog if outside_plans else 0):
        plan, _, path = outside_plans[k % len(outside_plans)]
        kind = KINDS[k % len(KINDS)]
        qseed = _h(seed, "outside", kind, k) % 2**63
        rng = np.random.default_rng(qseed)
        qid = f"outside-{kind}-{k:03d}"
        if kind == "recorded":
            qplans.append((plan_recorded_query(plan, rng, query_id=qid, in_catalog=False), path, qseed))
        else:
            qplans.append(
                (
                    plan_voice_query(
                        plan, rng, query_id=qid, kind=kind, in_catalog=False, voices=fam.query_voices
                    ),
                    None,
                    qseed,
                )
            )
    nplans: list[tuple[NoSongPlan, int]] = []
    for subkind in SUBKINDS:
        for k in range(nosong_per[subkind]):
            qseed = _h(seed, "nosong", subkind, k) % 2**63
            p = plan_nosong(subkind, k, np.random.default_rng(qseed), query_id=f"nosong-{subkind}-{k:03d}")
            nplans.append((p, qseed))
    needed_outside = {q.source_id for q, src, _ in qplans if q.kind == "recorded" and q.song_id is None}

    # songs first (recorded queries listen to them), reusing what a previous run made
    song_jobs, song_spec, reused_songs = [], {}, 0
    for plan, fmt, path in [*songs, *outside_plans]:
        spec = _spec_hash({"v": RENDER_VERSION, "sr": sample_rate, "fmt": fmt, "plan": plan_dict(plan)})
        song_spec[plan.song_id] = spec
        tpath = out / "truth" / "songs" / f"{plan.song_id}.json"
        if plan.song_id not in needed_outside and path.parent.name == "outside":
            # an outside tune only hummed or sung: its melody is ground truth, its audio unneeded
            if not tpath.exists() or json.loads(tpath.read_text()).get("spec") != spec:
                _write_json(tpath, {"spec": spec, "cpu_s": None, "plan": plan_dict(plan)})
            continue
        if _cached(path, tpath, spec) is not None:
            reused_songs += 1
        else:
            song_jobs.append((plan, str(path), sample_rate, fmt, str(tpath), spec))
    q_jobs, reused_q = [], 0
    for q, src, qseed in qplans:
        path = out / "queries" / f"{q.query_id}.ogg"
        tpath = out / "truth" / "queries" / f"{q.query_id}.json"
        # a recording is re-made whenever the song it records is
        spec = _spec_hash(
            {
                "v": RENDER_VERSION,
                "seed": qseed,
                "plan": asdict(q),
                "src": song_spec[q.source_id] if src else None,
            }
        )
        if _cached(path, tpath, spec) is not None:
            reused_q += 1
        else:
            q_jobs.append((q, str(path), str(src) if src else None, qseed, str(tpath), spec))

    n_jobs: list[tuple[NoSongPlan, str, int, str, str]] = []
    for p, qseed in nplans:
        path = out / "queries" / f"{p.query_id}.ogg"
        tpath = out / "truth" / "queries" / f"{p.query_id}.json"
        spec = _spec_hash({"v": RENDER_VERSION, "nosong": NOSONG_VERSION, "seed": qseed, "plan": asdict(p)})
        if _cached(path, tpath, spec) is not None:
            reused_q += 1
        else:
            n_jobs.append((p, str(path), qseed, str(tpath), spec))

    _run(_render_song_job, song_jobs, workers, "songs", progress)
    _run(_render_query_job, q_jobs, workers, "queries", progress)
    _run(_render_nosong_job, n_jobs, workers, "no-song queries", progress)

    manifest = _manifest(
        out,
        seed,
        songs,
        outside_plans,
        qplans,
        needed_outside,
        nplans=[p for p, _ in nplans],
        params={
            "n_songs": n_songs,
            "n_queries_per_kind": per_kind,
            "n_out_of_catalog": n_out_of_catalog,
            "n_outside": n_outside,
            "n_nosong": nosong_per,
            "sung_share": sung_share,
            "sample_rate": sample_rate,
            "formats": dict(formats),
        },
    )
    manifest["family"] = fam.name
    if fam.real_distractors:
        manifest["songs"] += _real_distractors(out, fam.real_distractors, cache_dir, fam.real_split)
    stats = BuildStats(
        len(song_jobs), reused_songs, len(q_jobs) + len(n_jobs), reused_q, round(time.time() - t_start, 2)
    )
    manifest["build"] = {**asdict(stats), **_cpu_figures(out, manifest)}
    _write_json(out / "manifest.json", manifest)
    _remove_stale(out, manifest)
    log.info(
        "data set in %s: %d songs (%d rendered), %d queries (%d rendered) in %.1f s",
        out,
        len(manifest["songs"]),
        stats.songs_rendered,
        len(manifest["queries"]),
        stats.queries_rendered,
        stats.wall_s,
    )
    return manifest


def _decodes(track: realmusic.Track) -> bool:
    """Whether the service can read ``track``: hyperrogue-music ships three Vorbis files whose
    headers ffmpeg rejects (hr-savino-caribbean, -ivory, -ocean); as catalog songs they would stop
    an evaluation at import, so they are left out like a damaged upload."""
    try:
        audio.decode_file(track.path, sample_rate=8000, max_seconds=5.0)
    except HumbotError:
        log.info("left out %s: it does not decode", track.track_id)
        return False
    return True


def _real_distractors(out: Path, n: int, cache_dir: Path | None, split: str) -> list[dict]:
    """Up to ``n`` real tracks of the game-music packages of ``split``, copied into ``songs/`` as
    catalog songs no query is of: a hum must still find its song among real music."""
    cache = (cache_dir or default_cache_dir()) / "realmusic"
    by_package: dict[str, list] = {}
    for t in realmusic.tracks(cache, splits=(split,)):
        by_package.setdefault(t.package, []).append(t)
    # round-robin over the packages: several productions and composers, not one album
    found = [t for group in itertools.zip_longest(*by_package.values()) for t in group if t is not None]
    if not found:
        log.warning("no real music installed for family B's distractors: %s", realmusic.install_command())
    entries = []
    for t in itertools.islice(filter(_decodes, found), n):
        sid = "r" + hashlib.sha256(t.track_id.encode()).hexdigest()[:8]
        dst = out / "songs" / f"{sid}-{_slug(t.track_id)}{t.path.suffix.lower()}"
        if not dst.exists():
            shutil.copyfile(t.path, dst)
        entries.append(
            {
                "id": sid,
                "file": _rel(out, dst),
                "title": t.track_id,
                "artist": t.package,
                "format": t.path.suffix[1:].lower(),
                "real": True,
                "sung": None,
                "truth": None,
                "split": split,
            }
        )
    return entries


def _run(fn, jobs: list, workers: int, what: str, progress) -> None:
    if not jobs:
        return
    if workers <= 1 or len(jobs) == 1:
        for i, j in enumerate(jobs):
            fn(j)
            if progress:
                progress(what, i + 1, len(jobs))
        return
    with ProcessPoolExecutor(workers) as pool:
        for i, _ in enumerate(pool.map(fn, jobs)):
            if progress:
                progress(what, i + 1, len(jobs))


def _rel(out: Path, p: Path) -> str:
    return str(p.relative_to(out))


def _song_entry(out: Path, plan: SongPlan, fmt: str, path: Path) -> dict:
    return {
        "id": plan.song_id,
        "file": _rel(out, path),
        "title": plan.title,
        "artist": plan.artist,
        "duration_s": plan.duration_s,
        "format": fmt,
        "tune_id": plan.tune_id,
        "sung": plan.sung,
        "lead": plan.lead_name,
        "qpm": plan.qpm,
        "key": plan.key,
        "melody_db": plan.melody_db,
        "truth": f"truth/songs/{plan.song_id}.json",
        "split": split_of(plan.song_id),
    }


def _manifest(
    out: Path,
    seed: int,
    songs,
    outside_plans,
    qplans,
    needed_outside,
    params: dict,
    nplans: list[NoSongPlan] = (),
) -> dict:
    queries = []
    for q, _, _ in qplans:
        queries.append(
            {
                "id": q.query_id,
                "file": f"queries/{q.query_id}.ogg",
                "kind": q.kind,
                "song": q.song_id,
                "source": q.source_id,
                "offset_s": q.offset_s,
                "alt_offsets_s": list(q.alt_offsets_s),
                "key_shift": q.key_shift,
                "register_shift": q.register_shift,
                "tempo": q.tempo,
                "duration_s": q.duration_s,
                "lead_s": q.lead_s,
                "performer": q.performer,
                "bitrate_kbps": q.channel.bitrate_kbps if q.channel else None,
                "truth": f"truth/queries/{q.query_id}.json",
                "split": split_of(q.source_id),  # a query is on its song's side
            }
        )
    for p in nplans:
        queries.append(
            {
                "id": p.query_id,
                "file": f"queries/{p.query_id}.ogg",
                "kind": p.kind,
                "subkind": p.subkind,
                "variant": p.variant,
                "song": None,
                "source": None,
                "pitches_hz": list(p.pitches_hz),
                "duration_s": p.duration_s,
                "performer": p.performer,
                "bitrate_kbps": p.channel.bitrate_kbps,
                "truth": f"truth/queries/{p.query_id}.json",
                "split": split_of(p.query_id),
            }
        )
    return {
        "version": MANIFEST_VERSION,
        "seed": seed,
        "params": params,
        "songs": [_song_entry(out, p, f, path) for p, f, path in songs],
        "outside": [
            _song_entry(out, p, f, path)
            | {"rendered": p.song_id in needed_outside}
            | ({} if p.song_id in needed_outside else {"file": None})
            for p, f, path in outside_plans
        ],
        "queries": queries,
    }


def _cpu_figures(out: Path, manifest: dict) -> dict:
    """CPU seconds per song and per query kind, from the stored truth of every file."""
    song_cpu = []
    for s in [s for s in manifest["songs"] if not s.get("real")] + [
        o for o in manifest["outside"] if o["rendered"]
    ]:
        t = json.loads((out / s["truth"]).read_text())
        song_cpu.append((t["cpu_s"], s["sung"]))
    q_cpu: dict[str, list[float]] = {}
    for q in manifest["queries"]:
        t = json.loads((out / q["truth"]).read_text())
        q_cpu.setdefault(q["kind"], []).append(t["cpu_s"])
    fig = {}
    if song_cpu:
        c = np.array([x for x, _ in song_cpu])
        s = np.array([y for _, y in song_cpu])
        fig["cpu_s_per_song"] = round(float(c.mean()), 3)
        fig["cpu_s_per_song_sung"] = round(float(c[s].mean()), 3) if s.any() else None
        fig["cpu_s_per_song_instrumental"] = round(float(c[~s].mean()), 3) if (~s).any() else None
    fig["cpu_s_per_query"] = {k: round(float(np.mean(v)), 3) for k, v in q_cpu.items()}
    return fig


def _remove_stale(out: Path, manifest: dict) -> None:
    """Files from an earlier build with other parameters: gone, so importing songs/ imports
    exactly this catalog."""
    keep = {out / s["file"] for s in manifest["songs"] + manifest["outside"] if s["file"]}
    keep |= {out / q["file"] for q in manifest["queries"]}
    keep |= {
        out / s["truth"] for s in manifest["songs"] + manifest["outside"] + manifest["queries"] if s["truth"]
    }
    for sub in ("songs", "queries", "outside", "truth/songs", "truth/queries"):
        for p in (out / sub).iterdir():
            if p.is_file() and p not in keep:
                p.unlink()


def load_manifest(out_dir: Path | str) -> dict:
    return json.loads((Path(out_dir) / "manifest.json").read_text())


def song_upload(out_dir: Path, song: dict, *, added_by: str) -> tuple[bytes, Upload]:
    """A manifest song as an import: its file's bytes, and ``HumService.add_song``'s keywords."""
    upload = Upload(
        filename=Path(song["file"]).name, title=song["title"], artist=song.get("artist"), added_by=added_by
    )
    return (out_dir / song["file"]).read_bytes(), upload


def demo_dataset(out_dir: Path | str, seed: int = 0, **kw) -> dict:
    """The demo preset: 10 songs and 2 hummed queries (well under a minute on 2 cores)."""
    return build_dataset(
        out_dir, n_songs=10, n_queries_per_kind={"hummed": 2}, n_out_of_catalog=0, seed=seed, n_nosong=0, **kw
    )
