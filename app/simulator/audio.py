"""Real call audio of a given length: 8 kHz mono telephony tone, as WAV or MP3.

What the simulator uploads in place of Sinch's recordings, and what the tests verify; MP3 is
encoded with LAME (the ``lameenc`` wheel), WAV is 16-bit PCM.
"""

from __future__ import annotations

import io
import math
import struct
import wave

import lameenc

SAMPLE_RATE = 8000


def pcm(seconds: float, *, rate: int = SAMPLE_RATE, frequency: float = 440.0) -> bytes:
    """16-bit little-endian mono samples of a quiet sine tone."""
    count = int(seconds * rate)
    step = 2 * math.pi * frequency / rate
    return struct.pack(f"<{count}h", *(int(6000 * math.sin(step * i)) for i in range(count)))


def wav(seconds: float, *, rate: int = SAMPLE_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm(seconds, rate=rate))
    return buffer.getvalue()


def mp3(seconds: float, *, rate: int = SAMPLE_RATE, kbps: int = 32) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(pcm(seconds, rate=rate)) + encoder.flush())


def audio(fmt: str, seconds: float) -> bytes:
    """``fmt`` is ``mp3`` or ``wav``, as in the recording options."""
    if fmt == "wav":
        return wav(seconds)
    if fmt == "mp3":
        return mp3(seconds)
    raise ValueError(f"unknown audio format {fmt!r}")
