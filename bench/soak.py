"""The soak test of issue #16: many simulated users through both chat platforms while Elasticsearch dies.

One run (:func:`run_soak`):

* starts a real Elasticsearch node (``tests/es_server.py``; ``.ci/install-elasticsearch.sh`` must
  have run) and the two fakes the adapter tests use — the Telegram Bot API
  (``tests/adapters/telegram/fake_bot_api.py``) and Discord's REST + gateway
  (``tests/adapters/discord/fake_discord.py``) — in this process;
* starts the bot in a process of its own (``bench/soak_bot.py``: the service on the Elasticsearch
  backend, as ``humbot serve`` builds it from a config, with PANNs off since it needs a
  checkpoint; the real python-telegram-bot and discord.py adapters), with ``songs`` synthetic
  catalog songs (``tests/audio_fixtures.py``);
* lets ``users`` simulated users (about a third on Discord) each send a few updates at random
  times over ``minutes``: good hummed voice notes (OGG/Opus from ffmpeg), result buttons, commands,
  and every hostile input — a file over the size limit (announced size; on Telegram also one
  whose size is not announced), a file that is not audio, a PDF/image, a corrupt OGG, an empty
  file, silence, a 1 s note, a five-minute note, rapid button presses, a burst of ten notes from
  one user. Admins add new songs during the run (writes), some while the cluster is down, some
  with hostile titles (10,000 characters, newlines, ``@everyone``, U+202E);
* SIGKILLs the Elasticsearch node ``es_kills`` times during the run and restarts it (same data,
  same port) each time;
* samples the bot process's RSS every second (``/proc/<pid>/status``);
* after the run waits for every answer, checks that every acknowledged admin add is in the catalog
  and searchable in Elasticsearch (the durable write queue replays what the outage held back),
  hums each added song once more (found?), stops the bot gracefully and reports.

Invariants (:attr:`SoakReport.failures`): every update answered, none twice, no traceback text
in any reply, no acknowledged write lost. Updates a user sent beyond the per-user rate limit that
the Telegram adapter drops *on purpose* (it explains the first refusal of a streak and drops the
rest quietly, so a flood does not become a flood of replies) are counted apart, as such.

``bench/bench_soak.py`` is the command line; ``tests/test_soak.py`` runs a short version.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "tests", REPO / "tests" / "adapters" / "telegram", REPO / "tests" / "adapters" / "discord"):
    if str(_p) not in sys.path:
        sys.path.append(str(_p))

import aiohttp  # noqa: E402
from audio_fixtures import SR, encode, tune  # noqa: E402
from es_server import EsServer  # noqa: E402
from fake_bot_api import TOKEN, FakeBotAPI  # noqa: E402
from fake_discord import (  # noqa: E402
    ADMIN_USER,
    GUILD_ID,
    FakeDiscord,
    attachment,
    button_click,
    message,
    message_menu,
    slash,
)

from adapters.common import texts as common_texts  # noqa: E402
from adapters.discord import texts as discord_texts  # noqa: E402
from adapters.telegram import texts as telegram_texts  # noqa: E402
from core import messages  # noqa: E402

#: Every key's English text, of every catalogue a reply can come from.
ENGLISH = {k: v for c in (messages, common_texts, telegram_texts, discord_texts) for k, v in c.CATALOGUE.english().items()}

MB = 1024 * 1024
NOTES = 32  # ≈ 20 s songs, as the Telegram adapter tests use: quick to embed
TG_ADMIN = 424242
ALIAS = "soak-songs"
HOSTILE_TITLES = {
    "title_10k": "Long " + "la" * 4998,  # 10,001 characters
    "title_newlines": "Line one\nLine two\n\n\nLine three",
    "title_everyone": "@everyone @here free concert",
    "title_rtl": "Evil \u202egnos\u202c Song",
}
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|\b[A-Z]\w*(?:Error|Exception)\b")


# -- what the bot said -------------------------------------------------------------------------
def _template_regex(text: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^}]*\}", text)
    return re.compile("(.*?)".join(re.escape(p) for p in parts), re.S)


class Classifier:
    """Names the message-catalogue key a reply was made from (English texts), or ``other``."""

    def __init__(self) -> None:
        pats = []
        for key, en in ENGLISH.items():
            literal = re.sub(r"\{[^}]*\}", "", en)
            if len(literal.strip()) >= 4 and not en.startswith("{"):
                pats.append((len(literal), key, _template_regex(en)))
        pats.sort(key=lambda p: -p[0])
        self.patterns = [(k, r) for _, k, r in pats]
        self.listening = telegram_texts.t("listening", "en")
        self.adding = telegram_texts.t("adding", "en")

    def __call__(self, text: str | None) -> str:
        if not text:
            return "ack"
        for key, regex in self.patterns:
            if regex.match(text):
                return key
        return "other"

    def progress(self, text: str) -> bool:
        return text in (self.listening, self.adding) or text.startswith(("🎧", "⏳"))


SEARCH_ANSWERS = {"results_header", "no_match", "reason_no_tune", "reason_one_note", "reason_too_little_melody",
                  "reason_speech", "closest_songs", "catalog_empty"}
TRANSIENT = {"busy", "busy_yours", "rate_limited", "backend_unavailable"}
ADD_ANSWERS = {"song_added", "song_exists", "song_duplicate", "busy", "backend_unavailable", "catalog_busy"}
#: What each kind of update may be answered with (anything else is reported as unexpected).
EXPECTED: dict[str, set[str]] = {
    "hum": SEARCH_ANSWERS | TRANSIENT, "burst": SEARCH_ANSWERS | TRANSIENT, "menu": SEARCH_ANSWERS | TRANSIENT,
    "long": SEARCH_ANSWERS | TRANSIENT, "verify": SEARCH_ANSWERS | TRANSIENT,
    "too_large": {"audio_too_large", "rate_limited"},
    "too_large_unannounced": {"audio_too_large", "audio_too_large_unknown", "rate_limited", "busy", "busy_yours"},
    "not_audio": {"audio_not_audio", "rate_limited", "busy", "busy_yours"},
    "pdf": {"audio_not_audio", "rate_limited"}, "image": {"audio_not_audio", "rate_limited"},
    "corrupt": {"audio_corrupt", "rate_limited", "busy", "busy_yours"},
    "empty": {"audio_empty", "rate_limited", "busy", "busy_yours"},
    "silence": {"audio_silent", "reason_no_tune", "rate_limited", "busy", "busy_yours"},
    "short": {"audio_too_short", "rate_limited"},
    "start": {"start"}, "help": {"telegram_help", "discord_help"}, "text": {"send_voice_hint"},
    "menu_no_audio": {"discord_no_audio", "rate_limited"},
    "press": {"ack", "rate_limited", "busy", "discord_clip", "song_not_found"},
    "rapid_press": {"ack", "rate_limited", "busy", "discord_clip", "song_not_found"},
    "not_it": {"feedback_thanks"}, "verify_play": {"discord_clip", "busy"},
    "add": ADD_ANSWERS, **{k: ADD_ANSWERS for k in HOSTILE_TITLES},
}
#: Answers that are not refusals or failures (the rest are listed as "errors by type").
NOT_ERRORS = SEARCH_ANSWERS | {"ack", "song_added", "song_exists", "discord_clip", "feedback_thanks", "start",
                               "telegram_help", "discord_help"}
WORK_KINDS = {"hum", "burst", "long", "too_large", "too_large_unannounced", "not_audio", "corrupt", "empty",
              "silence", "short", "press", "rapid_press"}  # what the Telegram gate counts per user


@dataclass
class Tracked:
    """One update a simulated user sent, and what came back."""

    key: tuple
    platform: str  # telegram | discord
    kind: str
    user: int
    t_sent: float
    phase: str = "run"  # run | verify
    song_seed: int | None = None  # a hum of this catalog song
    add_seed: int | None = None  # an admin add of this new song
    answers: list[tuple[float, str]] = field(default_factory=list)  # (time, text), filled in at the end
    acks: list[float] = field(default_factory=list)  # Discord deferrals
    note: str = ""


# -- the fakes, with timestamps ----------------------------------------------------------------
class TrackingBotAPI(FakeBotAPI):
    """The fake Bot API, also noting *when* each reply to each user message came (and clips, button
    answers and Bot API errors), so answers are found without rescanning every message."""

    def __init__(self, clock: Callable[[], float], classify: Classifier) -> None:
        super().__init__()
        self.clock = clock
        self.classify = classify
        # request (chat, message id) → bot message id → [first time, text, edits]
        self.finals: dict[tuple[int, int], dict[int, list]] = defaultdict(dict)
        self.progress: dict[tuple[int, int], dict[int, float]] = defaultdict(dict)
        self.clip_times: dict[tuple[int, int], list[float]] = defaultdict(list)
        self.cb_answers: dict[str, list[tuple[float, bool, str | None]]] = defaultdict(list)
        self.loose: list[tuple[float, int, str]] = []  # bot messages that reply to nothing
        self.texts: list[str] = []  # every text the bot showed (traceback scan)
        self.api_errors: Counter[str] = Counter()
        self.activity = 0  # calls other than getUpdates (polling never stops, so it is not activity)
        self._events: dict[Any, asyncio.Event] = {}

    def event(self, key: Any) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def _record(self, call) -> None:  # type: ignore[no-untyped-def]
        super()._record(call)
        t = self.clock()
        name = call.name
        if name != "getupdates":
            self.activity += 1
        if not call.ok:
            if name != "getupdates":
                self.api_errors[f"{call.method}: {str(call.result)[:80]}"] += 1
            return
        if name == "answercallbackquery":
            qid = call.params.get("callback_query_id")
            text = call.params.get("text")
            self.cb_answers[qid].append((t, True, text))
            if text:
                self.texts.append(str(text))
            self.event(("q", qid)).set()
            return
        if name not in ("sendmessage", "editmessagetext", "sendaudio", "sendvoice"):
            return
        msg = call.result
        text = str(msg.get("text") or msg.get("caption") or "")
        self.texts.append(text)
        reply_to = (msg.get("reply_to_message") or {}).get("message_id")
        if reply_to is None:
            self.loose.append((t, msg["chat"]["id"], text))
            return
        key = (msg["chat"]["id"], reply_to)
        if "audio" in msg or "voice" in msg:
            self.clip_times[key].append(t)
            self.event(key + ("clip",)).set()
            return
        if self.classify.progress(text):
            self.progress[key][msg["message_id"]] = t
            return
        entry = self.finals[key].get(msg["message_id"])
        if entry is None:
            self.finals[key][msg["message_id"]] = [t, text, 1]
        else:
            entry[1], entry[2] = text, entry[2] + 1
        self.event(key).set()

    def _m_answercallbackquery(self, params: dict, files: dict) -> bool:
        # A second answer of one query is an error Telegram gives; note it as an answer attempt too.
        qid = params.get("callback_query_id", "")
        q = self.callbacks.get(qid)
        if q is not None and q["answered"]:
            self.cb_answers[qid].append((self.clock(), False, params.get("text")))
        return super()._m_answercallbackquery(params, files)


class TrackingDiscord(FakeDiscord):
    """The fake Discord, also noting when each interaction was acknowledged and answered, and any
    message whose content could ping ``@everyone``/``@here``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock
        self.events_by_token: dict[str, list[tuple[float, str, int, Any]]] = defaultdict(list)
        self.texts: list[str] = []
        self.mention_leaks: list[str] = []
        self.bidi_echoes = 0
        self._events: dict[str, asyncio.Event] = {}

    def event(self, token: str) -> asyncio.Event:
        return self._events.setdefault(token, asyncio.Event())

    def _route(self, call, request):  # type: ignore[no-untyped-def]
        response = super()._route(call, request)
        token = call.token
        if token is None:
            return response
        t = self.clock()
        rtype = int(call.json.get("type", 0)) if call.kind == "callback" and call.json else 0
        self.events_by_token[token].append((t, call.kind, rtype, call))
        text = call.text()
        self.texts.append(text)
        content = call.content or ""
        if "@everyone" in content or "@here" in content:
            body = call.json or {}
            if call.kind == "callback":
                body = body.get("data") or {}
            allowed = body.get("allowed_mentions")
            if allowed is None or "everyone" in (allowed.get("parse") or []):
                self.mention_leaks.append(content[:120])
        if is_dc_answer(call.kind, rtype) or rtype in (5, 6):
            self.event(token).set()
        return response


def is_dc_answer(kind: str, rtype: int) -> bool:
    """A call that shows the user something: a message callback, a follow-up or an edit."""
    return (kind == "callback" and rtype in (4, 7)) or kind in ("followup", "edit")


# -- configuration and report ------------------------------------------------------------------
@dataclass
class SoakConfig:
    users: int = 200
    minutes: float = 5.0
    songs: int = 15  # catalog songs before the run
    adds: int | None = None  # plain admin adds during the run (default: users // 10, at least 4)
    hostile_adds_both: bool | None = None  # every hostile title on both platforms (default: users >= 100)
    es_kills: int = 2
    down_s: float = 5.0  # between the SIGKILL and the restart (the restart itself takes longer)
    discord_share: float = 0.35
    seed: int = 16
    es_heap: str = "512m"
    es_fast_start: bool = False  # C1-only JIT: starts sooner, runs slower (tests)
    drain_timeout_s: float = 240.0  # after the last update: how long answers may still take
    write_timeout_s: float = 180.0  # after that: how long the replay of queued writes may take
    verify: bool = True  # hum each acknowledged new song once more at the end
    work_dir: Path | None = None
    keep: bool = False  # keep the work directory (bot log, data) for a post-mortem
    log: Callable[[str], None] = print

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0


@dataclass
class SoakReport:
    cfg: SoakConfig
    tracked: list[Tracked]
    quiet_drops: list[Tracked]
    unanswered: list[Tracked]
    twice: list[Tracked]
    unexpected: list[tuple[Tracked, str, str]]
    tracebacks: list[str]
    outages: list[dict]
    writes: dict[str, Any]
    rss: list[tuple[float, int]]
    rss_hwm_kb: int | None
    logstats: dict
    extra: dict[str, Any]

    @property
    def failures(self) -> list[str]:
        out = []
        if self.unanswered:
            out.append(f"{len(self.unanswered)} updates unanswered")
        if self.twice:
            out.append(f"{len(self.twice)} updates answered twice")
        if self.tracebacks:
            out.append(f"{len(self.tracebacks)} replies with traceback text")
        w = self.writes
        if w["lost_catalog"] or w["lost_es"]:
            out.append(f"acknowledged writes lost: {len(w['lost_catalog'])} not in the catalog, "
                       f"{len(w['lost_es'])} not searchable in Elasticsearch")
        if len(self.outages) < self.cfg.es_kills:
            out.append(f"only {len(self.outages)} of {self.cfg.es_kills} Elasticsearch kills happened")
        return out

    @property
    def ok(self) -> bool:
        return not self.failures


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


# -- the simulation ----------------------------------------------------------------------------
class Soak:
    def __init__(self, cfg: SoakConfig) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.classify = Classifier()
        self._t0 = time.monotonic()
        self.tg = TrackingBotAPI(self.clock, self.classify)
        self.dc = TrackingDiscord(self.clock)
        self.tracked: list[Tracked] = []
        self.by_key: dict[tuple, Tracked] = {}
        self.outages: list[dict] = []
        self.rss: list[tuple[float, int]] = []
        self.es: EsServer | None = None
        self.es_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soak-es")  # one thread forks the node
        self.bot: asyncio.subprocess.Process | None = None
        self.bot_lines: list[str] = []
        self.ready: dict | None = None
        self._ready = asyncio.Event()
        self.run_started: float | None = None
        self.run_ended: float | None = None
        self.tasks: set[asyncio.Task] = set()  # simulated users at work
        self.background: set[asyncio.Task] = set()  # reading the bot's output, sampling its memory
        self.dc_messages: list[dict] = []  # bot messages with buttons (for verification presses)

    def clock(self) -> float:
        return time.monotonic() - self._t0

    def log(self, text: str) -> None:
        self.cfg.log(f"[{self.clock():7.1f} s] {text}")

    # -- audio ---------------------------------------------------------------------------
    def make_audio(self, work: Path) -> None:
        cfg = self.cfg
        songs_dir = work / "songs"
        songs_dir.mkdir(parents=True, exist_ok=True)
        self.catalog_files = []
        for s in range(1, cfg.songs + 1):
            p = songs_dir / f"tune{s}.flac"
            p.write_bytes(encode(tune(s, notes=NOTES), "flac"))
            self.catalog_files.append({"path": str(p), "title": f"Tune {s}", "artist": f"Artist {s}"})
        # Two voice notes per catalog song (8–10 s from different places), and the new songs' hums.
        self.hums: list[tuple[int, bytes, int]] = []
        for s in range(1, cfg.songs + 1):
            y = tune(s, notes=NOTES, voice=True)
            for start, secs in ((1.0, 9.0), (6.0, 8.0)):
                a = int(start * SR)
                self.hums.append((s, encode(y[a: a + int(secs * SR)], "ogg"), int(secs)))
        self.new_songs: dict[int, bytes] = {}
        self.new_hums: dict[int, bytes] = {}
        for k in range(self.n_new_songs):
            seed = 1000 + k
            self.new_songs[seed] = encode(tune(seed, notes=NOTES), "mp3")
            y = tune(seed, notes=NOTES, voice=True)
            self.new_hums[seed] = encode(y[2 * SR: 12 * SR], "ogg")
        long_y = np.concatenate([tune(s, notes=NOTES, voice=True) for s in range(1, 16)])[: 300 * SR]
        self.long_note = (encode(long_y, "ogg"), int(len(long_y) / SR))
        self.silence = encode(np.zeros(6 * SR, np.float32), "ogg")
        self.one_second = encode(tune(1, notes=NOTES, voice=True)[:SR], "ogg")
        self.corrupt = b"OggS" + bytes(range(256)) * 40
        self.not_audio = b"just some text, no sound at all\n" * 20
        self.pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
        self.png = b"\x89PNG\r\n\x1a\n" + bytes(200)

    # -- the plan --------------------------------------------------------------------------
    def plan(self) -> list[tuple[float, str, dict]]:
        """(time, action, args) for the whole run, sorted by time."""
        cfg, rng = self.cfg, self.rng
        d = cfg.duration_s
        n_dc = int(round(cfg.users * cfg.discord_share))
        users = [("discord" if i < n_dc else "telegram", i) for i in range(cfg.users)]
        rng.shuffle(users)
        tg_kinds = {"hum": 50, "hum_press": 10, "not_it": 2, "long": 3, "start": 3, "help": 3, "text": 3,
                    "too_large": 3, "too_large_unannounced": 2, "not_audio": 3, "pdf": 2, "corrupt": 3, "empty": 3,
                    "silence": 3, "short": 3}
        dc_kinds = {"hum": 40, "menu": 10, "hum_press": 10, "not_it": 2, "long": 3, "help": 4, "menu_no_audio": 2,
                    "too_large": 3, "not_audio": 3, "image": 2, "corrupt": 3, "empty": 3, "silence": 3, "short": 3}
        n_burst = max(1, cfg.users // 50)
        n_rapid = max(1, cfg.users // 40)
        out: list[tuple[float, str, dict]] = []
        per_platform: dict[str, list[int]] = defaultdict(list)
        seen: Counter[str] = Counter()
        for platform, i in users:
            uid = (20_000 + i) if platform == "telegram" else (931_000_000_000_000_000 + i)
            c = seen[platform]
            seen[platform] += 1
            # On each platform: the first users send a burst, the next ones press a button rapidly.
            special = "burst" if c < n_burst else "rapid_press" if c < n_burst + n_rapid else None
            if special:
                out.append((float(rng.uniform(0.05, 0.9) * d), special, {"platform": platform, "user": uid}))
                continue
            kinds = tg_kinds if platform == "telegram" else dc_kinds
            names, weights = list(kinds), np.array(list(kinds.values()), float)
            for _ in range(int(rng.integers(2, 5))):
                kind = str(rng.choice(names, p=weights / weights.sum()))
                out.append((float(rng.uniform(0.0, 0.95) * d), kind, {"platform": platform, "user": uid}))
                per_platform[platform].append(len(out) - 1)
        # Every hostile input at least once on each platform (in place of good hums).
        for platform, kinds in (("telegram", tg_kinds), ("discord", dc_kinds)):
            present = {out[j][1] for j in per_platform[platform]}
            hums = [j for j in per_platform[platform] if out[j][1] == "hum"]
            rng.shuffle(hums)
            for kind in kinds:
                if kind not in present and hums:
                    j = hums.pop()
                    out[j] = (out[j][0], kind, out[j][2])
        # Admin adds (writes): spread over the run, and one right after each kill (while the node is
        # down), plus the hostile titles.
        kills = self.kill_times()
        add_times = [float(t) for t in rng.uniform(0.05 * d, 0.9 * d, self.n_plain_adds - len(kills))]
        add_times += [k + 1.0 for k in kills]
        seeds = iter(range(1000, 1000 + self.n_new_songs))
        for n, t in enumerate(sorted(add_times)):
            out.append((t, "add", {"platform": "telegram" if n % 2 == 0 else "discord", "seed": next(seeds),
                                   "title_kind": "add"}))
        both = cfg.hostile_adds_both if cfg.hostile_adds_both is not None else cfg.users >= 100
        if both:
            hostile = [(kind, p) for kind in HOSTILE_TITLES for p in ("telegram", "discord")]
        else:  # each once (the 10,000 characters on both: each platform has its own length limits)
            hostile = [("title_10k", "telegram"), ("title_10k", "discord"), ("title_newlines", "telegram"),
                       ("title_everyone", "discord"), ("title_rtl", "telegram")]
        for kind, platform in hostile:
            out.append((float(rng.uniform(0.05 * d, 0.9 * d)), "add",
                        {"platform": platform, "seed": next(seeds), "title_kind": kind}))
        # One re-add of a catalog song (an acknowledged write of a song that exists).
        out.append((float(rng.uniform(0.1 * d, 0.8 * d)), "add", {"platform": "telegram", "seed": -1,
                                                                  "title_kind": "add"}))
        out.sort(key=lambda a: a[0])
        return out

    @property
    def n_plain_adds(self) -> int:
        return self.cfg.adds if self.cfg.adds is not None else max(4, self.cfg.users // 10)

    @property
    def n_new_songs(self) -> int:
        return self.n_plain_adds + 2 * len(HOSTILE_TITLES)

    def kill_times(self) -> list[float]:
        k, d = self.cfg.es_kills, self.cfg.duration_s
        return [d * 0.9 * (i + 1) / (k + 1) for i in range(k)]

    # -- tracking --------------------------------------------------------------------------
    def track(self, tr: Tracked) -> Tracked:
        self.tracked.append(tr)
        self.by_key[tr.key] = tr
        return tr

    def spawn(self, coro, *, background: bool = False) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        (self.background if background else self.tasks).add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log(f"simulated user failed: {task.exception()!r}")

    # -- Telegram users --------------------------------------------------------------------
    def tg_user(self, uid: int) -> tuple[dict, dict]:
        user = self.tg.user(uid)
        chat = self.tg.chats.get(uid) or self.tg.private_chat(user)
        return user, chat

    def tg_send(self, uid: int, kind: str, content: dict | None = None, *, text: str | None = None,
                caption: str | None = None, phase: str = "run", **kw: Any) -> Tracked:
        user, chat = self.tg_user(uid)
        msg = self.tg.push_message(chat, user, content, text=text, caption=caption)
        return self.track(Tracked(("tg", chat["id"], msg["message_id"]), "telegram", kind, uid, self.clock(),
                                  phase=phase, **kw))

    def tg_hum(self, uid: int, kind: str = "hum", phase: str = "run") -> Tracked:
        seed, data, secs = self.hums[int(self.rng.integers(len(self.hums)))]
        return self.tg_send(uid, kind, self.tg.voice(data, duration=secs), song_seed=seed, phase=phase)

    async def tg_wait(self, tr: Tracked, timeout: float, *, clip: bool = False) -> bool:
        key = (tr.key[1], tr.key[2]) + (("clip",) if clip else ())
        try:
            await asyncio.wait_for(self.tg.event(key).wait(), timeout)
            return True
        except TimeoutError:
            return False

    def tg_buttons(self, tr: Tracked, prefix: str) -> list[tuple[dict, str]]:
        """(bot message, button text) of the buttons whose data starts with ``prefix`` under replies to ``tr``."""
        chat, mid = tr.key[1], tr.key[2]
        out = []
        for (c, m), msg in list(self.tg.messages.items()):
            if c != chat or msg["from"]["id"] != self.tg.me["id"]:
                continue
            if (msg.get("reply_to_message") or {}).get("message_id") != mid:
                continue
            for row in (msg.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if str(b.get("callback_data", "")).startswith(prefix):
                        out.append((msg, b["text"]))
        return out

    def tg_press(self, uid: int, msg: dict, button: str, kind: str) -> Tracked:
        user, _ = self.tg_user(uid)
        qid = self.tg.press(msg, user, button)
        return self.track(Tracked(("tgq", qid), "telegram", kind, uid, self.clock()))

    async def tg_action(self, kind: str, uid: int) -> None:
        tg = self.tg
        if kind == "hum":
            self.tg_hum(uid)
        elif kind in ("hum_press", "rapid_press", "not_it"):
            tr = self.tg_hum(uid)
            if not await self.tg_wait(tr, 120):
                return
            await asyncio.sleep(0.3)  # the clip (with its buttons) follows the answer
            await self.tg_wait(tr, 5, clip=True)
            await asyncio.sleep(float(self.rng.uniform(0.5, 3.0)))
            if kind == "not_it":
                found = self.tg_buttons(tr, "n:")
                if found:
                    self.tg_press(uid, *found[0], kind="not_it")
                return
            found = self.tg_buttons(tr, "p:")
            if not found:
                return
            presses = 5 if kind == "rapid_press" else 1
            for _ in range(presses):
                self.tg_press(uid, *found[0], kind="press" if presses == 1 else "rapid_press")
                await asyncio.sleep(float(self.rng.uniform(0.02, 0.15)))
        elif kind == "burst":
            for _ in range(10):
                self.tg_hum(uid, "burst")
        elif kind == "long":
            data, secs = self.long_note
            self.tg_send(uid, "long", tg.voice(data, duration=secs))
        elif kind == "start":
            self.tg_send(uid, "start", text="/start")
        elif kind == "help":
            self.tg_send(uid, "help", text="/help")
        elif kind == "text":
            self.tg_send(uid, "text", text="hello? what is this bot")
        elif kind == "too_large":
            seed, data, secs = self.hums[0]
            self.tg_send(uid, kind, tg.audio(data, duration=secs, file_name="concert.mp3", size=25 * MB))
        elif kind == "too_large_unannounced":
            tg.expected_errors.add("file is too big")
            seed, data, _ = self.hums[0]
            self.tg_send(uid, kind, tg.document(data, file_name="long.ogg", mime="audio/ogg", size=21 * MB,
                                                announced=False))
        elif kind == "not_audio":
            self.tg_send(uid, kind, tg.document(self.not_audio, file_name="notes.mp3", mime="audio/mpeg"))
        elif kind == "pdf":
            self.tg_send(uid, kind, tg.document(self.pdf, file_name="paper.pdf", mime="application/pdf"))
        elif kind == "corrupt":
            self.tg_send(uid, kind, tg.voice(self.corrupt, duration=5))
        elif kind == "empty":
            self.tg_send(uid, kind, tg.document(b"", file_name="empty.ogg", mime="audio/ogg"))
        elif kind == "silence":
            self.tg_send(uid, kind, tg.voice(self.silence, duration=6))
        elif kind == "short":
            self.tg_send(uid, kind, tg.voice(self.one_second, duration=1))
        else:
            raise ValueError(kind)

    # -- Discord users ---------------------------------------------------------------------
    async def dc_send(self, payload: dict, kind: str, uid: int, *, phase: str = "run", **kw: Any) -> Tracked:
        tr = self.track(Tracked(("dc", payload["token"]), "discord", kind, uid, self.clock(), phase=phase, **kw))
        await self.dc.dispatch_interaction(payload)
        return tr

    def dc_att(self, filename: str, data: bytes, ctype: str | None, **kw: Any) -> dict:
        return attachment(self.dc, filename, data, ctype, **kw)

    async def dc_hum(self, uid: int, kind: str = "hum") -> Tracked:
        seed, data, secs = self.hums[int(self.rng.integers(len(self.hums)))]
        att = self.dc_att("voice-message.ogg", data, "audio/ogg", voice_seconds=float(secs))
        return await self.dc_send(slash("hum", user_id=uid, attachments={"recording": att}), kind, uid, song_seed=seed)

    async def dc_wait(self, tr: Tracked, timeout: float) -> Any:
        """The first answer (a call) to ``tr`` within ``timeout``, or None."""
        token = tr.key[1]
        deadline = time.monotonic() + timeout
        while True:
            ev = self.dc.event(token)
            ev.clear()  # before looking: an answer arriving meanwhile sets it again
            for _, kind, rtype, call in self.dc.events_by_token.get(token, []):
                if is_dc_answer(kind, rtype):
                    return call
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), left)

    async def dc_hum_slash(self, uid: int, att: dict, kind: str) -> None:
        await self.dc_send(slash("hum", user_id=uid, attachments={"recording": att}), kind, uid)

    async def dc_action(self, kind: str, uid: int) -> None:
        if kind == "hum":
            await self.dc_hum(uid)
        elif kind == "menu":
            seed, data, secs = self.hums[int(self.rng.integers(len(self.hums)))]
            target = message([self.dc_att("voice-message.ogg", data, "audio/ogg", voice_seconds=float(secs))],
                             voice=True)
            await self.dc_send(message_menu("Find this song", target, user_id=uid), "menu", uid, song_seed=seed)
        elif kind == "menu_no_audio":
            target = message([], content="what song is this?")
            await self.dc_send(message_menu("Find this song", target, user_id=uid), kind, uid)
        elif kind in ("hum_press", "rapid_press", "not_it"):
            tr = await self.dc_hum(uid)
            answer = await self.dc_wait(tr, 120)
            if answer is None or answer.reply is None:
                return
            buttons = answer.buttons()
            await asyncio.sleep(float(self.rng.uniform(0.5, 3.0)))
            if kind == "not_it":
                ids = [b["custom_id"] for b in buttons if b["custom_id"].startswith("n:")]
                if ids:
                    await self.dc_send(button_click(answer.reply, ids[0], user_id=uid), "not_it", uid)
                return
            ids = [b["custom_id"] for b in buttons if b["custom_id"].startswith("p:")]
            if not ids:
                return
            self.dc_messages.append(answer.reply)
            presses = 5 if kind == "rapid_press" else 1
            for _ in range(presses):
                await self.dc_send(button_click(answer.reply, ids[0], user_id=uid),
                                   "press" if presses == 1 else "rapid_press", uid)
                await asyncio.sleep(float(self.rng.uniform(0.02, 0.15)))
        elif kind == "burst":
            for _ in range(10):
                await self.dc_hum(uid, "burst")
        elif kind == "long":
            data, secs = self.long_note
            await self.dc_hum_slash(uid, self.dc_att("voice-message.ogg", data, "audio/ogg",
                                                     voice_seconds=float(secs)), "long")
        elif kind == "help":
            await self.dc_send(slash("help", user_id=uid), "help", uid)
        elif kind == "too_large":
            await self.dc_hum_slash(uid, self.dc_att("concert.ogg", self.hums[0][1], "audio/ogg", size=25 * MB),
                                    kind)
        elif kind == "not_audio":
            await self.dc_hum_slash(uid, self.dc_att("notes.mp3", self.not_audio, "audio/mpeg"), kind)
        elif kind == "image":
            await self.dc_hum_slash(uid, self.dc_att("cat.png", self.png, "image/png"), kind)
        elif kind == "corrupt":
            await self.dc_hum_slash(uid, self.dc_att("voice-message.ogg", self.corrupt, "audio/ogg",
                                                     voice_seconds=5.0), kind)
        elif kind == "empty":
            await self.dc_hum_slash(uid, self.dc_att("empty.ogg", b"", "audio/ogg"), kind)
        elif kind == "silence":
            await self.dc_hum_slash(uid, self.dc_att("voice-message.ogg", self.silence, "audio/ogg",
                                                     voice_seconds=6.0), kind)
        elif kind == "short":
            await self.dc_hum_slash(uid, self.dc_att("voice-message.ogg", self.one_second, "audio/ogg",
                                                     voice_seconds=1.0), kind)
        else:
            raise ValueError(kind)

    # -- admins ----------------------------------------------------------------------------
    async def admin_add(self, platform: str, seed: int, title_kind: str) -> None:
        if seed < 0:  # a catalog song again
            data = Path(self.catalog_files[0]["path"]).read_bytes()
            title, artist, filename = "Tune 1 again", "Artist 1", "tune1-again.flac"
        else:
            data = self.new_songs[seed]
            title = HOSTILE_TITLES.get(title_kind, f"Soak Song {seed}")
            artist, filename = "Soak Band", f"new{seed}.mp3"
        if platform == "telegram":
            admin, chat = self.tg_user(TG_ADMIN)
            content = (self.tg.audio(data, duration=20, file_name=filename) if filename.endswith(".mp3")
                       else self.tg.document(data, file_name=filename, mime="audio/flac"))
            msg = self.tg.push_message(chat, admin, content, caption=f"/add {title} - {artist}")
            self.track(Tracked(("tg", chat["id"], msg["message_id"]), "telegram", title_kind, TG_ADMIN,
                               self.clock(), add_seed=seed))
        else:
            ctype = "audio/mpeg" if filename.endswith(".mp3") else "audio/flac"
            att = self.dc_att(filename, data, ctype)
            payload = slash("addsong", user_id=ADMIN_USER, attachments={"file": att},
                            options={"title": title, "artist": artist})
            await self.dc_send(payload, title_kind, ADMIN_USER, add_seed=seed)

    async def act(self, action: str, args: dict) -> None:
        if action == "add":
            await self.admin_add(args["platform"], args["seed"], args["title_kind"])
        elif args["platform"] == "telegram":
            await self.tg_action(action, args["user"])
        else:
            await self.dc_action(action, args["user"])

    # -- Elasticsearch chaos, memory -------------------------------------------------------
    async def in_es_thread(self, fn: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.es_pool, fn, *args)

    async def chaos(self) -> None:
        assert self.es is not None and self.run_started is not None
        for n, at in enumerate(self.kill_times(), 1):
            await asyncio.sleep(max(0.0, self.run_started + at - self.clock()))
            t_kill = self.clock()
            await self.in_es_thread(lambda: self.es.stop(kill=True))
            self.log(f"Elasticsearch killed (SIGKILL), outage {n}")
            await asyncio.sleep(self.cfg.down_s)
            t_start = self.clock()
            await self.in_es_thread(lambda: self.es.start(timeout_s=300))
            t_up = self.clock()
            self.outages.append({"killed_at": t_kill - self.run_started, "restart_at": t_start - self.run_started,
                                 "healthy_at": t_up - self.run_started, "down_s": t_up - t_kill})
            self.log(f"Elasticsearch back after {t_up - t_kill:.1f} s")

    async def sample_rss(self, pid: int) -> None:
        status = Path(f"/proc/{pid}/status")
        while True:
            try:
                text = status.read_text()
            except OSError:
                return
            m = re.search(r"VmRSS:\s+(\d+) kB", text)
            if m:
                self.rss.append((self.clock(), int(m.group(1))))
            await asyncio.sleep(1.0)

    def hwm_kb(self, pid: int) -> int | None:
        with contextlib.suppress(OSError):
            m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            return int(m.group(1)) if m else None
        return None

    # -- the bot process ---------------------------------------------------------------------
    def bot_config(self, work: Path) -> dict:
        return {
            "index": {"backend": "elasticsearch", "elasticsearch": {"hosts": [self.es.url], "index": ALIAS}},
            "embedders": {"panns": {"enabled": False}},  # needs a 300 MB checkpoint; the melody path answers
            "telegram": {"enabled": True, "token": TOKEN, "admins": [TG_ADMIN], "base_url": self.tg.base_url,
                         "base_file_url": self.tg.base_file_url},
            "discord": {"enabled": True, "token": "soak-token", "admin_user_ids": [ADMIN_USER],
                        "test_guilds": [GUILD_ID]},
        }

    async def start_bot(self, work: Path) -> None:
        spec = {"config": self.bot_config(work), "data_dir": str(work / "data"), "es_url": self.es.url,
                "discord_url": self.dc.url, "songs": self.catalog_files, "log": str(work / "bot.log")}
        (work / "spec.json").write_text(json.dumps(spec))
        err = open(work / "bot.stderr", "wb")
        self.bot = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "bench" / "soak_bot.py"), "--spec", str(work / "spec.json"),
            stdout=asyncio.subprocess.PIPE, stderr=err, cwd=str(REPO), preexec_fn=_die_with_parent)
        err.close()
        self.spawn(self.read_bot(), background=True)

    async def read_bot(self) -> None:
        assert self.bot is not None and self.bot.stdout is not None
        async for raw in self.bot.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.bot_lines.append(line)
            if line.startswith("SOAK-READY "):
                self.ready = json.loads(line.split(" ", 1)[1])
                self._ready.set()
        self._ready.set()  # it exited: whoever waits must look

    async def stop_bot(self) -> dict:
        if self.bot is None or self.bot.returncode is not None:
            return {}
        self.bot.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.bot.wait(), 180)
        except TimeoutError:
            self.log("the bot did not stop within 180 s: killing it")
            self.bot.kill()
            await self.bot.wait()
        await asyncio.sleep(0.2)
        for line in self.bot_lines:
            if line.startswith("SOAK-LOGSTATS "):
                return json.loads(line.split(" ", 1)[1])
        return {}

    # -- checks ----------------------------------------------------------------------------
    def answered(self, tr: Tracked) -> list[tuple[float, str]]:
        """What the user was shown in answer to ``tr`` (each distinct answer once), in order."""
        if tr.key[0] == "tg":
            finals = self.tg.finals.get((tr.key[1], tr.key[2]), {})
            return sorted((t, text) for t, text, _ in finals.values())
        if tr.key[0] == "tgq":
            return [(t, text or "") for t, _, text in self.tg.cb_answers.get(tr.key[1], [])]
        out = []
        for t, kind, rtype, call in self.dc.events_by_token.get(tr.key[1], []):
            if is_dc_answer(kind, rtype):
                out.append((t, call.text()))
        return out

    def all_answered(self) -> bool:
        return all(self.answered(tr) or self.quiet_candidate(tr) for tr in self.tracked)

    def quiet_candidate(self, tr: Tracked) -> bool:
        """A Telegram work message the per-user gate may have dropped on purpose: the same user was
        told "slow down" for a message sent in the minute before (the streak's one explanation)."""
        if tr.platform != "telegram" or tr.key[0] != "tg" or tr.kind not in WORK_KINDS:
            return False
        for other in self.tracked:
            if other.user == tr.user and other is not tr and tr.t_sent - 61 <= other.t_sent <= tr.t_sent + 1:
                if any(self.classify(text) == "rate_limited" for _, text in self.answered(other)):
                    return True
        return False

    async def drain(self) -> None:
        """Wait until every update is answered (or was dropped by the rate limit) and all is quiet."""
        deadline = self.clock() + self.cfg.drain_timeout_s
        quiet_since, last_n = self.clock(), -1
        while self.clock() < deadline:
            n = self.tg.activity + len(self.dc.calls)
            if n != last_n:
                quiet_since, last_n = self.clock(), n
            if not self.tasks and self.tg.pending_updates == 0 and self.all_answered() \
                    and self.clock() - quiet_since > 3.0:
                return
            await asyncio.sleep(1.0)
        waiting = [tr for tr in self.tracked if not self.answered(tr) and not self.quiet_candidate(tr)]
        self.log(f"drain timeout: {len(waiting)} updates unanswered, {len(self.tasks)} users still at work, "
                 f"{self.tg.pending_updates} Telegram updates not fetched: "
                 + "; ".join(f"{t.platform} {t.kind} at {t.t_sent:.0f} s {t.key}" for t in waiting[:10]))

    def acked_writes(self) -> dict[str, Tracked]:
        """song id → the admin add that acknowledged it (the reply named the id)."""
        out = {}
        for tr in self.tracked:
            if tr.add_seed is None:
                continue
            for _, text in self.answered(tr):
                if self.classify(text) in ("song_added", "song_exists", "song_duplicate"):
                    m = re.search(r"\(id ([0-9A-Za-z_-]+)\)", text)
                    if m:
                        out[m.group(1)] = tr
        return out

    async def es_searchable(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        async with aiohttp.ClientSession() as s:
            try:
                async with s.post(f"{self.es.url}/{ALIAS}/_search", json={
                        "query": {"ids": {"values": ids}}, "size": len(ids), "_source": False}) as r:
                    body = await r.json()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return set()
        return {h["_id"] for h in body.get("hits", {}).get("hits", [])}

    async def wait_writes(self, ids: list[str]) -> set[str]:
        deadline = self.clock() + self.cfg.write_timeout_s
        found: set[str] = set()
        while self.clock() < deadline:
            found = await self.es_searchable(ids)
            if found >= set(ids):
                break
            await asyncio.sleep(2.0)
        return found

    async def verify_hums(self, acked: dict[str, Tracked]) -> dict[str, bool]:
        """Hum each acknowledged new song once more (as the admin, who is not rate-limited)."""
        found = {}
        for song_id, add in acked.items():
            if add.add_seed is None or add.add_seed < 0:
                continue
            data = self.new_hums[add.add_seed]
            tr = self.tg_send(TG_ADMIN, "verify", self.tg.voice(data, duration=10), phase="verify")
            await self.tg_wait(tr, 120)
            await self.tg_wait(tr, 10, clip=True)
            await asyncio.sleep(0.5)
            ids = set()
            for msg, _ in self.tg_buttons(tr, ""):
                for data in _button_data(msg):
                    parts = data.split(":")
                    ids.add(parts[1] if parts[0] == "p" else parts[-1])
            found[song_id] = song_id in ids
            # ... and press its ▶ on Discord (the title appears in that message's content).
            # discord.py ignores a press of a button that is not on the message: put it there.
            custom_id = f"p:{song_id}:0"
            target = {**(self.dc_messages[0] if self.dc_messages else message([])), "components": [
                {"type": 1, "components": [{"type": 2, "style": 1, "label": "▶", "custom_id": custom_id}]}]}
            payload = button_click(target, custom_id, user_id=ADMIN_USER)
            dtr = await self.dc_send(payload, "verify_play", ADMIN_USER, phase="verify")
            await self.dc_wait(dtr, 60)
        return found

    def catalog_ids(self, data_dir: Path) -> set[str]:
        db = sqlite3.connect(f"file:{data_dir / 'catalog.db'}?mode=ro", uri=True)
        try:
            return {r[0] for r in db.execute("SELECT song_id FROM songs")}
        finally:
            db.close()

    @staticmethod
    def queue_counts(data_dir: Path) -> tuple[int | None, int | None]:
        path = data_dir / "index" / "es-queue.db"
        if not path.exists():
            return None, None
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return (db.execute("SELECT COUNT(*) FROM pending").fetchone()[0],
                    db.execute("SELECT COUNT(*) FROM dead").fetchone()[0])
        finally:
            db.close()

    # -- the run -----------------------------------------------------------------------------
    async def run(self) -> SoakReport:
        cfg = self.cfg
        work = cfg.work_dir or Path(tempfile.mkdtemp(prefix="humbot-soak-"))
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.log(f"work directory {work}")
        try:
            return await self._run(work)
        finally:
            await self._cleanup(work)

    async def _run(self, work: Path) -> SoakReport:
        cfg = self.cfg
        self.es = EsServer(heap=cfg.es_heap, fast_start=cfg.es_fast_start)
        es_started = asyncio.ensure_future(self.in_es_thread(self.es.start, 300.0))
        await asyncio.to_thread(self.make_audio, work)
        self.log(f"audio ready: {cfg.songs} catalog songs, {len(self.hums)} voice notes, "
                 f"{self.n_new_songs} new songs to add")
        await self.tg.start()
        await self.dc.start()
        self.tg.private_chat(self.tg.user(TG_ADMIN))  # the admin has talked to the bot before
        await es_started
        self.log(f"Elasticsearch {self.es.version} up at {self.es.url}")
        await self.start_bot(work)
        await asyncio.wait_for(self._ready.wait(), 900)
        if self.ready is None:
            raise RuntimeError("the bot exited before it was ready:\n" + "\n".join(self.bot_lines[-20:])
                               + "\n" + _tail(work / "bot.stderr") + "\n" + _tail(work / "bot.log"))
        pid = self.ready["pid"]
        self.log(f"bot ready (pid {pid}; {len(self.ready['songs'])} songs seeded in {self.ready['seed_s']:.0f} s)")
        self.spawn(self.sample_rss(pid), background=True)
        await asyncio.sleep(2.0)

        actions = self.plan()
        self.run_started = self.clock()
        self.log(f"run: {cfg.users} users, {len(actions)} actions over {cfg.duration_s:.0f} s, "
                 f"Elasticsearch killed at {', '.join(f'{t:.0f}' for t in self.kill_times())} s")
        chaos = asyncio.ensure_future(self.chaos())
        for at, action, args in actions:
            await asyncio.sleep(max(0.0, self.run_started + at - self.clock()))
            self.spawn(self.act(action, args))
        await asyncio.sleep(max(0.0, self.run_started + cfg.duration_s - self.clock()))
        self.run_ended = self.clock()
        self.log(f"all actions sent ({len(self.tracked)} updates so far); waiting for the answers")
        await chaos
        await self.drain()
        self.log("drained")
        acked = self.acked_writes()
        searchable = await self.wait_writes(sorted(acked))
        self.log(f"{len(searchable)}/{len(acked)} acknowledged writes searchable in Elasticsearch")
        hum_found = await self.verify_hums(acked) if cfg.verify else {}
        await self.drain()
        hwm = self.hwm_kb(pid)
        logstats = await self.stop_bot()
        self.log("bot stopped")
        data_dir = work / "data"
        in_catalog = self.catalog_ids(data_dir)
        searchable = await self.es_searchable(sorted(acked))  # after the bot is gone: what stays
        pending, dead = self.queue_counts(data_dir)
        writes = {
            "attempted": sum(1 for t in self.tracked if t.add_seed is not None),
            "acked": acked, "during_outage": self.during_outage(acked),
            "lost_catalog": sorted(set(acked) - in_catalog), "lost_es": sorted(set(acked) - searchable),
            "hum_found": hum_found, "queue_pending": pending, "queue_dead": dead,
            "catalog_songs": len(in_catalog), "seeded": len(self.ready["songs"]),
        }
        return self.report(writes, hwm, logstats)

    def during_outage(self, acked: dict[str, Tracked]) -> int:
        n = 0
        for tr in acked.values():
            t = tr.t_sent - (self.run_started or 0)
            if any(o["killed_at"] <= t <= o["healthy_at"] for o in self.outages):
                n += 1
        return n

    async def _cleanup(self, work: Path) -> None:
        for task in list(self.tasks | self.background):
            task.cancel()
        if self.bot is not None and self.bot.returncode is None:
            self.bot.kill()
            await self.bot.wait()
        with contextlib.suppress(Exception):
            await self.tg.close()
        with contextlib.suppress(Exception):
            await self.dc.close()
        if self.es is not None:
            with contextlib.suppress(Exception):
                await self.in_es_thread(self.es.close)
        self.es_pool.shutdown(wait=True)
        if not self.cfg.keep:
            shutil.rmtree(work, ignore_errors=True)

    # -- the report --------------------------------------------------------------------------
    def report(self, writes: dict, hwm: int | None, logstats: dict) -> SoakReport:
        quiet, unanswered, twice, unexpected = [], [], [], []
        for tr in self.tracked:
            answers = self.answered(tr)
            tr.answers = answers
            if tr.key[0] == "dc":
                tr.acks = [t for t, kind, rtype, _ in self.dc.events_by_token.get(tr.key[1], []) if rtype in (5, 6)]
            if not answers:
                (quiet if self.quiet_candidate(tr) else unanswered).append(tr)
                continue
            if tr.key[0] == "tgq":
                if len(answers) > 1:  # answerCallbackQuery twice for one press
                    twice.append(tr)
            elif len(answers) > 1:
                twice.append(tr)
            expected = EXPECTED.get(tr.kind, set())
            for _, text in answers:
                key = self.classify(text)
                if key not in expected:
                    unexpected.append((tr, key, text))
        texts = self.tg.texts + self.dc.texts
        tracebacks = [t[:300] for t in texts if TRACEBACK.search(t)]
        extra = {
            "tg_api_errors": dict(self.tg.api_errors), "tg_loose": len(self.tg.loose),
            "tg_stuck_progress": self.stuck_progress(), "dc_mention_leaks": self.dc.mention_leaks,
            "bidi_echoes": sum("\u202e" in t for t in texts),
            "dc_unknown_routes": list(self.dc.unknown[:10]), "run_started": self.run_started,
            "long_truncation_note": self.truncation_notes(),
        }
        return SoakReport(self.cfg, self.tracked, quiet, unanswered, twice, unexpected, tracebacks, self.outages,
                          writes, self.rss, hwm, logstats, extra)

    def truncation_notes(self) -> tuple[int, int]:
        """(long notes answered with results, of those: told only the first seconds were used)."""
        note = re.split(r"\{[^}]*\}", ENGLISH["audio_truncated"])[0]
        longs = [t for t in self.tracked if t.kind == "long" and t.answers
                 and self.classify(t.answers[0][1]) in SEARCH_ANSWERS]
        return len(longs), sum(note in t.answers[0][1] for t in longs)

    def stuck_progress(self) -> list[str]:
        """Requests whose "listening…"/"adding…" message was never turned into the answer."""
        out = []
        for key, progress in self.tg.progress.items():
            finals = self.tg.finals.get(key, {})
            for mid in progress:
                if mid not in finals:
                    tr = self.by_key.get(("tg",) + key)
                    out.append(f"{tr.kind if tr else '?'} (chat {key[0]}, message {key[1]})")
        return out


def _button_data(msg: dict) -> list[str]:
    return [str(b.get("callback_data", "")) for row in (msg.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row if ":" in str(b.get("callback_data", ""))]


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def run_soak(cfg: SoakConfig) -> SoakReport:
    return await Soak(cfg).run()


# -- printing --------------------------------------------------------------------------------
def format_report(r: SoakReport) -> str:
    cfg = r.cfg
    run = [t for t in r.tracked if t.phase == "run"]
    by_platform = Counter(t.platform for t in r.tracked)
    n_users = len({(t.platform, t.user) for t in run if t.user not in (TG_ADMIN, ADMIN_USER)})
    lines = [f"humbot soak: {cfg.users} simulated users ({n_users} sent something, plus an admin on each "
             f"platform) over {cfg.minutes:g} min, {cfg.songs} catalog songs, "
             f"Elasticsearch SIGKILLed and restarted {len(r.outages)}×"]
    answered = [t for t in r.tracked if t.answers]
    lines += [
        f"updates sent         {len(r.tracked):6d}   (telegram {by_platform['telegram']}, "
        f"discord {by_platform['discord']}; "
        f"{len(run)} during the run, {len(r.tracked) - len(run)} verification)",
        f"answered             {len(answered):6d}",
        f"answered twice       {len(r.twice):6d}",
        f"unanswered           {len(r.unanswered):6d}",
        f"dropped by the rate limit on purpose {len(r.quiet_drops)} (Telegram: after its one \"slow down\" reply)",
        "",
        "latency, send → answer (s)            n     p50     p95     max",
    ]
    groups: dict[str, list[float]] = defaultdict(list)
    for t in answered:
        groups[f"{t.platform} {t.kind}"].append(t.answers[0][0] - t.t_sent)
    for name in sorted(groups):
        v = groups[name]
        lines.append(f"  {name:32s} {len(v):5d} {pct(v, 50):7.2f} {pct(v, 95):7.2f} {max(v):7.2f}")
    allv = [t.answers[0][0] - t.t_sent for t in answered]
    lines.append(f"  {'all':32s} {len(allv):5d} {pct(allv, 50):7.2f} {pct(allv, 95):7.2f} {max(allv or [0]):7.2f}")
    acks = [t.acks[0] - t.t_sent for t in r.tracked if t.acks]
    if acks:
        lines.append(f"  discord deferral (3 s rule)      {len(acks):5d} {pct(acks, 50):7.2f} {pct(acks, 95):7.2f} "
                     f"{max(acks):7.2f}   ({sum(a > 3 for a in acks)} over 3 s)")
    lines += ["", "what users were told, by kind (message key × count):"]
    told: dict[str, Counter[str]] = defaultdict(Counter)
    classify = Classifier()
    for t in answered:
        told[f"{t.platform} {t.kind}"][classify(t.answers[0][1])] += 1
    for name in sorted(told):
        lines.append(f"  {name:32s} " + ", ".join(f"{k} {n}" for k, n in told[name].most_common()))
    totals: Counter[str] = Counter()
    for c in told.values():
        totals.update(c)
    lines.append("  errors by type (all kinds): " + ", ".join(
        f"{k} {n}" for k, n in totals.most_common() if k not in NOT_ERRORS))
    hums = [t for t in r.tracked if t.song_seed is not None and t.phase == "run"]
    with_results = [t for t in hums if t.answers and classify(t.answers[0][1]) in SEARCH_ANSWERS - {"catalog_empty"}]
    right = [t for t in with_results if re.search(rf"(?m)^1\. Tune {t.song_seed} — ", t.answers[0][1])]
    lines.append(f"  good voice notes of catalog songs answered with results: {len(with_results)}/{len(hums)}"
                 + (f", top-1 right {len(right)}/{len(with_results)} ({100 * len(right) / len(with_results):.0f} %)"
                    if with_results else ""))
    if r.unexpected:
        lines += ["", f"unexpected answers ({len(r.unexpected)}):"]
        seen: Counter[tuple[str, str]] = Counter()
        for tr, key, text in r.unexpected:
            seen[(f"{tr.platform} {tr.kind}", key)] += 1
        for (kind, key), n in seen.most_common():
            example = next(text for tr, k, text in r.unexpected if f"{tr.platform} {tr.kind}" == kind and k == key)
            lines.append(f"  {kind:24s} → {key} ×{n}: {example[:150]!r}")
    for title, items in (("unanswered", r.unanswered), ("answered twice", r.twice)):
        if items:
            lines += ["", f"{title} ({len(items)}):"]
            for tr in items[:20]:
                lines.append(f"  {tr.platform} {tr.kind} user {tr.user} sent at {tr.t_sent:.1f} s key {tr.key}: "
                             + "; ".join(repr(text[:100]) for _, text in tr.answers))
    if r.tracebacks:
        lines += ["", f"replies with traceback text ({len(r.tracebacks)}): {r.tracebacks[0][:200]!r}"]
    lines += ["", "Elasticsearch outages (s into the run):"]
    for n, o in enumerate(r.outages, 1):
        lines.append(f"  #{n}: SIGKILL at {o['killed_at']:.1f}, restart at {o['restart_at']:.1f}, "
                     f"healthy at {o['healthy_at']:.1f} ({o['down_s']:.1f} s down)")
    t0 = r.extra.get("run_started") or 0.0
    windows = [(o["killed_at"] - 0.5, o["healthy_at"] + 2.0) for o in r.outages]

    def down(t: float) -> bool:
        return any(a <= t - t0 <= b for a, b in windows)

    unavailable = [t for t in answered if classify(t.answers[0][1]) == "backend_unavailable"]
    while_up = [t for t in unavailable if not down(t.t_sent) and not down(t.answers[0][0])]
    lines.append(f"  told \"search is temporarily unavailable\": {len(unavailable)}, of which {len(while_up)} "
                 "were sent and answered while the node was up")
    for t in while_up[:10]:
        since = [t.t_sent - t0 - o["healthy_at"] for o in r.outages if t.t_sent - t0 > o["healthy_at"]]
        where = f"{min(since):.1f} s after the node was back" if since else "before any outage"
        lines.append(f"    {t.platform} {t.kind} sent at {t.t_sent - t0:.1f} s into the run ({where})")
    w = r.writes
    found = w["hum_found"]
    lines += ["", f"writes: {w['attempted']} admin adds, {len(w['acked'])} acknowledged "
                  f"({w['during_outage']} while Elasticsearch was down or restarting); "
                  f"in the catalog {len(w['acked']) - len(w['lost_catalog'])}/{len(w['acked'])}; "
                  f"searchable in Elasticsearch {len(w['acked']) - len(w['lost_es'])}/{len(w['acked'])}; "
                  f"write queue after the run: {w['queue_pending']} pending, {w['queue_dead']} dead",
              f"        catalog {w['catalog_songs']} songs = {w['seeded']} seeded + "
              f"{w['catalog_songs'] - w['seeded']} added"
              + (f"; a hum afterwards found {sum(found.values())}/{len(found)} new songs" if found else "")]
    if w["lost_catalog"] or w["lost_es"]:
        lines.append(f"  LOST: catalog {w['lost_catalog']}, Elasticsearch {w['lost_es']}")
    lines += ["", memory_line(r)]
    ls = r.logstats
    if ls:
        lines.append(f"bot log: {ls.get('levels', {})}; exceptions logged: {ls.get('exceptions') or 'none'}")
        for e in ls.get("errors", [])[:8]:
            lines.append(f"  ERROR {e[:200]}")
    x = r.extra
    lines.append(f"hostile echoes: {len(x['dc_mention_leaks'])} Discord messages that could ping @everyone/@here "
                 f"(no allowed_mentions), {x['bidi_echoes']} replies containing U+202E")
    n_long, n_note = x["long_truncation_note"]
    lines.append(f"five-minute notes answered with results: {n_long}, of which told that only the first seconds "
                 f"were used: {n_note}")
    if x["tg_api_errors"]:
        lines.append(f"Bot API calls Telegram would refuse: {x['tg_api_errors']}")
    if x["tg_stuck_progress"]:
        lines.append(f"\"listening…/adding…\" messages never turned into the answer: {len(x['tg_stuck_progress'])} "
                     f"({', '.join(x['tg_stuck_progress'][:5])})")
    lines += ["", "PASS" if r.ok else "FAIL: " + "; ".join(r.failures)]
    return "\n".join(lines)


def memory_line(r: SoakReport) -> str:
    if not r.rss:
        return "bot RSS: no samples"
    start = r.rss[0][1] / 1024
    t_run0 = r.extra.get("run_started") or r.rss[0][0]
    d = r.cfg.duration_s
    # Warm-up: the first 40 % of the run (models, JIT, connection pools and the adapters' buffers
    # reach their working size within the first two minutes of the 5-minute run).
    warm = [kb for t, kb in r.rss if t_run0 + 0.4 * d <= t <= t_run0 + 0.5 * d]
    end = [kb for t, kb in r.rss if t_run0 + 0.9 * d <= t <= t_run0 + d]
    late = [(t, kb) for t, kb in r.rss if t_run0 + 0.4 * d <= t <= t_run0 + d]
    peak = max(kb for _, kb in r.rss) / 1024
    text = f"bot RSS (MB, sampled every 1 s, {len(r.rss)} samples): at start {start:.0f}, peak {peak:.0f}"
    if r.rss_hwm_kb:
        text += f" (VmHWM {r.rss_hwm_kb / 1024:.0f})"
    if warm and end:
        w, e = statistics.median(warm) / 1024, statistics.median(end) / 1024
        slope = 0.0
        if len(late) > 10:
            ts = np.array([t for t, _ in late]) / 60
            slope = float(np.polyfit(ts, np.array([kb for _, kb in late]) / 1024, 1)[0])
        text += (f"; after warm-up (40–50 % of the run) {w:.0f}, at the end (90–100 %) {e:.0f}: "
                 f"{e - w:+.0f} MB ({100 * (e - w) / w:+.1f} %), trend after warm-up {slope:+.1f} MB/min")
    step = max(1.0, d / 10)
    marks, nxt = [], t_run0
    for t, kb in r.rss:
        if t >= nxt:
            marks.append(f"{t - t_run0:.0f}s {kb / 1024:.0f}")
            nxt += step
    return text + "\n  RSS over the run (s into the run, MB): " + ", ".join(marks)


def report_json(r: SoakReport) -> dict:
    classify = Classifier()
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in r.cfg.__dict__.items() if k != "log"},
        "updates": len(r.tracked), "answered": sum(bool(t.answers) for t in r.tracked),
        "twice": len(r.twice), "unanswered": len(r.unanswered), "quiet_drops": len(r.quiet_drops),
        "tracked": [{"platform": t.platform, "kind": t.kind, "user": t.user, "t": round(t.t_sent, 3),
                     "latency": round(t.answers[0][0] - t.t_sent, 3) if t.answers else None,
                     "told": [classify(x) for _, x in t.answers], "text": [x[:300] for _, x in t.answers],
                     "phase": t.phase} for t in r.tracked],
        "outages": r.outages, "rss_kb": r.rss, "logstats": r.logstats, "failures": r.failures,
        "writes": {k: (sorted(v) if isinstance(v, dict) and k == "acked" else v) for k, v in r.writes.items()},
        "extra": r.extra,
    }


if __name__ == "__main__":  # python bench/soak.py → the short run of the test suite
    rep = asyncio.run(run_soak(SoakConfig(users=20, minutes=1.0, songs=6, es_kills=1, es_fast_start=True)))
    print(format_report(rep))
    sys.exit(0 if rep.ok else 1)
