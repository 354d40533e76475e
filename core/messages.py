"""The one message catalogue shared by the CLI and every chat adapter.

Keys map to English and Simplified Chinese texts with ``str.format`` fields. ``t(key, lang)``
picks the user's language from a platform language code (``"zh-hans"``, ``"zh_CN"``, ``"zh"``
→ Chinese; anything else → English) and falls back to English for a missing key or language.
"""

from __future__ import annotations

from typing import Any

DEFAULT_LANG = "en"
LANGS = ("en", "zh")

#: The message for each reason of ``core.evidence.judge`` a query cannot be a confident answer
#: ("not_in_catalog" is the plain "no confident match").
REASON_KEYS = {
    "no_tune": "reason_no_tune",
    "one_note": "reason_one_note",
    "too_little_melody": "reason_too_little_melody",
    "speech": "reason_speech",
}

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
    "audio_too_large_unknown": {
        "en": "That file is larger than the {limit_mb:.0f} MB limit. "
        "A short recording of 10–20 seconds is all I need.",
        "zh": "文件超过了 {limit_mb:.0f} MB 的上限。10–20 秒的短录音就足够了。",
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
    "backend_too_old": {
        "en": "The search cluster runs Elasticsearch {found}; humbot needs Elasticsearch {needed} or newer. "
        "Upgrade the cluster, or set `index.backend: local`.",
        "zh": "搜索集群运行的是 Elasticsearch {found}；humbot 需要 Elasticsearch {needed} 或更高版本。"
        "请升级集群，或设置 `index.backend: local`。",
    },
    "busy": {
        "en": "I'm busy with other songs right now — please try again in a moment.",
        "zh": "我正在处理其他请求，请稍后再试。",
    },
    "busy_yours": {
        "en": "I'm still working on your earlier recordings — send this one again once they are answered.",
        "zh": "我还在处理你之前发送的录音——等它们有了结果，再发送这一段吧。",
    },
    "song_truncated": {
        "en": "Only the first {indexed} of {total} were indexed (the limit is `limits.max_song_seconds`): "
        "searches find this song in that part only.",
        "zh": "只索引了全部 {total} 中的前 {indexed}（上限为 `limits.max_song_seconds`）：只有这一部分能被搜到。",
    },
    "catalog_busy": {
        "en": "The song list is being rebuilt by another process — please try again in a few minutes.",
        "zh": "另一个进程正在重建歌曲列表，请几分钟后再试。",
    },
    "song_not_found": {
        "en": "There is no song with id {song_id}.",
        "zh": "没有 ID 为 {song_id} 的歌曲。",
    },
    "index_mismatch": {
        "en": "The search index was built differently ({detail}). An admin needs to run `humbot reindex`.",
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
    # Why a query cannot be a confident answer (core.evidence.judge), with what to try.
    "reason_no_tune": {
        "en": "I couldn't hear a tune in that — only noise, drums or silence. Hum, sing or whistle "
        "the melody, or hold the phone closer to the music.",
        "zh": "我没有听到旋律——只有噪音、鼓声或静音。请哼、唱或用口哨吹出旋律，或把手机靠近音乐。",
    },
    "reason_one_note": {
        "en": "I only heard one note — hum a longer part of the tune (8–15 s), with its ups and downs.",
        "zh": "我只听到了一个音——请哼唱更长的一段旋律（8–15 秒），要有高有低。",
    },
    "reason_too_little_melody": {
        "en": "I heard only a few notes going back and forth — hum more of the melody (8–15 s), "
        "not just one or two notes.",
        "zh": "我只听到几个音来回重复——请多哼一段旋律（8–15 秒），不要只哼一两个音。",
    },
    "reason_speech": {
        "en": "That sounds like speech, not a tune — hum or sing the melody instead (singing the words is fine).",
        "zh": "这听起来像说话，而不是旋律——请哼或唱出旋律（唱歌词也可以）。",
    },
    "closest_songs": {
        "en": "The closest songs in the catalog (none is a match):",
        "zh": "曲库中最接近的歌曲（都不匹配）：",
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
    "song_duplicate": {
        "en": "Looks like the same recording as “{title}” (id {song_id}) — not added.",
        "zh": "这看起来和《{title}》（ID {song_id}）是同一段录音——未添加。",
    },
    "song_version_added": {
        "en": "Kept as a version of “{title}” (id {song_id}): “{new_title}” (id {new_id}).",
        "zh": "已作为《{title}》（ID {song_id}）的一个版本保留：《{new_title}》（ID {new_id}）。",
    },
    "keep_version_button": {
        "en": "Keep as a version",
        "zh": "保留为一个版本",
    },
    "upload_expired": {
        "en": "That upload is no longer waiting (it expired or was already added) — send the file again.",
        "zh": "该上传已不再等待处理（已过期或已添加）——请重新发送文件。",
    },
    # a result found in several versions of one recording: "1. Title · 87 % · at 1:23 (+1 version)"
    "result_versions_one": {
        "en": " (+1 version)",
        "zh": "（另有 1 个版本）",
    },
    "result_versions_many": {
        "en": " (+{count} versions)",
        "zh": "（另有 {count} 个版本）",
    },
    "song_removed": {
        "en": "Removed song {song_id}.",
        "zh": "已删除歌曲 {song_id}。",
    },
    "not_admin": {
        "en": "Sorry, only admins can change the catalog.",
        "zh": "抱歉，只有管理员可以修改曲库。",
    },
    # --- chat adapters (see adapters/common); telegram_* keys describe Telegram-only gestures
    "start": {
        "en": "Hi! I find songs from humming. Send me a voice note: hum, sing or whistle 10–20 seconds "
        "of a tune and I'll tell you which song it is — with a clip of the matching passage. "
        "/help for details.",
        "zh": "你好！我能通过哼唱识别歌曲。给我发一条语音：哼、唱或吹口哨 10–20 秒，"
        "我会告诉你是哪首歌，并附上匹配片段。详情请看 /help。",
    },
    "telegram_help": {
        "en": "How to use humbot:\n"
        "• Send a voice note (or an audio file, a round video note, or forward one) of "
        "{min_seconds:.0f}–{max_seconds:.0f} seconds. Only the first {max_seconds:.0f} s are used.\n"
        "• Tips: hum 10–20 s of the chorus, in a quiet place, close to the microphone; "
        "the key and tempo don't matter.\n"
        "• You get the best matches with how sure I am and where in the song your passage is, "
        "plus a clip to listen to. Tap ▶ to hear another result, or “Not it” if I got it wrong.\n"
        "• In a group: reply /hum to someone's voice note, or reply to me with a voice note.\n"
        "• Files up to {max_mb:.0f} MB.",
        "zh": "使用方法：\n"
        "• 发送一段 {min_seconds:.0f}–{max_seconds:.0f} 秒的语音（也可以是音频文件、圆形视频消息或转发的语音）。"
        "只使用前 {max_seconds:.0f} 秒。\n"
        "• 提示：在安静的地方靠近麦克风，哼唱副歌 10–20 秒；调子和速度不要紧。\n"
        "• 你会收到最佳匹配、可信度以及片段在歌曲中的位置，还有一段试听。"
        "点 ▶ 听其他结果，识别错了请点“不是这首”。\n"
        "• 在群组中：用 /hum 回复某人的语音，或用语音回复我。\n"
        "• 文件最大 {max_mb:.0f} MB。",
    },
    "telegram_help_admin": {
        "en": "Admin commands:\n"
        "• Send an audio file with the caption /add Title - Artist (or reply /add Title - Artist "
        "to an audio message) to add a song.\n"
        "• /remove ID — remove a song\n"
        "• /songs — list the catalog\n"
        "• /stats — catalog size, queries served, hit rate",
        "zh": "管理员命令：\n"
        "• 发送音频文件并附上说明 /add 歌名 - 歌手（或用 /add 歌名 - 歌手 回复一条音频消息）来添加歌曲。\n"
        "• /remove ID — 删除歌曲\n"
        "• /songs — 查看曲库\n"
        "• /stats — 曲库大小、查询次数、命中率",
    },
    "send_voice_hint": {
        "en": "Send me a voice note of the tune — hum 10–20 seconds. /help for details.",
        "zh": "请给我发一段哼唱的语音，10–20 秒即可。详情请看 /help。",
    },
    "telegram_hum_usage": {
        "en": "Reply /hum to a voice note or audio message and I'll find the song.",
        "zh": "用 /hum 回复一条语音或音频消息，我来识别歌曲。",
    },
    "listening": {
        "en": "🎧 Listening…",
        "zh": "🎧 正在聆听…",
    },
    "adding": {
        "en": "⏳ Adding the song…",
        "zh": "⏳ 正在添加歌曲…",
    },
    "rate_limited": {
        "en": "Slow down a little — you can send another recording in {seconds:.0f} s.",
        "zh": "请慢一点——{seconds:.0f} 秒后可以再发送录音。",
    },
    "play_button": {
        "en": "▶ {rank}",
        "zh": "▶ {rank}",
    },
    "not_it_button": {
        "en": "✗ Not it",
        "zh": "✗ 不是这首",
    },
    "feedback_thanks": {
        "en": "Thanks — noted. It helps humbot get better.",
        "zh": "谢谢，已记录。这能帮助 humbot 变得更好。",
    },
    "clip_caption": {
        "en": "{name} · {start}–{end}",
        "zh": "{name} · {start}–{end}",
    },
    "admin_only": {
        "en": "Sorry, that command is for admins only.",
        "zh": "抱歉，该命令仅限管理员使用。",
    },
    "button_expired": {
        "en": "This button has expired — send the recording again.",
        "zh": "此按钮已失效，请重新发送录音。",
    },
    "telegram_add_usage": {
        "en": "To add a song, send an audio file with the caption /add Title - Artist, "
        "or reply /add Title - Artist to an audio message.",
        "zh": "添加歌曲：发送音频文件并附上说明 /add 歌名 - 歌手，或用 /add 歌名 - 歌手 回复一条音频消息。",
    },
    "remove_usage": {
        "en": "Usage: /remove ID (the ids are in /songs).",
        "zh": "用法：/remove ID（ID 见 /songs）。",
    },
    "songs_header": {
        "en": "Songs {first}–{last} of {total}:",
        "zh": "歌曲 {first}–{last}，共 {total} 首：",
    },
    "songs_empty": {
        "en": "No songs yet. Send an audio file with the caption /add Title - Artist.",
        "zh": "还没有歌曲。发送音频文件并附上说明 /add 歌名 - 歌手 即可添加。",
    },
    "page_prev": {
        "en": "◀ Previous",
        "zh": "◀ 上一页",
    },
    "page_next": {
        "en": "Next ▶",
        "zh": "下一页 ▶",
    },
    "stats": {
        "en": "Songs in the catalog: {songs}\n"
        "Queries served: {queries} ({matched} confident matches)\n"
        "Hit rate from feedback: {hit_rate}\n"
        "Index: {backend}, {health}\n"
        "Embedders: {embedders}",
        "zh": "曲库歌曲：{songs}\n"
        "已处理查询：{queries}（其中 {matched} 次有把握匹配）\n"
        "反馈命中率：{hit_rate}\n"
        "索引：{backend}，{health}\n"
        "嵌入模型：{embedders}",
    },
    "stats_hit_rate": {
        "en": "{percent:.0f} % ({correct} of {rated} rated answers)",
        "zh": "{percent:.0f} %（{rated} 条反馈中 {correct} 条正确）",
    },
    "stats_no_feedback": {
        "en": "no feedback yet",
        "zh": "暂无反馈",
    },
    "stats_healthy": {
        "en": "healthy",
        "zh": "正常",
    },
    "stats_unhealthy": {
        "en": "UNAVAILABLE",
        "zh": "不可用",
    },
    "stats_pending": {
        "en": "Writes waiting for the index: {pending}",
        "zh": "等待写入索引：{pending}",
    },
    "cmd_start": {
        "en": "What humbot does",
        "zh": "humbot 能做什么",
    },
    "cmd_help": {
        "en": "How to hum a good query",
        "zh": "如何哼唱效果最好",
    },
    "cmd_hum": {
        "en": "Reply to a voice note to find its song",
        "zh": "回复一条语音来识别歌曲",
    },
    "cmd_add": {
        "en": "Add a song: /add Title - Artist (admins)",
        "zh": "添加歌曲：/add 歌名 - 歌手（管理员）",
    },
    "cmd_remove": {
        "en": "Remove a song by id (admins)",
        "zh": "按 ID 删除歌曲（管理员）",
    },
    "cmd_songs": {
        "en": "List the catalog (admins)",
        "zh": "查看曲库（管理员）",
    },
    "cmd_stats": {
        "en": "Catalog size, queries, hit rate (admins)",
        "zh": "曲库大小、查询次数、命中率（管理员）",
    },
    # --- discord (adapters/discord): texts for Discord-only gestures -----------------------
    "discord_help": {
        "en": "**How to use humbot**\n"
        "• `/hum` with a recording attached: hum, sing or whistle {min_seconds:.0f}–{max_seconds:.0f} seconds "
        "of the tune (only the first {max_seconds:.0f} s are used).\n"
        "• Or right-click (long-press on mobile) any message with a voice message or audio file → "
        "**Apps** → **Find this song**.\n"
        "• Tips: hum 10–20 s of the chorus, in a quiet place, close to the microphone; the key and tempo "
        "don't matter.\n"
        "• You get the best matches with how sure I am and where in the song your passage is, plus a clip. "
        "Press ▶ to hear another result, or “Not it” if I got it wrong.",
        "zh": "**humbot 使用方法**\n"
        "• 使用 `/hum` 并附上录音：哼、唱或吹口哨 {min_seconds:.0f}–{max_seconds:.0f} 秒"
        "（只使用前 {max_seconds:.0f} 秒）。\n"
        "• 或者右键（手机上长按）任意带语音消息或音频文件的消息 → **应用** → **识别这首歌**。\n"
        "• 提示：在安静的地方靠近麦克风，哼唱副歌 10–20 秒；调子和速度不要紧。\n"
        "• 你会收到最佳匹配、可信度以及片段在歌曲中的位置，还有一段试听。点 ▶ 听其他结果，识别错了请点“不是这首”。",
    },
    "discord_cmd_hum": {
        "en": "Find a song from a hummed, sung or played recording",
        "zh": "根据哼唱、演唱或播放的录音识别歌曲",
    },
    "discord_opt_recording": {
        "en": "A voice message or audio file (10–20 s of the tune works best)",
        "zh": "语音消息或音频文件（10–20 秒效果最好）",
    },
    "discord_menu_find": {
        "en": "Find this song",
        "zh": "识别这首歌",
    },
    "discord_cmd_help": {
        "en": "How to use humbot",
        "zh": "humbot 使用方法",
    },
    "discord_cmd_addsong": {
        "en": "Admin: add a song to the catalog",
        "zh": "管理员：向曲库添加歌曲",
    },
    "discord_opt_file": {
        "en": "The song's audio file",
        "zh": "歌曲的音频文件",
    },
    "discord_opt_title": {
        "en": "Song title",
        "zh": "歌名",
    },
    "discord_opt_artist": {
        "en": "Artist",
        "zh": "歌手",
    },
    "discord_cmd_removesong": {
        "en": "Admin: remove a song from the catalog",
        "zh": "管理员：从曲库删除歌曲",
    },
    "discord_opt_song_id": {
        "en": "The song's id (see /songs)",
        "zh": "歌曲 ID（见 /songs）",
    },
    "discord_cmd_songs": {
        "en": "Admin: list the catalog",
        "zh": "管理员：查看曲库",
    },
    "discord_opt_page": {
        "en": "Page number",
        "zh": "页码",
    },
    "discord_cmd_stats": {
        "en": "Admin: catalog size, queries served, hit rate",
        "zh": "管理员：曲库大小、查询次数、命中率",
    },
    "discord_no_audio": {
        "en": "That message has no voice message or audio file. Use “Find this song” on a message with a "
        "recording, or send one with /hum.",
        "zh": "这条消息里没有语音消息或音频文件。请对带录音的消息使用“识别这首歌”，或用 /hum 发送录音。",
    },
    "discord_download_failed": {
        "en": "I couldn't fetch that file from Discord — was the message deleted? Please send it again.",
        "zh": "无法从 Discord 获取该文件——消息是否已被删除？请重新发送。",
    },
    "discord_restarting": {
        "en": "I'm restarting — please try again in a minute.",
        "zh": "我正在重启，请一分钟后再试。",
    },
    "discord_clip": {
        "en": "▶ {name} · {start}–{end}",
        "zh": "▶ {name} · {start}–{end}",
    },
    "discord_songs_empty": {
        "en": "No songs yet. Add one with /addsong.",
        "zh": "还没有歌曲。使用 /addsong 添加。",
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
