"""Real call audio of a given length: 8 kHz mono telephony tone, as WAV or MP3.

What the simulator uploads in place of Sinch's recordings, and what the tests verify; MP3 is
encoded with LAME (the ``lameenc`` wheel), WAV is 16-bit PCM. The keys a caller pressed while
the recording ran sound in it as DTMF tones (ITU-T Q.23 frequency pairs), as they would in a
real recording: what a recording paused for a card number must not hold.
"""

from __future__ import annotations

import io
import math
import struct
import wave

import lameenc

SAMPLE_RATE = 8000
TONE_SECONDS = 0.2  # how long a key's tone sounds (Q.24 asks a receiver to take 40 ms)

# ITU-T Q.23: each key is one low (row) and one high (column) frequency, in Hz.
DTMF = {key: (low, high)
        for low, row in zip((697, 770, 852, 941), ("123A", "456B", "789C", "*0#D"))
        for high, key in zip((1209, 1336, 1477, 1633), row)}

Keys = tuple[tuple[float, str], ...]  # (seconds into the audio, key) for each key pressed


def pcm(seconds: float, *, rate: int = SAMPLE_RATE, frequency: float = 440.0, keys: Keys = ()) -> bytes:
    """16-bit little-endian mono samples of a quiet sine tone, with each key's tone pair where
    it was pressed."""
    count = int(seconds * rate)
    step = 2 * math.pi * frequency / rate
    samples = [int(6000 * math.sin(step * i)) for i in range(count)]
    for offset, key in keys:
        low, high = (2 * math.pi * f / rate for f in DTMF[key])
        start = int(offset * rate)
        for i in range(max(start, 0), min(start + int(TONE_SECONDS * rate), count)):
            samples[i] = int(4000 * (math.sin(low * i) + math.sin(high * i)))
    return struct.pack(f"<{count}h", *samples)


def wav(seconds: float, *, rate: int = SAMPLE_RATE, keys: Keys = ()) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm(seconds, rate=rate, keys=keys))
    return buffer.getvalue()


def mp3(seconds: float, *, rate: int = SAMPLE_RATE, kbps: int = 32, keys: Keys = ()) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(pcm(seconds, rate=rate, keys=keys)) + encoder.flush())


def audio(fmt: str, seconds: float, keys: Keys = ()) -> bytes:
    """``fmt`` is ``mp3`` or ``wav``, as in the recording options."""
    if fmt == "wav":
        return wav(seconds, keys=keys)
    if fmt == "mp3":
        return mp3(seconds, keys=keys)
    raise ValueError(f"unknown audio format {fmt!r}")
