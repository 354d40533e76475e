"""Fusing per-embedder hits into one ranking, and a calibrated confidence for each song.

Each song's fused score is the weighted mean of its cosine similarities per embedder (a song one
embedder did not return takes that embedder's lowest returned score). The confidence that a song
is the one in the query comes from :mod:`core.calibration`: a high score, a clear margin over
the best *other* song, a lead over the catalog's chance scores, all weighed by the catalog's
size. An out-of-catalog hum gives a middling top score with close runners-up; the real song
stands out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from core import calibration
from core.settings import Gate
from core.types import IndexHit

#: A row of :func:`one_per_group`: any tuple whose first item is a song id.
Row = TypeVar("Row", bound="tuple[str, *tuple[object, ...]]")


@dataclass(frozen=True)
class Fused:
    song_id: str
    score: float
    confidence: float
    offset_s: float
    scores: dict[str, float]  # raw cosine per embedder
    standing: calibration.Standing | None = None  # what ``confidence`` was computed from
    versions: tuple[str, ...] = ()  # other versions of the same recording found (see ``fuse``'s group_of)


def convincing(
    hits: Mapping[str, list[IndexHit]], gates: Mapping[str, Gate], group_of: Mapping[str, str] | None = None
) -> dict[str, IndexHit]:
    """Each gated embedder's best hit, where it passes its gate: a score of at least
    ``gate.score`` *and* a lead of ``gate.margin`` over its runner-up (embedder → hit) — the best
    hit of another group, when ``group_of`` groups versions of one recording."""
    out = {}
    group_of = group_of or {}
    for n, g in gates.items():
        ranked = sorted(hits.get(n) or [], key=lambda x: -x.score)
        if not ranked:
            continue
        top = ranked[0]
        group = group_of.get(top.song_id, top.song_id)
        runner_up = next((x.score for x in ranked[1:] if group_of.get(x.song_id, x.song_id) != group), 0.0)
        if top.score >= g.score and top.score - runner_up >= g.margin:
            out[n] = top
    return out


def one_per_group(
    rows: list[Row], group_of: Mapping[str, str]
) -> tuple[list[Row], dict[str, tuple[str, ...]]]:
    """Rows (song_id first, best first) with each group's best row only, and the other members of each kept row.

    Versions of one recording score alike (their windows are the same audio): counted apart, the
    second would be the first's runner-up, and the margin the confidence rests on would vanish.
    """
    kept: list[Row] = []
    members: dict[str, list[str]] = {}
    first: dict[str, str] = {}  # group → its kept song
    for row in rows:
        group = group_of.get(row[0], row[0])
        if group in first:
            members[first[group]].append(row[0])
        else:
            first[group] = row[0]
            members[row[0]] = []
            kept.append(row)
    return kept, {k: tuple(v) for k, v in members.items() if v}


def fuse(
    hits: Mapping[str, list[IndexHit]],
    weights: Mapping[str, float],
    gates: Mapping[str, Gate] | None = None,
    *,
    n_songs: int | None = None,
    group_of: Mapping[str, str] | None = None,
) -> list[Fused]:
    """One ranking of songs from each embedder's hits (sorted by fused score, descending).

    A gated embedder does not join the weighted mean: it is evidence only when it is
    convincing, i.e. its best song scores at least ``gate.score`` *and* leads its runner-up by
    ``gate.margin``; that one song then gains ``weight · (score − gate.score)``. The harmony
    (chroma) path ranks songs almost at random for a hum — a mean would only blur the melody's
    answer — but picks out a recording of the song itself by a wide margin.

    ``group_of`` (song_id → its primary's, for versions of one recording): each group is one
    answer — its best-scoring member, with the others in ``Fused.versions`` — and margins and
    chance scores are taken over the other groups.
    """
    used = {n: h for n, h in hits.items() if h and weights.get(n, 0) > 0}
    if not used:
        return []
    gates = {n: g for n, g in (gates or {}).items() if n in used}
    if len(gates) == len(used):  # only gated embedders: nothing to add them to
        gates = {}
    mean_of = [n for n in used if n not in gates]
    by_song = {n: {x.song_id: x for x in h} for n, h in used.items()}
    floor = {n: min(x.score for x in used[n]) for n in mean_of}
    bonus: dict[str, tuple[float, float]] = {}  # song → (score gained, offset)
    for n, top in convincing(used, gates, group_of).items():
        gained = weights[n] * (top.score - gates[n].score) + bonus.get(top.song_id, (0.0, 0.0))[0]
        bonus[top.song_id] = (gained, top.offset_s)
    total_w = sum(weights[n] for n in mean_of)
    order = sorted(mean_of, key=lambda n: -weights[n])  # the offset comes from the weightiest embedder
    rows = []
    for song_id in {x.song_id for n in mean_of for x in used[n]} | set(bonus):
        score = (
            sum(
                weights[n] * (by_song[n][song_id].score if song_id in by_song[n] else floor[n])
                for n in mean_of
            )
            / total_w
        )
        offset = next((by_song[n][song_id].offset_s for n in order if song_id in by_song[n]), None)
        if song_id in bonus:  # a recording's match pins the passage exactly
            score, offset = score + bonus[song_id][0], bonus[song_id][1]
        assert offset is not None  # each song is in a weighed embedder's hits or has a bonus
        scores = {n: by_song[n][song_id].score for n in used if song_id in by_song[n]}
        rows.append((song_id, score, offset, scores))
    rows.sort(key=lambda r: (-r[1], r[0]))
    rows, versions = one_per_group(rows, group_of or {})
    out: list[Fused] = []
    n_songs = n_songs or len(rows)
    chance = [r[1] for r in rows[1 : calibration.NULL_RANKS]]  # what the catalog gives by chance
    for i, (song_id, score, offset, scores) in enumerate(rows):
        # A one-song catalog has no runner-up: the margin is then over "no similarity".
        best_other = rows[0][1] if i > 0 else (rows[1][1] if len(rows) > 1 else 0.0)
        st = calibration.standing(
            score, score - best_other, chance[: i - 1] + chance[i:] if i else chance, n_songs
        )
        conf = calibration.confidence(st)
        if i:  # at most one song is the one in the query: a runner-up has what the top leaves
            conf = min(conf, 1.0 - out[0].confidence)
        out.append(Fused(song_id, float(score), conf, offset, scores, st, versions.get(song_id, ())))
    return out
