"""The CLI against hostile files and a second process (issue 16, items 3, 4, 5 and 6), run as an
operator would: a real ``humbot`` process per command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from audio_fixtures import encode, tune

REPO = Path(__file__).resolve().parents[2]


def humbot(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = humbot(config, *args)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "embedders": {"panns": {"enabled": False}},
                                    "limits": {"max_song_seconds": 15}}))
    return path


def test_a_link_to_an_endless_device_is_refused_before_it_is_read(config: Path, tmp_path: Path) -> None:
    link = tmp_path / "x.ogg"
    os.symlink("/dev/zero", link)
    for args in (("search", str(link)), ("songs", "add", str(link))):
        done = run(config, *args)
        assert done.returncode == 1
        assert "larger than the 20 MB limit" in done.stderr
        assert "Traceback" not in done.stderr + done.stdout


def test_one_file_added_by_two_processes_at_once(config: Path, tmp_path: Path) -> None:
    song = tmp_path / "Same Song.flac"
    song.write_bytes(encode(tune(2)[: 12 * 32000], "flac"))
    procs = [humbot(config, "songs", "add", str(song)) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for _, err in outs:  # whole, in the captured output: an assertion message is cut at 8 lines
        print(err)
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted(out.strip().split("\t")[-1] for out, _ in outs)
    assert said == ["added", "already in the catalog"]
    listed = run(config, "songs", "list")
    assert listed.stdout.count("\n") == 1 and "Same Song" in listed.stdout


def test_an_admin_is_told_when_a_long_song_was_cut_and_titles_stay_one_row(config: Path, tmp_path: Path) -> None:
    song = tmp_path / "long.flac"
    song.write_bytes(encode(tune(3), "flac"))  # 30 s; the config indexes 15 s
    done = run(config, "songs", "add", str(song), "--title", "Line one\nline two\u202e " + "y" * 500)
    assert done.returncode == 0, done.stderr
    assert "Only the first 0:15 of 0:30 were indexed" in done.stderr
    listed = run(config, "songs", "list").stdout.splitlines()
    assert len(listed) == 1
    title = listed[0].split("\t")[1]
    assert title.startswith("Line one line two y") and len(title) == 200 and "\u202e" not in title


def test_folder_import_takes_what_chat_uploads_take(tmp_path: Path) -> None:
    """``songs import`` and the chat adapters judge files by one list (core.audio.AUDIO_SUFFIXES):
    video containers (.mov, .mkv) are imported, as chat uploads always were."""
    from adapters.common.requests import AUDIO_SUFFIXES as CHAT_SUFFIXES
    from bot.cli import audio_files

    names = ["a.mov", "b.MKV", "c.aif", "nested/d.wma", "e.amr", "f.3gp", "g.mka", "notes.txt", "cover.jpg"]
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in audio_files(tmp_path)] == [
        "a.mov", "b.MKV", "c.aif", "e.amr", "f.3gp", "g.mka", "nested/d.wma"]
    assert {p.suffix.lower() for p in audio_files(tmp_path)} <= CHAT_SUFFIXES
