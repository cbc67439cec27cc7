"""``shanshui hj212 decode|encode|crc`` — the HJ 212 codec on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from shanshui.hj212 import (
    MAX_SEGMENT,
    Decoder,
    EncodeError,
    crc16,
    encode,
    event_json,
    message_from_json,
)

app = typer.Typer(no_args_is_help=True)

_CHUNK = 1 << 16


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None


@app.command()
def decode(
    path: Annotated[str, typer.Argument(help="File of raw bytes, or - for standard input.")] = "-",
    max_segment: Annotated[
        int, typer.Option(help="Largest accepted data segment \\[bytes]; 1024 is the standard's.")
    ] = MAX_SEGMENT,
    modbus_mn: Annotated[
        list[str] | None,
        typer.Option(help="MN of a device that sends the CRC-16/MODBUS dialect (repeatable)."),
    ] = None,
) -> None:
    """Decode a byte stream: one JSON object per frame or error, one per line.

    Frames: {"ok": true, "version", "qn", "st", "cn", "pw", "mn", "flag", "ack_required",
    "pnum", "pno", "data_time", "items", "fields"}; errors: {"ok": false, "error",
    "detail", "raw"}.
    """
    if not 1 <= max_segment <= MAX_SEGMENT:
        raise typer.BadParameter(f"--max-segment must be 1..{MAX_SEGMENT}")
    decoder = Decoder(max_segment=max_segment, modbus_crc_devices=frozenset(modbus_mn or ()))
    stream = _open(path)
    out = sys.stdout
    try:
        while chunk := stream.read(_CHUNK):
            for event in decoder.feed(chunk):
                out.write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    for event in decoder.close():
        out.write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
    out.flush()


@app.command("encode")
def encode_frames(
    path: Annotated[
        str, typer.Argument(help="JSON: one object per line, or one array; - for standard input.")
    ] = "-",
    lower_crc: Annotated[bool, typer.Option(help="Print the CRC in lower case.")] = False,
) -> None:
    """Build frames from JSON objects in the decode output's form (st and cn required).

    Writes the frames, each ending in CR LF, to standard output.
    """
    stream = _open(path)
    try:
        text = stream.read().decode("utf-8")
    except UnicodeDecodeError:
        raise typer.BadParameter("the JSON input is not UTF-8") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    try:
        stripped = text.strip()
        if stripped.startswith("["):
            objects = json.loads(stripped)
        else:
            objects = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"invalid JSON: {exc}") from None
    out = sys.stdout.buffer
    for number, obj in enumerate(objects, start=1):
        try:
            frame = encode(message_from_json(obj), lower_crc=lower_crc)
        except EncodeError as exc:
            typer.echo(f"message {number}: {exc}", err=True)
            raise typer.Exit(1) from None
        out.write(frame)
    out.flush()


@app.command()
def crc(
    text: Annotated[
        str, typer.Argument(help="A data segment, or a whole frame (##dddd…CRC) to check.")
    ],
) -> None:
    """Print the HJ 212 CRC (HJ 212-2017 Appendix A) of TEXT's UTF-8 bytes.

    Given a whole frame, checks its CRC instead (exit status 1 when it does not match).
    """
    data = text.rstrip("\r\n").encode("utf-8")
    if data.startswith(b"##") and len(data) >= 10 and data[2:6].isdigit():
        seg, given = data[6:-4], data[-4:].decode("latin-1")
        value = f"{crc16(seg):04X}"
        matches = given.upper() == value
        typer.echo(f"{value} (frame says {given}: {'ok' if matches else 'mismatch'})")
        if not matches:
            raise typer.Exit(1)
        return
    typer.echo(f"{crc16(data):04X}")
