"""The ``humbot`` command line, run as a user would (a real process per command)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from audio_fixtures import encode, held_note, tune
from service_fixtures import voice_note

REPO = Path(__file__).resolve().parents[2]


def humbot(*args: str, config: Path | None = None, env: dict[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "bot", *(["--config", str(config)] if config else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, panns_checkpoint: Path) -> Path:
    """Both embedders (PANNs on the generated checkpoint), the local index, a fresh data dir."""
    root = tmp_path_factory.mktemp("cli")
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump({
        "data_dir": str(root / "data"),
        "embedders": {"device": "cpu", "panns": {"checkpoint": str(panns_checkpoint)}},
    }))
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as an admin would have it: tagged MP3, 'Artist - Title' names, a nested folder,
    and one file that is not audio."""
    d = tmp_path_factory.mktemp("library")
    (d / "nested").mkdir()
    tagged = encode(tune(1), "mp3", extra=("-metadata", "title=Tagged Title", "-metadata", "artist=Tag Artist"))
    (d / "whatever.mp3").write_bytes(tagged)
    (d / "Some Band - Named Song.flac").write_bytes(encode(tune(2), "flac"))
    (d / "nested" / "plain.ogg").write_bytes(encode(tune(3), "ogg"))
    (d / "broken.wav").write_bytes(b"RIFF" + b"\x00" * 100)
    (d / "notes.txt").write_text("not a song")
    return d


def test_import_add_search_remove_roundtrip(config: Path, library: Path, tmp_path: Path) -> None:
    out = humbot("songs", "import", str(library), config=config)
    assert "4 files: 3 added, 0 already in the catalog, 1 skipped." in out.stdout
    assert "broken.wav" in out.stderr  # reported, with the reason

    listing = [json.loads(line) for line in humbot("songs", "list", "--json", config=config).stdout.splitlines()]
    by_title = {s["title"]: s for s in listing}
    assert set(by_title) == {"Tagged Title", "Named Song", "plain"}
    assert by_title["Tagged Title"]["artist"] == "Tag Artist"
    assert by_title["Named Song"]["artist"] == "Some Band"

    # Re-import: idempotent.
    again = humbot("songs", "import", str(library), config=config)
    assert "0 added, 3 already in the catalog" in again.stdout

    q = tmp_path / "hum.ogg"
    q.write_bytes(voice_note(2, 6.0, 10.0))
    res = json.loads(humbot("search", str(q), "--json", "--top", "3", "--clips", str(tmp_path / "clips"),
                            config=config).stdout)
    assert res["query"] == str(q) and res["error"] is None
    assert res["match"] is True
    top = res["results"][0]
    assert top["title"] == "Named Song" and top["artist"] == "Some Band"
    assert abs(top["offset_s"] - 6.0) <= 1.5
    assert set(top) == {"song_id", "title", "artist", "score", "confidence", "offset_s", "versions"}
    assert top["versions"] == []
    assert 0 <= top["confidence"] <= 1
    assert Path(res["clip"]).read_bytes()[:4] == b"OggS"

    song_id = by_title["Named Song"]["song_id"]
    humbot("songs", "remove", song_id, config=config)
    res = json.loads(humbot("search", str(q), "--json", config=config).stdout)
    assert all(r["song_id"] != song_id for r in res["results"])
    gone = humbot("songs", "remove", song_id, config=config, check=False)
    assert gone.returncode == 1 and f"no song with id {song_id}" in gone.stderr


def test_add_single_song_and_status(config: Path, tmp_path: Path) -> None:
    f = tmp_path / "x.wav"
    f.write_bytes(encode(tune(6), "wav"))
    out = humbot("songs", "add", str(f), "--title", "Six", "--artist", "Me", config=config)
    assert out.stdout.split("\t")[1:] == ["Six", "added\n"]
    st = humbot("status", config=config).stdout
    assert "backend:   local (healthy)" in st
    assert "models:    melody, harmony, panns" in st


def test_search_reports_bad_queries_per_line(config: Path, tmp_path: Path) -> None:
    good, bad, short = tmp_path / "good.ogg", tmp_path / "bad.ogg", tmp_path / "short.ogg"
    held = tmp_path / "held.ogg"
    good.write_bytes(voice_note(1, 0.0, 8.0))
    bad.write_bytes(b"this is not audio")
    short.write_bytes(encode(tune(1)[:16000], "ogg"))
    held.write_bytes(encode(held_note(440.0), "ogg"))
    out = humbot("search", str(good), str(bad), str(short), str(held), "--json", config=config)
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["query"] for x in lines] == [str(good), str(bad), str(short), str(held)]
    assert lines[3]["match"] is False and lines[3]["reason"] == "one_note"
    text = humbot("search", str(held), config=config).stdout
    assert "I only heard one note — hum a longer part of the tune (8–15 s)" in text
    assert lines[0]["error"] is None and lines[0]["results"]
    assert lines[0]["match"] and lines[0]["reason"] is None
    assert lines[1]["reason"] is None and not lines[1]["match"]
    assert "doesn't look like audio" in lines[1]["error"]
    assert "only 0.5 s long" in lines[2]["error"]
    assert "Traceback" not in out.stderr


def test_interrupted_import_leaves_a_consistent_index(tmp_path: Path) -> None:
    """Kill -9 an import half-way; the catalog and the index agree afterwards, and it resumes."""
    cfg = tmp_path / "config.yaml"
    data = tmp_path / "data"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data), "embedders": {"panns": {"enabled": False}}}))
    lib = tmp_path / "lib"
    lib.mkdir()
    for seed in range(1, 9):
        (lib / f"song{seed}.flac").write_bytes(encode(tune(seed), "flac"))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "songs", "import", str(lib)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (data / "catalog.db").exists() and _count(data / "catalog.db") >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = _count(data / "catalog.db")
    assert 2 <= n_before < 8

    status = humbot("status", config=cfg).stdout  # start-up reconciles the index with the catalog
    assert f"songs:     {n_before} in catalog, {n_before} in index" in status
    out = humbot("songs", "import", str(lib), config=cfg).stdout
    assert f"{8 - n_before} added, {n_before} already in the catalog, 0 skipped" in out
    q = tmp_path / "q.ogg"
    q.write_bytes(voice_note(8, 0.0, 10.0))
    res = json.loads(humbot("search", str(q), "--json", config=cfg).stdout)
    assert res["results"][0]["title"] == "song8"


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM songs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_invalid_config_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("limits:\n  max_upload_mb: lots\nsearch:\n  topk: 3\n")
    out = humbot("status", config=cfg, check=False)
    assert out.returncode == 2
    assert "limits.max_upload_mb" in out.stderr and "search.topk" in out.stderr
    assert "Traceback" not in out.stderr


def test_secrets_come_from_env_and_never_reach_logs(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "d"), "embedders": {"panns": {"enabled": False}},
                                   "telegram": {"token": "${TG_TEST_TOKEN}"}}))
    out = humbot("-v", "status", config=cfg, env={"TG_TEST_TOKEN": "123456:SECRET-TOKEN-VALUE"})
    assert "SECRET-TOKEN-VALUE" not in out.stdout + out.stderr
    os.environ.pop("TG_TEST_TOKEN", None)
    missing = humbot("status", config=cfg, check=False)
    assert missing.returncode == 2 and "TG_TEST_TOKEN is not set" in missing.stderr


def test_data_dir_override_and_env_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"embedders": {"panns": {"enabled": False}}}))
    other = tmp_path / "elsewhere"
    humbot("--data-dir", str(other), "status", env={"HUMBOT_CONFIG": str(cfg)})
    assert (other / "catalog.db").exists()


def test_serve_without_adapters_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "d")}))
    out = humbot("serve", config=cfg, check=False)
    assert out.returncode == 1 and "No adapter is enabled" in out.stderr


def test_the_bot_runs_without_the_eval_extra_and_eval_says_how_to_install_it(tmp_path: Path) -> None:
    # A Python where music21, mido and matplotlib cannot be imported, as after `pip install .`.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nsys.modules.update(dict.fromkeys(['music21', 'mido', 'matplotlib']))\n")
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "d"), "embedders": {"panns": {"enabled": False}}}))
    assert "Run the configured chat adapters" in humbot("serve", "--help", config=cfg, env=env).stdout
    assert "songs:     0 in catalog" in humbot("status", config=cfg, env=env).stdout
    for command in ("eval", "demo"):
        out = humbot(command, config=cfg, env=env, check=False)
        assert out.returncode == 1, out
        assert f"`humbot {command}` needs the evaluation extra" in out.stderr
        assert "pip install 'humbot[eval]'" in out.stderr and "Traceback" not in out.stderr


class _OneFile(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


def test_models_download_verifies_checksum(tmp_path: Path) -> None:
    from bot.models import Checkpoint, DownloadError, download

    _OneFile.body = os.urandom(3 * 1024 * 1024 + 17)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OneFile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ckpt.pth"
    try:
        good = Checkpoint(url, hashlib.md5(_OneFile.body).hexdigest(), 3)
        dest = download(good, tmp_path / "m" / "ckpt.pth", progress=False)
        assert dest.read_bytes() == _OneFile.body
        bad = Checkpoint(url, "0" * 32, 3)
        with pytest.raises(DownloadError, match="checksum mismatch"):
            download(bad, tmp_path / "m2" / "ckpt.pth", progress=False)
        assert not any((tmp_path / "m2").iterdir())  # no partial file left behind
    finally:
        server.shutdown()


def test_embedder_change_is_reported_and_reindex_fixes_it(tmp_path: Path, panns_checkpoint: Path) -> None:
    cfg = tmp_path / "config.yaml"
    base = {"data_dir": str(tmp_path / "data"), "embedders": {"device": "cpu", "panns": {"enabled": False}}}
    cfg.write_text(yaml.safe_dump(base))
    for seed in (1, 2):
        f = tmp_path / f"s{seed}.flac"
        f.write_bytes(encode(tune(seed), "flac"))
        humbot("songs", "add", str(f), config=cfg)

    base["embedders"]["panns"] = {"enabled": True, "checkpoint": str(panns_checkpoint)}
    cfg.write_text(yaml.safe_dump(base))
    refused = humbot("status", config=cfg, check=False)
    assert refused.returncode == 1
    assert "humbot reindex" in refused.stderr and "Traceback" not in refused.stderr

    assert "reindexed 2 songs" in humbot("reindex", config=cfg).stdout
    assert "segments:  melody=" in humbot("status", config=cfg).stdout
    q = tmp_path / "q.ogg"
    q.write_bytes(voice_note(2, 3.0, 10.0))
    res = json.loads(humbot("search", str(q), "--json", config=cfg).stdout)
    assert res["results"][0]["title"] == "s2"


def test_demo_finds_its_hums_and_re_embeds_a_catalog_left_by_another_setup(tmp_path: Path) -> None:
    """The README's first command. A second run whose embedders differ from the stored index's
    (as after an upgrade) re-embeds the demo catalog instead of stopping with IndexMismatch."""
    melody_only = tmp_path / "melody-only.yaml"
    melody_only.write_text(yaml.safe_dump({"embedders": {"harmony": {"enabled": False}}}))
    first = humbot("demo", "--out", str(tmp_path / "demo"), config=melody_only)
    assert "2/2 hummed queries found their song" in first.stdout
    default = tmp_path / "default.yaml"
    default.write_text(yaml.safe_dump({"log_level": "WARNING"}))
    second = humbot("demo", "--out", str(tmp_path / "demo"), config=default)
    assert "re-embedding its songs" in second.stdout
    assert "Traceback" not in second.stderr
    assert "2/2 hummed queries found their song" in second.stdout


def test_a_copy_of_a_catalog_song_is_skipped_unless_kept_as_a_version(config: Path, tmp_path: Path) -> None:
    import numpy as np
    from audio_fixtures import SR

    original = tmp_path / "seven.flac"
    original.write_bytes(encode(tune(7), "flac"))
    song_id = humbot("songs", "add", str(original), "--title", "Seven", config=config).stdout.split("\t")[0]
    copy = tmp_path / "seven-album.mp3"  # the same recording: MP3 at 64 kb/s, −6 dB, 1 s of silence in front
    copy.write_bytes(encode(np.concatenate([np.zeros(SR, np.float32), 0.5 * tune(7)]), "mp3", extra=("-b:a", "64k")))

    skipped = humbot("songs", "add", str(copy), "--title", "Seven (album)", config=config)
    assert skipped.stdout == ""
    assert (f"looks like the same recording as 'Seven' ({song_id}): skipped "
            f"(use --keep-duplicate to keep it as a version)") in skipped.stderr
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "seven-again.mp3").write_bytes(copy.read_bytes())
    imported = humbot("songs", "import", str(folder), config=config)
    assert "(use --keep-duplicates to keep it as a version)" in imported.stdout
    assert "1 files: 0 added, 0 already in the catalog, 1 copies of catalog songs skipped, 0 skipped." in imported.stdout

    kept = humbot("songs", "add", str(copy), "--title", "Seven (album)", "--keep-duplicate", config=config)
    assert f"kept as a version of 'Seven' ({song_id})" in kept.stdout
    new_id = kept.stdout.splitlines()[-1].split("\t")[0]
    listing = {s["song_id"]: s for s in map(json.loads, humbot("songs", "list", "--json", config=config).stdout.splitlines())}
    assert listing[new_id]["version_of"] == song_id and listing[song_id]["version_of"] is None

    q = tmp_path / "seven.ogg"
    q.write_bytes(voice_note(7, 4.0, 10.0))
    res = json.loads(humbot("search", str(q), "--json", config=config).stdout)
    top = res["results"][0]
    assert {top["song_id"], *top["versions"]} == {song_id, new_id}
    assert all(r["song_id"] not in (song_id, new_id) for r in res["results"][1:])
    assert "(+1 version)" in humbot("search", str(q), config=config).stdout
