"""Which DTMF keys sound in a WAV recording: a Goertzel detector over the ITU-T Q.23 frequencies.

Blocks of 205 samples (the classic size at 8 kHz: every key frequency falls near a bin) are
measured at the eight key frequencies; a block holds a key when one row and one column frequency
each stand well above the others of their group and together carry most of the block's energy.
A key is counted once however many blocks its tone spans.
"""

from __future__ import annotations

import io
import math
import struct
import wave

ROWS, COLUMNS = (697, 770, 852, 941), (1209, 1336, 1477, 1633)
KEYS = ("123A", "456B", "789C", "*0#D")
BLOCK = 205


def _power(samples, rate: int, frequency: float) -> float:
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    before = earlier = 0.0
    for sample in samples:
        before, earlier = sample + coefficient * before - earlier, before
    return before * before + earlier * earlier - coefficient * before * earlier


def _key(block, rate: int) -> str | None:
    energy = sum(sample * sample for sample in block) * len(block) / 2
    rows = [_power(block, rate, f) for f in ROWS]
    columns = [_power(block, rate, f) for f in COLUMNS]
    row, column = max(range(4), key=rows.__getitem__), max(range(4), key=columns.__getitem__)
    if not energy or (rows[row] + columns[column]) < 0.6 * energy:
        return None
    if any(p * 8 > rows[row] for i, p in enumerate(rows) if i != row):
        return None
    if any(p * 8 > columns[column] for i, p in enumerate(columns) if i != column):
        return None
    return KEYS[row][column]


def keys_heard(wav_bytes: bytes) -> str:
    """The keys whose tones the 16-bit mono WAV holds, in order."""
    with wave.open(io.BytesIO(wav_bytes)) as audio:
        rate, count = audio.getframerate(), audio.getnframes()
        samples = struct.unpack(f"<{count}h", audio.readframes(count))
    heard, previous = [], None
    for start in range(0, count - BLOCK + 1, BLOCK):
        key = _key(samples[start:start + BLOCK], rate)
        if key is not None and key != previous:
            heard.append(key)
        previous = key
    return "".join(heard)
