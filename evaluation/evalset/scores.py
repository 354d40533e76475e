"""Public-domain melodies from the music21 corpus, as plain note lists.

Sources (all bundled with the ``music21`` package, nothing is downloaded):

* O'Neill's *Music of Ireland* (1903), Ryan's *Mammoth Collection* (1883) and Aird's *Airs*
  (1782–1803): fiddle and fife tunes, public domain;
* the Essen Folksong Collection (traditional folk songs; the ABC encodings are distributed with
  music21 for non-commercial use — fine for evaluation data, see the corpus licence);
* J. S. Bach's chorales: the soprano line.

A tune is parsed once (music21 parsing costs ~0.2 s a tune) and cached as JSON per source file
under the cache directory. Tunes come out in a fixed, interleaved order across the sources, so the
first *n* distinct tunes are the same whatever *n* is (a bigger data set extends a smaller one),
and near-duplicates (folk collections are full of variants of one tune) are dropped by comparing
transposition-invariant interval n-grams.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Bump when the parsing or the note-list rules change: old caches are then ignored.
PARSER_VERSION = 8
#: "Moderate tempo" used to judge whether a tune has enough material (quarter notes a minute).
MODERATE_QPM = 100.0
#: A tune needs at least this many seconds of melody at ``MODERATE_QPM`` (repeats expanded).
MIN_SECONDS = 25.0
#: Two tunes whose interval 5-gram sets overlap this much (Jaccard) are variants of one tune.
DUPLICATE_JACCARD = 0.35
_NGRAM = 5


@dataclass(frozen=True)
class Note:
    """One melody note. ``onset``/``dur`` in quarter-note beats from the tune's start."""

    pitch: int
    onset: float
    dur: float


@dataclass(frozen=True)
class Melody:
    """A monophonic tune with what an arranger needs to accompany it."""

    tune_id: str  # stable: "<source>/<file>#<index in file>"
    title: str
    composer: str | None
    collection: str  # human-readable source collection
    notes: tuple[Note, ...]
    bars: tuple[float, ...]  # measure start offsets (beats); bars[0] == 0.0
    length_beats: float  # end of the tune (beats), repeats expanded
    beats_per_bar: float  # quarter beats in a full bar (most common measure length)
    meter: str  # "6/8", "4/4", … ("" when the source has none)
    tonic: int  # pitch class 0–11 of the estimated key
    mode: str  # "major" | "minor"

    def seconds(self, qpm: float = MODERATE_QPM) -> float:
        return self.length_beats * 60.0 / qpm

    @property
    def artist(self) -> str:
        return self.composer or f"Traditional ({self.collection})"

    @cached_property
    def signature(self) -> frozenset[tuple[int, ...]]:
        """Transposition-invariant interval 5-grams (repeated pitches merged): the tune's identity."""
        return interval_ngrams([n.pitch for n in self.notes])

    def to_json(self) -> dict:
        d = asdict(self)
        d["notes"] = [[n.pitch, n.onset, n.dur] for n in self.notes]
        return d

    @classmethod
    def from_json(cls, d: dict) -> Melody:
        d = dict(d)
        d["notes"] = tuple(Note(int(p), float(o), float(du)) for p, o, du in d["notes"])
        d["bars"] = tuple(d["bars"])
        return cls(**d)


def interval_ngrams(pitches: Sequence[int], n: int = _NGRAM) -> frozenset[tuple[int, ...]]:
    merged = [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]]
    iv = np.diff(np.asarray(merged, dtype=int)).tolist()
    return frozenset(tuple(iv[i : i + n]) for i in range(max(0, len(iv) - n + 1)))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def is_variant(a: Melody, b: Melody) -> bool:
    """Whether two tunes are the same tune for a listener (a variant, a transposition, a copy)."""
    same_title = _norm_title(a.title) == _norm_title(b.title)
    return jaccard(a.signature, b.signature) >= (DUPLICATE_JACCARD / 2 if same_title else DUPLICATE_JACCARD)


# --------------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True)
class Source:
    key: str  # folder in the music21 corpus
    collection: str
    composer: str | None
    weight: int  # tunes taken from it per round of the interleaving
    kind: str  # "abc" (many tunes a file) | "score" (one score a file, melody = top part)


SOURCES: tuple[Source, ...] = (
    Source("oneills1850", "O'Neill's Music of Ireland", None, 2, "abc"),
    Source("essenFolksong", "Essen Folksong Collection", None, 2, "abc"),
    Source("ryansMammoth", "Ryan's Mammoth Collection", None, 1, "abc"),
    Source("airdsAirs", "Aird's Airs", None, 1, "abc"),
    Source("bach", "Bach chorales", "J. S. Bach", 1, "score"),
)
#: Essen files that are test data or variant collections in the corpus, not songs.
_SKIP_FILES = {"test0.abc", "test1.abc", "testd.abc", "teste.abc", "variant0.abc"}


@dataclass(frozen=True)
class TuneRef:
    source: str
    file: str  # file name inside the source folder
    index: int  # tune number inside the file (0 for one-score files)

    @property
    def tune_id(self) -> str:
        return f"{self.source}/{self.file}#{self.index}"


def corpus_dir() -> Path:
    import music21.corpus

    return Path(music21.corpus.__file__).parent


def _split_abc(text: str) -> tuple[str, list[str]]:
    """File header and one text per tune (each starts at its ``X:`` line)."""
    parts = re.split(r"(?m)^(?=X:)", text)
    return parts[0], parts[1:]


def _read(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # the Essen files are Latin-1


def _source_refs(src: Source) -> list[TuneRef]:
    """All tunes of a source in a fixed shuffled order (independent of any data-set seed, so the
    candidate order — hence the cache — is the same for every data set)."""
    folder = corpus_dir() / src.key
    refs: list[TuneRef] = []
    if src.kind == "abc":
        for f in sorted(folder.glob("*.abc")):
            if f.name in _SKIP_FILES:
                continue
            n = len(_split_abc(_read(f))[1])
            refs += [TuneRef(src.key, f.name, i) for i in range(n)]
    else:
        # Chorales only (bwvNNN.N), not the cantata movements or organ works.
        for f in sorted(folder.glob("bwv*.mxl")):
            if re.fullmatch(r"bwv\d+\.\d+\.mxl", f.name):
                refs.append(TuneRef(src.key, f.name, 0))
    random.Random(f"humbot-evalset-{src.key}").shuffle(refs)
    return refs


def iter_candidates(sources: Sequence[Source] = SOURCES) -> Iterator[TuneRef]:
    """Every tune of every source, interleaved by weight (2 O'Neill, 2 Essen, 1 Ryan, …)."""
    queues = [(s, iter(_source_refs(s))) for s in sources]
    live = list(queues)
    while live:
        for item in list(live):
            src, it = item
            for _ in range(src.weight):
                ref = next(it, None)
                if ref is None:
                    live.remove(item)
                    break
                yield ref


# --------------------------------------------------------------------------------------------
# Parsing (music21) — runs in worker processes


_PC_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_PC_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(notes: Sequence[Note]) -> tuple[int, str]:
    """Krumhansl–Schmuckler key estimate from duration-weighted pitch classes (what music21's
    ``analyze('key')`` does, without its 0.1 s cost). Ties resolve to the last note's class."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.dur
    hist[notes[-1].pitch % 12] += 0.5 * max(n.dur for n in notes)  # tunes end on the tonic
    best = (-2.0, 0, "major")
    for tonic in range(12):
        for mode, prof in (("major", _PC_MAJOR), ("minor", _PC_MINOR)):
            r = float(np.corrcoef(hist, np.roll(prof, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def _melody_from_part(part, ref: TuneRef, title: str, composer: str | None, collection: str):
    """Note list, bars and meter of one music21 part; a reason string when it cannot be used."""
    from music21 import chord, note

    measures = list(part.getElementsByClass("Measure"))
    bars = sorted({float(m.offset) for m in measures}) or [0.0]
    raw: list[tuple[float, float, int]] = []
    for el in part.flatten().stripTies().notes:
        ql = float(el.quarterLength)
        if ql <= 0 or el.duration.isGrace:
            continue  # grace notes: ornaments, not the tune
        if isinstance(el, chord.Chord):
            pitch = max(p.midi for p in el.pitches)  # double stops: the tune is on top
        elif isinstance(el, note.Note):
            pitch = el.pitch.midi
        else:
            continue
        raw.append((float(el.offset), ql, int(pitch)))
    if len(raw) < 24:
        return "fewer than 24 notes"
    raw.sort(key=lambda t: (t[0], -t[2]))
    notes: list[Note] = []
    for i, (on, ql, p) in enumerate(raw):
        if notes and abs(notes[-1].onset - on) < 1e-6:
            continue  # a second voice at the same onset: keep the top one
        nxt = next((r[0] for r in raw[i + 1 :] if r[0] > on + 1e-6), None)
        dur = min(ql, nxt - on) if nxt is not None else ql
        notes.append(Note(p, round(on, 4), round(dur, 4)))
    pitches = [n.pitch for n in notes]
    if max(pitches) - min(pitches) > 26:
        return "range wider than 26 semitones"
    length = max(float(part.highestTime), notes[-1].onset + notes[-1].dur)
    lengths = np.diff(list(bars) + [length])
    full = [round(float(x), 3) for x in lengths if x > 0]
    bpb = max(set(full), key=full.count) if full else 4.0
    if bpb <= 0.5 or bpb > 8:
        bpb = 4.0
    if len(bars) < length / (3 * bpb):  # unbarred (free-meter Essen songs): a regular grid
        bpb = 4.0 if bpb > 6 or len(bars) < 2 else bpb
        bars = [float(b) for b in np.arange(0.0, length, bpb)]
    ts = part.recurse().getElementsByClass("TimeSignature")
    meter = ts[0].ratioString if len(ts) else ""
    tonic, mode = estimate_key(notes)
    return Melody(
        tune_id=ref.tune_id,
        title=title,
        composer=composer,
        collection=collection,
        notes=tuple(notes),
        bars=tuple(round(b, 4) for b in bars),
        length_beats=round(length, 4),
        beats_per_bar=float(bpb),
        meter=meter,
        tonic=tonic,
        mode=mode,
    )


def parse_tune(ref: TuneRef) -> dict | str:
    """Parse one tune; its melody as JSON, or why it was rejected (a short string)."""
    from music21 import converter

    src = next(s for s in SOURCES if s.key == ref.source)
    path = corpus_dir() / ref.source / ref.file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if src.kind == "abc":
                header, tunes = _split_abc(_read(path))
                score = converter.parse(tunes[ref.index], format="abc")
            else:
                score = converter.parse(path)
            parts = list(getattr(score, "parts", []))
            part = _expand_repeats(parts[0] if parts else score)  # the tune: the top part
        except Exception as e:  # malformed ABC exists in the corpus; skip that tune
            return f"parse error: {type(e).__name__}"
    md = score.metadata
    title = (md.title if md else None) or (md.movementName if md else None) or ref.file
    if src.kind == "abc":  # music21 drops the Essen umlauts (cp437 bytes): read the T: line
        t_line = re.search(r"(?m)^T:\s*(.+)$", tunes[ref.index])
        title = _fix_cp437(t_line.group(1)) if t_line else title
    title = _clean_title(title)
    if src.kind == "score":
        title = f"Chorale {Path(ref.file).stem.upper().replace('BWV', 'BWV ')}" + (
            f" — {title}" if title and not title.lower().startswith("bwv") else ""
        )
    # Folk collections use the ABC C: field for an origin ("Irish."), not a composer.
    composer = src.composer
    m = _melody_from_part(part, ref, title, composer, src.collection)
    return m if isinstance(m, str) else m.to_json()


class _Timeout(BaseException):  # not Exception: music21 must not swallow it
    pass


def _balance_repeats(part) -> None:
    """Give every end-repeat its start-repeat, as a player reads them.

    ABC transcriptions write ``A :| B :|`` for "play A twice, then B twice", but music21 sends
    an end-repeat without a start-repeat back to the very beginning, so each extra section
    multiplies the tune (3 sections: ×4.7; one O'Neill tune with 9: minutes of CPU and 50,000
    notes). An end-repeat after an earlier one repeats from the bar after it.
    """
    from music21 import bar

    measures = list(part.getElementsByClass("Measure"))
    prev_end, open_start = -1, False
    for i, m in enumerate(measures):
        if isinstance(m.leftBarline, bar.Repeat) and m.leftBarline.direction == "start":
            open_start = True
        if isinstance(m.rightBarline, bar.Repeat) and m.rightBarline.direction == "end":
            if not open_start and prev_end >= 0:
                measures[prev_end + 1].leftBarline = bar.Repeat(direction="start")
            open_start, prev_end = False, i


def _expand_repeats(part, seconds: int = 60):
    """The part with its repeats written out (balanced first), or as written when music21
    cannot expand it or the result is not a plausible ≤ 3× the written length.

    Deterministic by design — the result must not depend on machine load, or the same seed would
    give other tunes elsewhere; the alarm is only a guard against a hang (never hit in the corpus).
    """
    import signal

    def _alarm(signum, frame):
        raise _Timeout

    _balance_repeats(part)
    use_alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    if use_alarm:
        signal.alarm(seconds)
    try:
        expanded = part.expandRepeats()
    except _Timeout:
        log.warning("expanding repeats took over %d s; using the tune as written", seconds)
        return part
    except Exception:  # incoherent repeat brackets: keep the tune as written
        return part
    finally:
        if use_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    if float(expanded.highestTime) > 3 * float(part.highestTime) + 1e-6:
        return part
    return expanded


def _fix_cp437(t: str) -> str:
    """C1 control characters in the Essen titles are cp437 umlauts (0x84 'ä', 0x81 'ü', …)."""
    return "".join(bytes([ord(c)]).decode("cp437") if 0x80 <= ord(c) <= 0x9F else c for c in t)


def _clean_title(t: str) -> str:
    t = re.sub(r"\s+", " ", str(t)).strip()
    t = re.sub(r"\s*\(\d+-\d+\)(\s*S\.\s*\d+\w*)?$", "", t)  # Essen catalogue references
    t = t.rstrip(".").strip()
    if t.isupper():
        t = t.title()
    return t[:1].upper() + t[1:] if t else "Untitled"


def _norm_title(t: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", t.lower())


# --------------------------------------------------------------------------------------------
# Cache + selection


def default_cache_dir() -> Path:
    env = os.environ.get("HUMBOT_EVALSET_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "humbot" / "evalset"


class _TuneCache:
    """Parsed tunes as JSON, one file per corpus file: {index: melody-json | rejection-reason}."""

    def __init__(self, cache_dir: Path) -> None:
        import music21

        self.root = Path(cache_dir) / f"melodies-v{PARSER_VERSION}-m21-{music21.__version__}"
        self._files: dict[tuple[str, str], dict[str, dict | str]] = {}
        self._dirty: set[tuple[str, str]] = set()

    def _load(self, source: str, file: str) -> dict[str, dict | str]:
        key = (source, file)
        if key not in self._files:
            p = self.root / source / f"{file}.json"
            try:
                self._files[key] = json.loads(p.read_text()) if p.exists() else {}
            except (OSError, json.JSONDecodeError):
                self._files[key] = {}  # a torn write: parse again
        return self._files[key]

    def get(self, ref: TuneRef) -> dict | str | None:
        return self._load(ref.source, ref.file).get(str(ref.index))

    def put(self, ref: TuneRef, value: dict | str) -> None:
        self._load(ref.source, ref.file)[str(ref.index)] = value
        self._dirty.add((ref.source, ref.file))

    def flush(self) -> None:
        for source, file in self._dirty:
            p = self.root / source / f"{file}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(self._files[(source, file)]))
            tmp.replace(p)  # atomic: a concurrent reader sees the old or the new file, never half
        self._dirty.clear()


def eligible(m: Melody, min_seconds: float = MIN_SECONDS) -> bool:
    return m.seconds(MODERATE_QPM) >= min_seconds


def load_melodies(
    n: int,
    *,
    cache_dir: Path | None = None,
    workers: int = 2,
    min_seconds: float = MIN_SECONDS,
    sources: Sequence[Source] = SOURCES,
    exclude: Sequence[Melody] = (),
) -> list[Melody]:
    """The first ``n`` distinct, long-enough tunes in the fixed candidate order.

    ``exclude``: tunes already taken elsewhere; variants of them are skipped too. Raises
    ``ValueError`` when the corpus runs out (it holds several thousand usable tunes).
    """
    cache = _TuneCache(cache_dir or default_cache_dir())
    chosen: list[Melody] = []
    taken = list(exclude)
    cand = iter_candidates(sources)
    exhausted = False
    pool = None
    try:
        while len(chosen) < n and not exhausted:
            want = n - len(chosen)
            batch: list[TuneRef] = []
            for ref in cand:
                batch.append(ref)
                if len(batch) >= max(8, int(want * 1.6)):
                    break
            else:
                exhausted = True
            todo = [r for r in batch if cache.get(r) is None]
            if todo:
                if workers > 1 and len(todo) > 4:
                    pool = pool or ProcessPoolExecutor(workers)
                    results = list(pool.map(parse_tune, todo, chunksize=4))
                else:
                    results = [parse_tune(r) for r in todo]
                for r, res in zip(todo, results):
                    cache.put(r, res)
                cache.flush()
                log.info("parsed %d tunes from the music21 corpus", len(todo))
            for ref in batch:
                got = cache.get(ref)
                if isinstance(got, str) or got is None:
                    continue
                m = Melody.from_json(got)
                if not eligible(m, min_seconds) or any(is_variant(m, t) for t in taken):
                    continue
                chosen.append(m)
                taken.append(m)
                if len(chosen) == n:
                    break
    finally:
        if pool is not None:
            pool.shutdown()
    if len(chosen) < n:
        raise ValueError(
            f"only {len(chosen)} distinct tunes of ≥{min_seconds:.0f} s in the corpus; asked for {n}"
        )
    return chosen
