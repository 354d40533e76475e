"""The one message catalogue shared by the CLI and every chat adapter.

Keys map to English and Simplified Chinese texts with ``str.format`` fields. ``t(key, lang)``
picks the user's language from a platform language code (``"zh-hans"``, ``"zh_CN"``, ``"zh"``
→ Chinese; anything else → English) and falls back to English for a missing key or language.
"""

from __future__ import annotations

from typing import Any

DEFAULT_LANG = "en"
LANGS = ("en", "zh")

CATALOGUE: dict[str, dict[str, str]] = {
    # --- audio input -------------------------------------------------------------------
    "audio_empty": {
        "en": "That file is empty. Please send a voice note or an audio file.",
        "zh": "文件是空的。请发送语音消息或音频文件。",
    },
    "audio_not_audio": {
        "en": "That doesn't look like audio. Please send a voice note or an audio file "
        "(OGG, MP3, M4A, FLAC, WAV, WebM or MP4).",
        "zh": "这看起来不是音频。请发送语音消息或音频文件（OGG、MP3、M4A、FLAC、WAV、WebM 或 MP4）。",
    },
    "audio_corrupt": {
        "en": "I couldn't decode that recording — the file seems damaged. Could you record it again?",
        "zh": "无法解码这段录音，文件似乎已损坏。能再录一次吗？",
    },
    "audio_too_large": {
        "en": "That file is {size_mb:.1f} MB; the limit is {limit_mb:.0f} MB. "
        "A short recording of 10–20 seconds is all I need.",
        "zh": "文件大小为 {size_mb:.1f} MB，上限是 {limit_mb:.0f} MB。10–20 秒的短录音就足够了。",
    },
    "audio_too_short": {
        "en": "That recording is only {seconds:.1f} s long. Please hum or sing at least "
        "{min_seconds:.0f} seconds — 10–20 s of the chorus works best.",
        "zh": "录音只有 {seconds:.1f} 秒。请至少哼唱 {min_seconds:.0f} 秒——副歌部分 10–20 秒效果最好。",
    },
    "audio_silent": {
        "en": "I couldn't hear anything in that recording. Check your microphone and hum a bit louder.",
        "zh": "录音里听不到声音。请检查麦克风，并大声一点哼唱。",
    },
    "audio_truncated": {
        "en": "Only the first {seconds:.0f} seconds were used.",
        "zh": "只使用了前 {seconds:.0f} 秒。",
    },
    # --- service state -----------------------------------------------------------------
    "backend_unavailable": {
        "en": "Search is temporarily unavailable. Please try again in a few minutes.",
        "zh": "搜索暂时不可用，请几分钟后再试。",
    },
    "busy": {
        "en": "I'm busy with other songs right now — please try again in a moment.",
        "zh": "我正在处理其他请求，请稍后再试。",
    },
    "song_not_found": {
        "en": "There is no song with id {song_id}.",
        "zh": "没有 ID 为 {song_id} 的歌曲。",
    },
    "index_mismatch": {
        "en": "The search index was built differently ({detail}). An admin needs to run "
        "`humbot reindex`.",
        "zh": "搜索索引的构建方式不同（{detail}）。需要管理员运行 `humbot reindex`。",
    },
    "config_invalid": {
        "en": "Invalid configuration: {detail}",
        "zh": "配置无效：{detail}",
    },
    "error_internal": {
        "en": "Something went wrong on my side. Please try again.",
        "zh": "我这边出了点问题，请再试一次。",
    },
    "panns_missing": {
        "en": "PANNs checkpoint not found at {path}: run `humbot models download` to fetch it. "
        "Searching with the melody path only.",
        "zh": "未找到 PANNs 模型文件 {path}：请运行 `humbot models download`。目前仅使用旋律匹配。",
    },
    # --- results -----------------------------------------------------------------------
    "results_header": {
        "en": "Best matches:",
        "zh": "最佳匹配：",
    },
    "results_line": {
        "en": "{rank}. {title}{artist} · {confidence:.0f} % · at {offset}",
        "zh": "{rank}. {title}{artist} · {confidence:.0f} % · 位于 {offset}",
    },
    "no_match": {
        "en": "No confident match. The closest songs in the catalog:",
        "zh": "没有足够把握的匹配。目录中最接近的歌曲：",
    },
    "no_match_tips": {
        "en": "Tips: hum 10–20 s of the chorus, in a quiet place, close to the microphone.",
        "zh": "提示：在安静的地方靠近麦克风，哼唱副歌 10–20 秒。",
    },
    "catalog_empty": {
        "en": "The catalog is empty — an admin has to add songs first.",
        "zh": "曲库是空的——需要管理员先添加歌曲。",
    },
    "song_added": {
        "en": "Added “{title}” (id {song_id}).",
        "zh": "已添加《{title}》（ID {song_id}）。",
    },
    "song_exists": {
        "en": "“{title}” is already in the catalog (id {song_id}).",
        "zh": "《{title}》已在曲库中（ID {song_id}）。",
    },
    "song_removed": {
        "en": "Removed song {song_id}.",
        "zh": "已删除歌曲 {song_id}。",
    },
    "not_admin": {
        "en": "Sorry, only admins can change the catalog.",
        "zh": "抱歉，只有管理员可以修改曲库。",
    },
}


def normalize_lang(code: str | None) -> str:
    """Map a platform language code (``"zh-hans"``, ``"zh_CN"``, ``"en-US"``) to a catalogue language."""
    if not code:
        return DEFAULT_LANG
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGS else DEFAULT_LANG


def t(key: str, lang: str | None = None, /, **params: Any) -> str:
    """The text for ``key`` in ``lang`` (English when missing), formatted with ``params``."""
    entry = CATALOGUE.get(key)
    if entry is None:
        raise KeyError(f"unknown message key {key!r}")
    text = entry.get(normalize_lang(lang)) or entry[DEFAULT_LANG]
    return text.format(**params) if params else text
