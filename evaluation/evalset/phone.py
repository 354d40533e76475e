"""A phone held up to a loudspeaker in a noisy room, sent as a voice note.

The chain, in order (:func:`through_phone`, then :func:`record`):

1. **speed** — the song played a little fast or slow (resampling: pitch and tempo together);
2. **loudspeaker** — a small driver: band-pass, a resonance bump, soft clipping;
3. **room** — reverberation (:func:`evaluation.evalset.effects.room_ir`);
4. **noise** — people talking, traffic, room tone or another song, at a given SNR;
5. **microphone** — the phone's high-pass, then its automatic gain control (AGC) and limiter;
6. **codec** — Opus in Ogg at 12–32 kbps, like a Telegram or WhatsApp voice note.

Signals are float32 mono numpy arrays, shape ``(n,)``, in [-1, 1], at a sample rate ``sr`` in Hz
that the chain keeps. Everything random is drawn up front by :func:`draw_channel` into a
:class:`PhoneChannel` (the ground truth of the recording) except the room's and the noise's
samples, which come from the ``rng`` given to :func:`through_phone`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from evaluation.evalset import effects

#: The background sounds of the room. "crowd": people talking (a bar, a party); "traffic": a
#: street through an open window; "pink": broadband room tone (ventilation, a fridge); "music":
#: another song playing at the same time (the hardest case for identification).
NOISES = ("crowd", "traffic", "pink", "music")

#: Opus bitrates in kbit/s that messengers use for voice notes (WhatsApp ~16, Telegram ~24–32);
#: 12 is the floor before Opus's SILK mode drops speech-band content a song's melody needs.
OPUS_KBPS = (12, 16, 24, 32)

# ----------------------------------------------------------------------- draw ranges
# Each (lo, hi) is a uniform draw in :func:`draw_channel`; the reasons are in the comments.

#: A phone's or laptop's small loudspeaker has no bass below 150–300 Hz (its cone is tiny).
SPEAKER_LO_HZ = (150.0, 300.0)
#: ... and rolls off its treble from 4.5–8 kHz (cheap drivers, and rooms absorb treble first).
SPEAKER_HI_HZ = (4500.0, 8000.0)
#: tanh drive: 1 barely rounds the peaks; 4 is a speaker turned all the way up, audibly distorted.
SPEAKER_DRIVE = (1.0, 4.0)
#: The cone-and-box resonance of a small speaker sits in the low midrange to presence region...
SPEAKER_RESONANCE_HZ = (600.0, 2500.0)
#: ... and lifts it by a few dB (the "honky" or "tinny" sound of a phone speaker).
SPEAKER_RESONANCE_DB = (3.0, 8.0)
#: Reverberation time of living rooms, offices and bars: 0.2 s (furnished, small) to 0.8 s (bare).
RT60_S = (0.2, 0.8)
#: Direct-to-reverberant ratio: -3 dB (phone across the room) to +8 dB (held next to the speaker).
DRR_DB = (-3.0, 8.0)
#: Phone microphone high-pass (wind and handling-noise filter): 80–200 Hz across makes.
MIC_LO_HZ = (80.0, 200.0)
#: Most phones' voice-note recorders apply AGC; some apps (and "studio" modes) do not.
AGC_ON_PROBABILITY = 0.7

# ----------------------------------------------------------------------- fixed constants

#: Q of the speaker's resonance bump: about 1 octave wide; a cone resonance is broad, not a peak.
RESONANCE_Q = 1.4
#: RMS level of the music (after the room) at the phone's converter, before noise and AGC: a
#: fixed input gain set for a loud speaker nearby. 24 dB of headroom, because a driven speaker
#: is nearly a square wave and a reverberant room adds up to ~5 dB: noise at 0 dB SNR and the
#: peaks of both still fit under full scale when the AGC is off.
MUSIC_AT_MIC_DBFS = -24.0
#: Butterworth order of the microphone's high-pass: 12 dB/octave, gentler than the speaker's
#: own roll-off (the mic capsule is flat; the filter is a mild DSP rumble cut).
MIC_ORDER = 2
#: The "little pink" under the talkers of "crowd": room tone 10 dB under the babble.
CROWD_PINK_GAIN_DB = -10.0
#: AGC target: -20 dBFS RMS, where phone recorders put speech (leaves ~20 dB for peaks).
AGC_TARGET_DBFS = -20.0
#: AGC time constant of its power follower (attack = release): slow, so it rides the level of a
#: passage without pumping on every beat, as phone AGCs do.
AGC_TIME_S = 0.5
#: The most the AGC boosts: a distant, quiet speaker is brought up at most 30 dB (more would
#: only raise the noise floor; phone AGCs cap their gain around there).
AGC_MAX_BOOST_DB = 30.0
#: The most it cuts: 20 dB, for a phone held against a loud speaker.
AGC_MAX_CUT_DB = 20.0
#: The limiter after the AGC keeps peaks 1 dB under full scale, as phone recorders do.
LIMIT_CEILING_DBFS = -1.0
#: Limiter smoothing window: 5 ms, short enough to catch a transient, long enough not to buzz.
LIMIT_WINDOW_S = 0.005
#: Speed factors are made a ratio of integers with denominators up to 100 for the polyphase
#: resampler: < 0.01 % speed error, and filters of at most ~2000 taps.
SPEED_MAX_DENOMINATOR = 100
#: Guard against dividing by zero on silence (a power, ~ -240 dBFS).
_EPS = 1e-24


@dataclass(frozen=True)
class PhoneChannel:
    """Everything that happens between the song file and the voice note; see :func:`draw_channel`
    for the ranges and the module constants for why."""

    speaker_lo_hz: float  # loudspeaker high-pass (Hz)
    speaker_hi_hz: float  # loudspeaker low-pass (Hz)
    speaker_drive: float  # tanh soft-clipping drive (1 = barely clipped)
    speaker_resonance_hz: float  # centre of the speaker's resonance bump (Hz)
    speaker_resonance_db: float  # its gain (dB)
    rt60_s: float  # room reverberation time (s)
    drr_db: float  # direct-to-reverberant ratio (dB)
    noise: str  # one of NOISES
    snr_db: float  # music (after the room) over noise, in the mic's band (dB); inf = no noise
    mic_lo_hz: float  # phone microphone high-pass (Hz)
    agc: bool  # automatic gain control on
    opus_kbps: int  # Opus bitrate (kbit/s), one of OPUS_KBPS
    speed: float  # playback speed (> 1 = faster and higher)


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float], digits: int) -> float:
    return round(float(rng.uniform(*lo_hi)), digits)


def draw_channel(
    rng: np.random.Generator, *, snr_db: float, noise: str | None = None, speed: float = 1.0
) -> PhoneChannel:
    """Draw a random phone channel.

    Parameters
    ----------
    rng : np.random.Generator
        The only source of randomness: the same seed gives the same channel.
    snr_db : float
        Signal-to-noise ratio in dB of the music after the room to the noise (``math.inf``: none).
    noise : str or None
        One of :data:`NOISES`; ``None`` draws one uniformly. A drawn or given ``"music"`` needs
        ``other_music`` in :func:`through_phone`.
    speed : float > 0
        Playback speed factor (1 = as recorded).

    Returns
    -------
    PhoneChannel
        Values rounded to a few decimals (they go into the JSON ground truth), within the ranges
        of the module constants: speaker 150–300 Hz to 4.5–8 kHz, drive 1–4, resonance 600–2500 Hz
        at +3–8 dB, RT60 0.2–0.8 s, DRR -3–8 dB, mic high-pass 80–200 Hz, AGC on 70 % of the time,
        Opus at one of 12, 16, 24, 32 kbps.
    """
    if noise is not None and noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; expected one of {NOISES}")
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    return PhoneChannel(
        speaker_lo_hz=_uniform(rng, SPEAKER_LO_HZ, 1),
        speaker_hi_hz=_uniform(rng, SPEAKER_HI_HZ, 1),
        speaker_drive=_uniform(rng, SPEAKER_DRIVE, 3),
        speaker_resonance_hz=_uniform(rng, SPEAKER_RESONANCE_HZ, 1),
        speaker_resonance_db=_uniform(rng, SPEAKER_RESONANCE_DB, 2),
        rt60_s=_uniform(rng, RT60_S, 3),
        drr_db=_uniform(rng, DRR_DB, 2),
        noise=str(rng.choice(NOISES)) if noise is None else noise,
        snr_db=float(snr_db),
        mic_lo_hz=_uniform(rng, MIC_LO_HZ, 1),
        agc=bool(rng.random() < AGC_ON_PROBABILITY),
        opus_kbps=int(rng.choice(OPUS_KBPS)),
        speed=float(speed),
    )


# ---------------------------------------------------------------------------- stages


def change_speed(y: np.ndarray, speed: float) -> np.ndarray:
    """Play ``y`` ``speed`` times as fast, pitch and tempo together (a resampling, as a turntable
    or a sped-up upload does), keeping the sample rate.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        The signal.
    speed : float > 0
        Speed factor; made a ratio p/q with q ≤ :data:`SPEED_MAX_DENOMINATOR`.

    Returns
    -------
    np.ndarray, shape (round(n / speed),), float32
        A tone at f Hz comes out at ``f * speed`` Hz.
    """
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    if speed == 1.0:
        return y.astype(np.float32)
    ratio = Fraction(speed).limit_denominator(SPEED_MAX_DENOMINATOR)
    # n·q/p samples out of n: p/q times as fast
    out = signal.resample_poly(y, ratio.denominator, ratio.numerator)
    n_out = round(len(y) / speed)  # the ratio's rounding may leave a few samples more or less
    return np.pad(out, (0, max(0, n_out - len(out))))[:n_out].astype(np.float32)


def peaking_eq(y: np.ndarray, sr: int, freq_hz: float, gain_db: float, q: float = RESONANCE_Q) -> np.ndarray:
    """A peaking-EQ biquad (R. Bristow-Johnson's Audio EQ Cookbook): ``gain_db`` at ``freq_hz``,
    0 dB far from it.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    sr : int
        Sample rate (Hz); ``freq_hz`` must be under ``sr / 2``.
    freq_hz, gain_db, q : float
        Centre (Hz), gain there (dB), quality factor (centre / bandwidth).

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    a_ = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * freq_hz / sr
    alpha = math.sin(w0) / (2 * q)
    b = [1 + alpha * a_, -2 * math.cos(w0), 1 - alpha * a_]
    a = [1 + alpha / a_, -2 * math.cos(w0), 1 - alpha / a_]
    return signal.lfilter(b, a, y).astype(np.float32)


def loudspeaker(y: np.ndarray, sr: int, ch: PhoneChannel) -> np.ndarray:
    """A small loudspeaker: band-pass ``speaker_lo_hz``–``speaker_hi_hz`` (4th-order
    Butterworth), the resonance bump, then tanh soft clipping at ``speaker_drive`` of the signal
    normalised to peak 1.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    sr : int
        Sample rate (Hz).
    ch : PhoneChannel

    Returns
    -------
    np.ndarray, shape (n,), float32
        Peak 1 (the speaker's full scale), whatever the input's level.
    """
    out = effects.bandlimit(y, sr, ch.speaker_lo_hz, ch.speaker_hi_hz)
    out = peaking_eq(out, sr, ch.speaker_resonance_hz, ch.speaker_resonance_db)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    out = out / peak if peak > 0 else out
    # divided by tanh(drive) so the peak stays at 1 whatever the drive
    return (np.tanh(ch.speaker_drive * out) / math.tanh(ch.speaker_drive)).astype(np.float32)


def _unit(y: np.ndarray) -> np.ndarray:
    return (y / (effects.rms(y) + 1e-12)).astype(np.float32)


def room_noise(
    ch: PhoneChannel, n: int, sr: int, rng: np.random.Generator, *, other_music: np.ndarray | None = None
) -> np.ndarray:
    """``n`` samples of the room's background sound ``ch.noise``, at unit RMS.

    Parameters
    ----------
    ch : PhoneChannel
        Its ``noise`` picks the sound; for ``"music"`` its speaker band limits shape the other song.
    n : int
        Length in samples.
    sr : int
        Sample rate (Hz).
    rng : np.random.Generator
        For the noise samples.
    other_music : np.ndarray, shape (m,), optional
        Another song at ``sr``, looped or cut to ``n``; required for ``"music"``.

    Returns
    -------
    np.ndarray, shape (n,), float32
        Unit RMS.
    """
    if ch.noise == "crowd":
        pink = effects.background("pink", n, sr, rng) * effects.db(CROWD_PINK_GAIN_DB)
        return _unit(effects.background("babble", n, sr, rng) + pink)
    if ch.noise == "traffic":
        return effects.background("street", n, sr, rng)
    if ch.noise == "pink":
        return effects.background("pink", n, sr, rng)
    if ch.noise == "music":
        if other_music is None:
            raise ValueError('noise "music" needs other_music (another song at the same sample rate)')
        other = np.asarray(other_music, dtype=np.float32)
        if other.ndim != 1 or not other.size:
            raise ValueError(f"other_music must be a non-empty mono array, got shape {other.shape}")
        # another song from another (small) speaker in the room; np.resize loops it
        return _unit(effects.bandlimit(np.resize(other, n), sr, ch.speaker_lo_hz, ch.speaker_hi_hz))
    raise ValueError(f"unknown noise {ch.noise!r}; expected one of {NOISES}")


def mix_at_snr(y: np.ndarray, noise: np.ndarray, sr: int, snr_db: float, band_lo_hz: float) -> np.ndarray:
    """``y`` plus ``noise`` scaled to ``snr_db`` under ``y``, both levels measured above
    ``band_lo_hz`` — in the band the microphone keeps — so that sub-audible rumble of pink and
    brown noise (which the mic's high-pass removes anyway) does not count as noise.

    Parameters
    ----------
    y, noise : np.ndarray, shape (n,)
        Signal and noise (any level).
    sr : int
        Sample rate (Hz).
    snr_db : float
        Wanted signal-to-noise ratio (dB); ``math.inf`` adds nothing.
    band_lo_hz : float
        High-pass (Hz, 2nd-order Butterworth, as the mic's) applied before measuring the levels.

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    level_y = effects.rms(effects.bandlimit(y, sr, band_lo_hz, None, order=MIC_ORDER))
    level_n = effects.rms(effects.bandlimit(noise, sr, band_lo_hz, None, order=MIC_ORDER))
    gain = level_y / (level_n + 1e-12) * effects.db(-snr_db)  # db(-inf) = 0
    return (y + noise * gain).astype(np.float32)


def agc(y: np.ndarray, sr: int) -> np.ndarray:
    """A phone's automatic gain control: a slow RMS follower (one-pole on the power,
    :data:`AGC_TIME_S` attack and release) whose gain brings the level to :data:`AGC_TARGET_DBFS`,
    within -:data:`AGC_MAX_CUT_DB` .. +:data:`AGC_MAX_BOOST_DB`. No limiter (see :func:`peak_limit`).

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    sr : int
        Sample rate (Hz).

    Returns
    -------
    np.ndarray, shape (n,), float32
        May exceed 1 right after the level jumps up (until the follower catches up).
    """
    if not y.size:
        return y.astype(np.float32)
    power = np.square(y, dtype=np.float64)
    a = 1.0 - math.exp(-1.0 / (AGC_TIME_S * sr))
    # start from the first time constant's mean power, as if the AGC had been listening already
    start = float(np.mean(power[: max(1, int(AGC_TIME_S * sr))]))
    env, _ = signal.lfilter([a], [1.0, -(1.0 - a)], power, zi=[(1.0 - a) * start])
    gain = effects.db(AGC_TARGET_DBFS) / np.sqrt(env + _EPS)
    gain = np.clip(gain, effects.db(-AGC_MAX_CUT_DB), effects.db(AGC_MAX_BOOST_DB))
    return (y * gain).astype(np.float32)


def peak_limit(y: np.ndarray, sr: int, ceiling_dbfs: float = LIMIT_CEILING_DBFS) -> np.ndarray:
    """A look-ahead peak limiter: the gain each sample needs to stay under the ceiling, held
    (running minimum over ±:data:`LIMIT_WINDOW_S`) and smoothed (moving average over half that);
    the held minimum makes the smoothed gain never exceed what any sample needs.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    sr : int
        Sample rate (Hz).
    ceiling_dbfs : float
        The most any sample reaches (dBFS).

    Returns
    -------
    np.ndarray, shape (n,), float32
        ``|out| <= db(ceiling_dbfs)``; unchanged where ``y`` stays under it.
    """
    if not y.size:
        return y.astype(np.float32)
    ceiling = effects.db(ceiling_dbfs)
    w = max(1, int(LIMIT_WINDOW_S * sr))
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(y.astype(np.float64)), 1e-12))
    held = ndimage.minimum_filter1d(need, size=2 * w + 1, mode="nearest")
    smooth = ndimage.uniform_filter1d(held, size=w | 1, mode="nearest")  # odd: centred
    return np.clip(y * np.minimum(smooth, need), -ceiling, ceiling).astype(np.float32)


# ---------------------------------------------------------------------------- the chain


def through_phone(
    music: np.ndarray,
    sr: int,
    ch: PhoneChannel,
    rng: np.random.Generator,
    *,
    other_music: np.ndarray | None = None,
) -> np.ndarray:
    """What the phone's microphone hears (before the codec) when ``music`` plays from a small
    loudspeaker in a noisy room.

    Speed change, loudspeaker (:func:`loudspeaker`), room (:func:`evaluation.evalset.effects.room_ir`;
    the music then scaled to :data:`MUSIC_AT_MIC_DBFS` RMS), noise at ``ch.snr_db`` under the
    music after the room (:func:`mix_at_snr`), the mic's high-pass at ``ch.mic_lo_hz``, then, if
    ``ch.agc``, :func:`agc` and :func:`peak_limit`; finally clipped to [-1, 1].

    Parameters
    ----------
    music : np.ndarray, shape (n,)
        The song, mono, at ``sr``; its level does not matter (the speaker normalises it).
    sr : int
        Sample rate (Hz) of the input, the noise and the output.
    ch : PhoneChannel
        From :func:`draw_channel` (or built by hand).
    rng : np.random.Generator
        Draws the room's impulse response, then the noise: the same seed, the same output.
    other_music : np.ndarray, shape (m,), optional
        Another song at ``sr`` for ``ch.noise == "music"`` (required there, ignored otherwise).

    Returns
    -------
    np.ndarray, shape (round(n / speed),), float32
        In [-1, 1], at ``sr``.

    Raises
    ------
    ValueError
        ``"music"`` noise without ``other_music``, an unknown noise, or ``music`` not a
        non-empty mono array.
    """
    if ch.noise == "music" and other_music is None:
        raise ValueError('noise "music" needs other_music (another song at the same sample rate)')
    if ch.noise not in NOISES:
        raise ValueError(f"unknown noise {ch.noise!r}; expected one of {NOISES}")
    music = np.asarray(music, dtype=np.float32)
    if music.ndim != 1 or not music.size:
        raise ValueError(f"music must be a non-empty mono array, got shape {music.shape}")
    y = change_speed(music, ch.speed)
    y = effects.apply_ir(loudspeaker(y, sr, ch), effects.room_ir(rng, sr, rt60=ch.rt60_s, drr_db=ch.drr_db))
    y = (y * (effects.db(MUSIC_AT_MIC_DBFS) / (effects.rms(y) + 1e-12))).astype(np.float32)
    y = mix_at_snr(y, room_noise(ch, len(y), sr, rng, other_music=other_music), sr, ch.snr_db, ch.mic_lo_hz)
    y = effects.bandlimit(y, sr, ch.mic_lo_hz, None, order=MIC_ORDER)
    if ch.agc:
        y = peak_limit(agc(y, sr), sr)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def record(
    music: np.ndarray,
    sr: int,
    ch: PhoneChannel,
    rng: np.random.Generator,
    path: Path,
    *,
    other_music: np.ndarray | None = None,
) -> Path:
    """:func:`through_phone`, then Opus at ``ch.opus_kbps`` in Ogg (the real ffmpeg), like a
    messenger's voice note.

    Parameters
    ----------
    music, sr, ch, rng, other_music
        As for :func:`through_phone`.
    path : Path
        The ``.ogg`` file to write (atomically).

    Returns
    -------
    Path
        ``path``; it decodes to ``round(len(music) / ch.speed) / sr`` seconds.
    """
    y = through_phone(music, sr, ch, rng, other_music=other_music)
    return effects.encode(y, sr, path, "ogg", bitrate_kbps=ch.opus_kbps)
