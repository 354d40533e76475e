"""``humbot``: the command line (typer). Every command is a thin shell over :class:`HumService`."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from tqdm import tqdm

from bot.config import Config, load_config
from core.errors import ConfigError, HumbotError
from core.text import clean_label

T = TypeVar("T")
log = logging.getLogger("humbot")

app = typer.Typer(
    help="humbot: find a song from a hummed, sung or recorded voice note.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
songs_app = typer.Typer(help="Manage the song catalog.", no_args_is_help=True)
models_app = typer.Typer(help="Model checkpoints.", no_args_is_help=True)
discord_app = typer.Typer(help="Discord administration.", no_args_is_help=True)
app.add_typer(songs_app, name="songs")
app.add_typer(models_app, name="models")
app.add_typer(discord_app, name="discord")


@dataclass
class State:
    config_path: Path | None = None
    data_dir: Path | None = None
    verbose: bool = False

    def config(self) -> Config:
        try:
            return load_config(self.config_path, data_dir=self.data_dir)
        except ConfigError as e:
            typer.secho(str(e), fg="red", err=True)
            raise typer.Exit(2) from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("numba", "matplotlib", "httpx", "elastic_transport", "urllib3", "discord.gateway"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config file (default: $HUMBOT_CONFIG or ./config.yaml)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Override data_dir from the config.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False,
) -> None:
    ctx.obj = State(config, data_dir, verbose)


def _state(ctx: typer.Context) -> State:
    return ctx.obj


@contextlib.asynccontextmanager
async def _service(cfg: Config, verbose: bool = False, *, start: bool = True) -> AsyncIterator[Any]:
    from bot.wiring import build_service

    _setup_logging("DEBUG" if verbose else cfg.log_level)
    service = build_service(cfg)
    try:
        if start:
            await service.start()
        yield service
    finally:
        await service.close()


def _run(ctx: typer.Context, body: Callable[[Any, Config], Awaitable[T]], *, start: bool = True) -> T:
    """Run ``body(service, config)`` in a fresh event loop; HumbotError → message + exit 1.

    ``start=False`` skips opening the index (``reindex`` must work on a mismatched index).
    """
    state = _state(ctx)
    cfg = state.config()

    async def go() -> T:
        async with _service(cfg, state.verbose, start=start) as service:
            return await body(service, cfg)

    try:
        return asyncio.run(go())
    except HumbotError as e:
        typer.secho(str(e), fg="red", err=True)
        raise typer.Exit(1) from None


# -- songs -----------------------------------------------------------------------------------
def tags_of(path: Path, data: bytes | None = None) -> tuple[str, str | None]:
    """(title, artist): from tags, else ``Artist - Title.ext``, else the file name as title.

    ``data``: the file's bytes, already read within the size limit (mutagen then reads those, not
    the path, which could be a link to an endless device).
    """
    try:
        import mutagen

        f = mutagen.File(io.BytesIO(data) if data is not None else path, easy=True)
        tags = dict(f.tags or {}) if f is not None else {}
    except Exception:  # unreadable tags are not an error: fall back to the name
        tags = {}
    title = (tags.get("title") or [None])[0]
    artist = (tags.get("artist") or [None])[0]
    if title:
        return str(title).strip(), (str(artist).strip() if artist else None)
    stem = path.stem
    if " - " in stem:
        a, t = stem.split(" - ", 1)
        return t.strip(), a.strip() or None
    return stem, None


def _read(path: Path, *, max_mb: float) -> bytes:
    """A file's bytes, refused before reading past the upload limit (see core.audio.read_file)."""
    from core.audio import read_file  # librosa and FFmpeg load only for commands that decode

    return read_file(path, max_mb=max_mb)


def _truncation(res: Any) -> str | None:
    from adapters.common.formatting import truncation_text  # the service's modules load only when used

    return truncation_text(res, "en")


def duplicate_note(res: Any, flag: str) -> str | None:
    """What an import says about a file that is the same recording as a catalog song (else None)."""
    twin = res.duplicate_of
    if twin is None:
        return None
    if res.created:
        return f"kept as a version of '{twin.title}' ({twin.song_id})"
    return (
        f"looks like the same recording as '{twin.title}' ({twin.song_id}): skipped "
        f"(use {flag} to keep it as a version)"
    )


def audio_files(directory: Path) -> list[Path]:
    """The files under ``directory`` (recursively, sorted) that ``songs import`` takes: those with
    a suffix in :data:`core.audio.AUDIO_SUFFIXES`, the same list chat uploads are judged by."""
    from core.audio import AUDIO_SUFFIXES  # librosa and FFmpeg load only for commands that decode

    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


@songs_app.command("import")
def songs_import(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    added_by: Annotated[str, typer.Option(help="Recorded as who added the songs.")] = "cli",
    keep_duplicates: Annotated[
        bool,
        typer.Option(
            "--keep-duplicates",
            help="Keep files that are the same recording as a catalog song "
            "(a re-encode, a remaster…) as versions of it, instead of skipping them.",
        ),
    ] = False,
) -> None:
    """Import every audio file under DIRECTORY (recursively)."""
    files = audio_files(directory)

    async def body(service: Any, cfg: Config) -> tuple[int, int, int, list[str]]:
        added = existing = duplicates = 0
        failed: list[str] = []
        for path in tqdm(files, desc="importing", unit="song"):
            try:
                data = _read(path, max_mb=cfg.limits.max_upload_mb)
                title, artist = tags_of(path, data)
                res = await service.add_song(
                    data,
                    filename=path.name,
                    title=title,
                    artist=artist,
                    added_by=added_by,
                    on_duplicate="version" if keep_duplicates else "skip",
                )
            except HumbotError as e:
                failed.append(f"{path}: {e}")
                tqdm.write(f"skipped {path}: {e}", file=sys.stderr)
                continue
            if (note := duplicate_note(res, "--keep-duplicates")) is not None:
                tqdm.write(f"{path}: {note}")
            if (note := _truncation(res)) is not None:
                tqdm.write(f"{path}: {note}")
            added += res.created
            duplicates += not res.created and res.duplicate_of is not None
            existing += not res.created and res.duplicate_of is None
        return added, existing, duplicates, failed

    added, existing, duplicates, failed = _run(ctx, body)
    dup = f", {duplicates} copies of catalog songs skipped" if duplicates else ""
    typer.echo(
        f"{len(files)} files: {added} added, {existing} already in the catalog{dup}, {len(failed)} skipped."
    )
    if failed and not (added or existing or duplicates):
        raise typer.Exit(1)


@songs_app.command("add")
def songs_add(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    title: Annotated[str | None, typer.Option(help="Default: from tags or the file name.")] = None,
    artist: Annotated[str | None, typer.Option()] = None,
    added_by: Annotated[str, typer.Option()] = "cli",
    keep_duplicate: Annotated[
        bool,
        typer.Option(
            "--keep-duplicate",
            help="If it is the same recording as a catalog song (a re-encode, a "
            "remaster…), keep it as a version of that song instead of skipping it.",
        ),
    ] = False,
) -> None:
    """Add one song."""

    async def body(service: Any, cfg: Config) -> Any:
        data = _read(file, max_mb=cfg.limits.max_upload_mb)
        tag_title, tag_artist = tags_of(file, data)
        return await service.add_song(
            data,
            filename=file.name,
            title=title or tag_title,
            artist=artist or tag_artist,
            added_by=added_by,
            on_duplicate="version" if keep_duplicate else "skip",
        )

    res = _run(ctx, body)
    if (note := duplicate_note(res, "--keep-duplicate")) is not None:
        typer.echo(note, err=not res.created)
    if (note := _truncation(res)) is not None:
        typer.secho(note, fg="yellow", err=True)
    if res.created:
        typer.echo(f"{res.song.song_id}\t{res.song.title}\tadded")
    elif res.duplicate_of is None:
        typer.echo(f"{res.song.song_id}\t{res.song.title}\talready in the catalog")


@songs_app.command("list")
def songs_list(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the catalog."""
    songs = _run(ctx, lambda service, cfg: service.list_songs())
    for s in songs:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "song_id": s.song_id,
                        "title": s.title,
                        "artist": s.artist,
                        "duration_s": round(s.duration_s, 2),
                        "source_name": s.source_name,
                        "added_by": s.added_by,
                        "added_at": s.added_at.isoformat(),
                        "version_of": s.version_of,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            # Cleaned again on the way out: rows stored before titles were cleaned may hold tabs or newlines.
            typer.echo(
                f"{s.song_id}\t{clean_label(s.title)}\t{clean_label(s.artist) or ''}\t{s.duration_s:.0f}s"
            )
    if not as_json:
        typer.echo(f"{len(songs)} songs", err=True)


@songs_app.command("remove")
def songs_remove(ctx: typer.Context, song_id: str) -> None:
    """Remove a song, its vectors and its file."""
    song = _run(ctx, lambda service, cfg: service.remove_song(song_id))
    typer.echo(f"removed {song.song_id}\t{song.title}")


# -- search ----------------------------------------------------------------------------------
def _result_json(r: Any) -> dict[str, Any]:
    return {
        "song_id": r.song.song_id,
        "title": r.song.title,
        "artist": r.song.artist,
        "score": round(r.score, 4),
        "confidence": round(r.confidence, 4),
        "offset_s": round(r.offset_s, 2),
        "versions": [v.song_id for v in r.versions],
    }


@app.command()
def search(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    top: Annotated[int | None, typer.Option("--top", "-k", help="Results per query.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line per query.")] = False,
    clips: Annotated[Path | None, typer.Option(help="Write the top match's clip here.")] = None,
) -> None:
    """Find the songs recordings (hummed, sung or played) come from."""
    failures = 0

    async def body(service: Any, cfg: Config) -> None:
        nonlocal failures
        for path in files:
            try:
                resp = await service.search(
                    _read(path, max_mb=cfg.limits.max_upload_mb),
                    filename=path.name,
                    top_k=top,
                    with_clip=clips is not None,
                    source="cli",
                )
            except HumbotError as e:
                failures += 1
                if as_json:
                    typer.echo(
                        json.dumps(
                            {
                                "query": str(path),
                                "results": [],
                                "match": False,
                                "reason": None,
                                "error": str(e),
                            },
                            ensure_ascii=False,
                        )
                    )
                else:
                    typer.secho(f"{path}: {e}", fg="red", err=True)
                continue
            clip_path = None
            if clips is not None and resp.clip is not None:
                clips.mkdir(parents=True, exist_ok=True)
                clip_path = clips / f"{path.stem}.{resp.clip.filename.rsplit('.', 1)[-1]}"
                clip_path.write_bytes(resp.clip.data)
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "query": str(path),
                            "results": [_result_json(r) for r in resp.results],
                            "match": resp.match,
                            "reason": resp.reason,
                            "error": None,
                            "clip": str(clip_path) if clip_path else None,
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                typer.echo(
                    format_response(
                        str(path), resp, clip_path, max_query_seconds=cfg.limits.max_query_seconds
                    )
                )

    _run(ctx, body)
    if failures == len(files):
        raise typer.Exit(1)


def format_response(
    query: str, resp: Any, clip_path: Path | None, *, max_query_seconds: float | None = None
) -> str:
    """What ``humbot search`` prints for one query: the chat reply's text
    (:func:`adapters.common.formatting.format_response`, in English, with song ids) under
    ``query:``, indented, and where the clip was written."""
    from adapters.common.formatting import format_response as reply_text  # loads the service's modules

    head, *rest = reply_text(
        resp, "en", max_query_seconds=max_query_seconds, max_chars=sys.maxsize, song_ids=True
    ).splitlines()
    lines = [f"{query}: {head}", *(f"  {line}" if line else "" for line in rest)]
    if clip_path:
        lines.append(f"  clip: {clip_path}")
    return "\n".join(lines)


# -- models, index, status -------------------------------------------------------------------
@models_app.command("download")
def models_download(ctx: typer.Context) -> None:
    """Download the PANNs Cnn14 checkpoint (≈327 MB) with a progress bar and checksum."""
    from bot.models import CNN14, DownloadError, download

    cfg = _state(ctx).config()
    dest = cfg.panns_checkpoint
    typer.echo(f"Downloading PANNs Cnn14 (~{CNN14.approx_mb} MB) to {dest}")
    try:
        download(CNN14, dest)
    except DownloadError as e:
        typer.secho(str(e), fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"OK: {dest} (md5 verified)")


@app.command()
def reindex(ctx: typer.Context) -> None:
    """Re-embed every catalog song into a fresh index and switch to it."""
    res = _run(ctx, lambda service, cfg: service.reindex(), start=False)
    for song, why in res.skipped:
        typer.secho(f"skipped {song.song_id}\t{clean_label(song.title)}: {why}", fg="yellow", err=True)
    skipped = (
        f"; {len(res.skipped)} skipped (restore their files, or `humbot songs remove` them)"
        if res.skipped
        else ""
    )
    typer.echo(f"reindexed {res.indexed} songs{skipped}")
    if res.skipped and not res.indexed:
        raise typer.Exit(1)


@app.command()
def status(ctx: typer.Context) -> None:
    """Backend health, catalog size, queued writes and loaded models."""
    st = _run(ctx, lambda service, cfg: service.stats())
    ix = st.index
    typer.echo(f"backend:   {ix.backend} ({'healthy' if ix.healthy else 'UNAVAILABLE'}) {ix.detail}")
    typer.echo(f"songs:     {st.songs} in catalog, {ix.songs} in index")
    typer.echo("segments:  " + ", ".join(f"{k}={v}" for k, v in ix.segments.items()))
    typer.echo(f"queued:    {ix.pending} writes waiting for the backend")
    typer.echo(f"models:    {', '.join(st.embedders) or 'none'}")
    typer.echo(f"queries:   {st.queries} served, {st.matched} confident matches")
    for note in st.notes:
        typer.secho(f"note:      {note}", fg="yellow")


# -- serve -----------------------------------------------------------------------------------
def build_adapters(cfg: Config, service: Any) -> list[Any]:
    adapters: list[Any] = []
    if cfg.telegram.enabled:
        from adapters.telegram import TelegramAdapter

        adapters.append(TelegramAdapter(cfg.telegram, service, default_lang=cfg.language))
    if cfg.discord.enabled:
        from adapters.discord import DiscordAdapter

        adapters.append(DiscordAdapter(cfg.discord, service, default_lang=cfg.language))
    return adapters


@app.command()
def serve(ctx: typer.Context) -> None:
    """Run the configured chat adapters in one event loop until interrupted."""
    cfg = _state(ctx).config()
    if not (cfg.telegram.enabled or cfg.discord.enabled):
        typer.secho(
            "No adapter is enabled: set telegram.enabled or discord.enabled in the config.",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)

    async def body(service: Any, cfg: Config) -> None:
        adapters = build_adapters(cfg, service)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        started: list[Any] = []
        try:
            for a in adapters:
                await _start_adapter(a)
                started.append(a)
                log.info("adapter %s running", a.name)
            await stop.wait()
            log.info("shutting down: letting in-flight work finish")
        finally:
            # Also when one failed to start: the others must not be left half running (Telegram's
            # last getUpdates acknowledges what it fetched; in-flight searches get their answers).
            for a in reversed(started):
                await _stop_adapter(a)

    _run(ctx, body)


async def _start_adapter(adapter: Any) -> None:
    """Start one adapter; a failure is reported in one line (a HumbotError says what to fix, e.g.
    a missing webhook secret; anything else, such as an unreachable server or a refused token,
    names the adapter and the error). The traceback goes to the log at DEBUG (``-v``)."""
    try:
        await adapter.start()
    except HumbotError:
        raise  # its own message is printed by _run
    except Exception as e:
        log.debug("adapter %s failed to start", adapter.name, exc_info=True)
        typer.secho(
            f"The {adapter.name} adapter could not start: {type(e).__name__}: {e}", fg="red", err=True
        )
        raise typer.Exit(1) from None


async def _stop_adapter(adapter: Any) -> None:
    try:
        await adapter.stop()
    except Exception:  # noqa: BLE001 - stop the others anyway
        log.exception("adapter %s did not stop cleanly", adapter.name)


@discord_app.command("sync")
def discord_sync(ctx: typer.Context) -> None:
    """Register the slash commands globally (takes up to an hour to show everywhere)."""
    cfg = _state(ctx).config()
    if not cfg.discord.token:
        typer.secho("discord.token is not set.", fg="red", err=True)
        raise typer.Exit(1)

    async def body(service: Any, cfg: Config) -> None:
        from adapters.discord import sync_global_commands

        await sync_global_commands(cfg.discord, service)

    _run(ctx, body)
    typer.echo("global commands synced")


# -- demo ------------------------------------------------------------------------------------
def _require_eval_extra(command: str) -> None:
    """Stop with how to install the ``eval`` extra when ``command`` needs it and it is missing."""
    from evaluation import MissingExtra, require_extra

    try:
        require_extra(command)
    except MissingExtra as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None


@app.command()
def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Where the demo catalog, data and clips go.")] = Path("demo-data"),
) -> None:
    """Build a small catalog from public-domain melodies rendered locally, then search hummed queries."""
    _require_eval_extra("demo")
    from bot.demo import run_demo

    state = _state(ctx)
    cfg = state.config()
    if state.data_dir is None:
        cfg = cfg.model_copy(update={"data_dir": out / "data"})
    raise typer.Exit(run_demo(cfg, out, verbose=state.verbose))


@app.command("eval")
def eval_cmd(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Option(help="Where the evaluation set is rendered (cached).")] = Path(
        "eval-data/dataset"
    ),
    out: Annotated[Path, typer.Option(help="Report, per-query results and plot.")] = Path("eval-data/report"),
    songs: Annotated[int, typer.Option(help="Catalog songs.")] = 300,
    queries_per_kind: Annotated[int, typer.Option(help="Hummed, sung and recorded queries each.")] = 40,
    out_of_catalog: Annotated[
        int, typer.Option(help="Queries of songs not in the catalog (hummed, sung, recorded in turn).")
    ] = 60,
    outside_songs: Annotated[
        int | None, typer.Option(help="Songs held out of the catalog (default: 30 % of all songs).")
    ] = None,
    nosong: Annotated[
        int, typer.Option(help="No-song queries (held notes, sirens, noise, speech, drums, …) per subkind.")
    ] = 12,
    seed: Annotated[int, typer.Option()] = 0,
    embedders: Annotated[
        str, typer.Option(help="Comma-separated variants, e.g. melody,melody+harmony,melody+harmony+panns.")
    ] = "melody+harmony",
    split: Annotated[str, typer.Option(help="The split reported first: held-out, fit or all.")] = "held-out",
    duplicates: Annotated[
        bool, typer.Option(help="Then import a re-encoded copy of every song as a version and search again.")
    ] = False,
    family: Annotated[
        str,
        typer.Option(
            help="Data set generator: a (every choice is made on its fit split), b (other means; only reported) "
            "or t (B's kind of material from training voices, soundfonts and tunes; all of it is for choosing)."
        ),
    ] = "a",
) -> None:
    """Render the evaluation set and report, per split: top-1/top-5/MRR per query kind, false matches
    of out-of-catalog and no-song queries, calibration, latency."""
    _require_eval_extra("eval")
    from evaluation.evalset import build_dataset
    from evaluation.evalset.dataset import FAMILIES
    from evaluation.evaluate import SPLITS, run_eval, variant_config

    if split not in SPLITS:
        raise typer.BadParameter(f"--split must be one of {', '.join(SPLITS)}")
    if family not in FAMILIES:
        raise typer.BadParameter(f"--family must be one of {', '.join(FAMILIES)}")
    cfg = _state(ctx).config()
    _setup_logging("WARNING")
    typer.echo(f"rendering/reusing {songs} songs and queries in {dataset} …")
    build_dataset(
        dataset,
        n_songs=songs,
        n_queries_per_kind=queries_per_kind,
        n_out_of_catalog=out_of_catalog,
        seed=seed,
        n_outside=outside_songs,
        n_nosong=nosong,
        family=family,
    )
    for variant in embedders.split(","):
        run_dir = out / variant
        vcfg = variant_config(cfg, variant, run_dir / "data")
        import shutil

        shutil.rmtree(run_dir / "data", ignore_errors=True)  # every run imports into a fresh catalog
        report = run_eval(vcfg, dataset / "manifest.json", run_dir, headline=split, duplicates=duplicates)
        typer.echo(f"== {variant} ==\n{report.as_text()}\nplot: {run_dir / 'eval.png'}")


def main() -> None:
    app()
