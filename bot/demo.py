"""``humbot demo``: a catalog rendered locally from public-domain scores, searched by humming.

1. renders ~10 songs from music21's corpus (FluidSynth; some sung by festival) and two hummed
   voice notes (Opus) of catalog songs, into ``out/dataset`` (cached: a re-run is fast);
2. imports the songs into the configured service (embedded index by default);
3. searches each voice note and prints the results, the expected answer and the clip paths.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.cli import format_response
from bot.config import Config
from bot.wiring import build_service
from core.errors import IndexMismatch


async def _demo(cfg: Config, out: Path) -> int:
    from evaluation.evalset import demo_dataset, song_upload

    print(f"Rendering the demo catalog into {out / 'dataset'} (public-domain melodies, FluidSynth)…")
    manifest = demo_dataset(out / "dataset")
    base = out / "dataset"
    service = build_service(cfg)
    try:
        await service.start()
    except IndexMismatch:
        # A demo catalog left by an older version: its songs are all here, so re-embed them
        # (what `humbot reindex` does) rather than stop the demo.
        print("The demo catalog was built by an older version of humbot: re-embedding its songs…")
        await service.reindex()
        await service.start()
    try:
        for note in service.notes:
            print(f"note: {note}")
        titles = {}
        for s in manifest["songs"]:
            data, upload = song_upload(base, s, added_by="demo")
            res = await service.add_song(data, **upload)
            titles[s["id"]] = s["title"]
            print(
                f"  {'added' if res.created else 'have '} {res.song.song_id}  {s['title']}"
                f"{' — ' + s['artist'] if s.get('artist') else ''}  ({res.song.duration_s:.0f} s"
                f"{', sung' if s.get('sung') else ''})"
            )
        print(
            f"Catalog: {await service.count_songs()} songs in {cfg.data_dir} ({service.index.backend} index)\n"
        )
        clips = out / "clips"
        clips.mkdir(parents=True, exist_ok=True)
        right = 0
        queries = [q for q in manifest["queries"] if q.get("song")]
        for q in queries:
            path = base / q["file"]
            resp = await service.search(path.read_bytes(), filename=path.name, source="demo")
            clip_path = None
            if resp.clip is not None:
                clip_path = clips / f"{path.stem}.{resp.clip.filename.rsplit('.', 1)[-1]}"
                clip_path.write_bytes(resp.clip.data)
            expected = titles.get(q["song"], "?")
            print(
                f"Query: {q['kind']} voice note, {q.get('duration_s', 0):.0f} s, key shifted "
                f"{q.get('key_shift', 0):+.0f} semitones, tempo ×{q.get('tempo', 1):.2f} — of “{expected}” "
                f"from {q.get('offset_s', 0):.0f} s"
            )
            print(format_response(str(path), resp, clip_path))
            right += bool(resp.results) and resp.results[0].song.title == expected
            print()
        print(f"{right}/{len(queries)} hummed queries found their song. Clips are in {clips}.")
        return 0
    finally:
        await service.close()


def run_demo(cfg: Config, out: Path, verbose: bool = False) -> int:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    return asyncio.run(_demo(cfg, out))
