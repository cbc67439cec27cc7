"""Fuzz the HJ 212 decoder: mutated real frames and random bytes.

Run: ``.venv/bin/python bench/fuzz_hj212.py [N] [SEED]`` (default 1,000,000 inputs; not part
of ``make test``). Invariants checked for every input:

1. ``Decoder.feed``/``close`` return only :class:`Frame` and :class:`FrameError` events and
   raise nothing; ``decode_frame`` and ``parse_segment`` raise nothing but ``FrameError``.
2. every ``Frame`` re-encodes to its own bytes (``encode(frame.message)`` is
   ``frame.raw`` + CR LF).
3. for one input in 16, feeding it in random chunks gives the same events as feeding it
   whole.

The last line says how many inputs were tried and how many escaped (raised anything else
or broke an invariant); it is ``escaped 0`` when the codec holds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import sys
import time
import traceback
from pathlib import Path

from shanshui.hj212 import (
    Decoder,
    Frame,
    FrameError,
    Message,
    crc16,
    decode_frame,
    encode,
    parse_segment,
)

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hj212"
ALPHABET = b"##0123456789;,=&&-CPQNSTMWFlagRtdAvg.\r\n \x00\xff\xcf"


def seeds() -> list[bytes]:
    """Real frames and streams from the reference files (or a built frame without them)."""
    out: list[bytes] = []
    if (REF / "vectors.jsonl").is_file():
        for line in (REF / "vectors.jsonl").read_text(encoding="utf-8").splitlines():
            v = json.loads(line)
            raw = base64.b64decode(v["frame_b64"]) if "frame_b64" in v else v["frame"].encode()
            out.append(raw + b"\r\n")
        for line in (REF / "streams.jsonl").read_text(encoding="utf-8").splitlines():
            out.append(base64.b64decode(json.loads(line)["stream_b64"]))
    built = Message.build(
        qn="20240601090000123",
        st="22",
        cn="2061",
        pw="123456",
        mn="010000A8900016F000169DC0",
        flag=5,
        data_time="20240601080000",
        items={"a34004": {"Avg": "35.2", "Flag": "N"}, "i11001": {"Info": "//清洗;管路//"}},
    )
    out.append(encode(built))
    out.append(encode(built.replace(encoding="gbk")))
    return out


def reframe(rng: random.Random, segment: bytes) -> bytes:
    """A frame with a right (or nearly right) length field and CRC around ``segment``."""
    length = len(segment) + rng.choice((0, 0, 0, 1, -1))
    crc = crc16(segment)
    fmt = rng.choice((b"%04X", b"%04x"))
    return b"##%04d" % max(0, min(length, 9999)) + segment + fmt % crc + b"\r\n"


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(11)
        n = len(b)
        if op == 0 and n:  # flip a bit
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # delete a run
            i = rng.randrange(n)
            del b[i : i + rng.randint(1, 8)]
        elif op == 2:  # insert random bytes
            i = rng.randint(0, n)
            b[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 3:  # insert protocol characters
            i = rng.randint(0, n)
            b[i:i] = bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
        elif op == 4 and n:  # duplicate a slice
            i = rng.randrange(n)
            j = min(n, i + rng.randint(1, 64))
            b[i:i] = b[i:j]
        elif op == 5:  # splice with another input
            other = rng.choice(corpus)
            i = rng.randint(0, n)
            j = rng.randint(0, len(other))
            b = b[:i] + other[j:]
        elif op == 6 and n:  # truncate
            del b[rng.randrange(n) :]
        elif op == 7:  # a fake header
            i = rng.randint(0, n)
            b[i:i] = b"##%04d" % rng.randint(0, 9999)
        elif op == 8 and n > 12:  # re-frame the (mutated) segment: gets past the CRC
            seg = bytes(b[6:-6])
            b = bytearray(reframe(rng, seg))
        elif op == 9:  # NULs / CR LF noise
            i = rng.randint(0, n)
            b[i:i] = rng.choice((b"\x00", b"\r\n", b"\n", b"\r", b"\x00\x00"))
        elif n:
            b[rng.randrange(n)] = rng.choice(b";,=&-#")
    return bytes(b)


def random_input(rng: random.Random) -> bytes:
    kind = rng.randrange(3)
    size = rng.randint(0, 400)
    if kind == 0:
        return rng.randbytes(size)
    if kind == 1:
        return bytes(rng.choice(ALPHABET) for _ in range(size))
    seg = bytes(rng.choice(ALPHABET[2:-7]) for _ in range(size))
    return reframe(rng, b"ST=22;CN=2011;CP=&&" + seg + b"&&")


def check(rng: random.Random, data: bytes) -> str | None:
    """Run the invariants on one input; return a description of a failure, or None."""
    try:
        max_segment = rng.choice((9999, 9999, 1024, 64))
        dec = Decoder(max_segment=max_segment)
        events = dec.feed(data) + dec.close()
        for event in events:
            if isinstance(event, Frame):
                if encode(event.message) != event.raw + b"\r\n":
                    return f"re-encoding differs: {event.raw[:80]!r}"
            elif not isinstance(event, FrameError):
                return f"event of type {type(event).__name__}"
        if rng.randrange(16) == 0:
            again = Decoder(max_segment=max_segment)
            chunked: list[Frame | FrameError] = []
            i = 0
            while i < len(data):
                step = rng.randint(1, 64)
                chunked += again.feed(data[i : i + step])
                i += step
            chunked += again.close()
            if chunked != events:
                return f"chunking changes the events: {data[:80]!r}"
        with contextlib.suppress(FrameError):
            decode_frame(data)
        with contextlib.suppress(FrameError):
            parse_segment(data[6:-6] if data.startswith(b"##") else data)
    except Exception:  # the point of the fuzzer: anything else escaped
        return traceback.format_exc(limit=3)
    return None


def main() -> int:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 212
    rng = random.Random(seed)
    corpus = seeds()
    escaped = 0
    t0 = time.perf_counter()
    for n in range(1, total + 1):
        data = random_input(rng) if n % 4 == 0 else mutate(rng, rng.choice(corpus), corpus)
        failure = check(rng, data)
        if failure is not None:
            escaped += 1
            if escaped <= 5:
                print(f"input {n}: {failure}\n  {data[:200]!r}", flush=True)
        if n % 100_000 == 0:
            print(
                f"  {n:,} inputs, {escaped} escaped, {time.perf_counter() - t0:.0f} s", flush=True
            )
    print(f"tried {total:,} inputs (seed {seed}), escaped {escaped}")
    return 1 if escaped else 0


if __name__ == "__main__":
    raise SystemExit(main())
