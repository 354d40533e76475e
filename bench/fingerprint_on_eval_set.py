"""The fingerprint path on a ``humbot eval`` data set: does it answer anything but recordings?

Issue 15 asks that the fingerprint path leave hummed and sung queries to the melody path. This
indexes the landmarks of every catalog song of an evaluation set (``python -m evaluation.evalset``:
family A or B) in a fresh local store and runs *every* query through the same search and
acceptance rule as the service (the song's own speed first, then the other four), then counts,
per query kind, how many the fingerprint answered and how many of those with the wrong song.
Nothing here chooses anything: it only reads.

    .venv/bin/python bench/fingerprint_on_eval_set.py eval-data/dataset --work eval-data/fp-eval-a
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import audio  # noqa: E402
from core.fingerprint import landmarks as lm_mod  # noqa: E402
from core.fingerprint.matching import accepted, anchors_decide  # noqa: E402
from core.index.fingerprint_local import LocalFingerprintIndex  # noqa: E402


async def answer(index: LocalFingerprintIndex, path: Path) -> tuple[str | None, bool]:
    """The song the fingerprint path answers a query with (or None), as HumService does, and
    whether the other candidates had to be verified (the top song's anchors did not decide)."""
    q = audio.decode_file(path, sample_rate=lm_mod.SAMPLE_RATE, max_seconds=30)
    variants = lm_mod.query_variants(q.samples)
    for batch in (variants[:1], variants[1:]):
        found = await index.search(batch, top_k=10)
        hit = accepted([f.hit for f in found])
        if hit is not None:
            return next(f.song_id for f in found if f.hit is hit), not anchors_decide([f.hit for f in found])
    return None, False


async def main_async(args: argparse.Namespace) -> None:
    manifest = json.loads((args.dataset / "manifest.json").read_text())
    index = LocalFingerprintIndex(args.work)
    await index.open()
    have = await index.song_ids()
    t0 = time.time()
    for s in manifest["songs"]:
        if s["id"] not in have:
            a = audio.decode_file(args.dataset / s["file"], sample_rate=lm_mod.SAMPLE_RATE, max_seconds=1800)
            await index.add(s["id"], lm_mod.landmarks_of(a.samples))
    print(f"{len(manifest['songs'])} songs indexed ({time.time() - t0:.0f} s); family {manifest.get('family', 'a')}")
    answered: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    total: Counter[str] = Counter()
    verified: Counter[str] = Counter()
    for q in manifest["queries"]:
        kind = q["kind"] if q.get("song") else f"{q['kind']} (not in the catalog)"
        total[kind] += 1
        song, by_verification = await answer(index, args.dataset / q["file"])
        if song is not None:
            answered[kind] += 1
            verified[kind] += by_verification
            wrong[kind] += song != q.get("song")
    for kind in sorted(total):
        print(f"{kind:32s} {total[kind]:4d} queries: answered by the fingerprint {answered[kind]:3d} "
              f"(by verification {verified[kind]}), with the wrong song {wrong[kind]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--work", type=Path, required=True, help="the fingerprint store to build (reused when it exists)")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
