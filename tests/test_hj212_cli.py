"""``shanshui hj212 decode|encode|crc`` through Typer's CliRunner.

Reference frames from ../shared/reference/hj212/vectors.jsonl; the JSON contract is the one
written in issue 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shanshui.cli import app

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hj212"
VECTORS = {
    v["id"]: v
    for v in map(json.loads, (REF / "vectors.jsonl").read_text(encoding="utf-8").splitlines())
}
OK_KEYS = [
    "ok",
    "version",
    "qn",
    "st",
    "cn",
    "pw",
    "mn",
    "flag",
    "ack_required",
    "pnum",
    "pno",
    "data_time",
    "items",
    "fields",
]


def frame(vid: str) -> bytes:
    return str(VECTORS[vid]["frame"]).encode("utf-8")


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_decode_file_contract(tmp_path: Path) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(frame("v12") + b"\r\n" + b"GET / HTTP/1.1\r\n" + frame("v26") + b"\r\n")
    result = CliRunner().invoke(app, ["hj212", "decode", str(path)])
    assert result.exit_code == 0, result.output
    first, garbage, bad = lines(result.stdout)
    assert list(first) == OK_KEYS
    v12 = VECTORS["v12"]
    assert first["version"] == "2017" and first["st"] == "32" and first["cn"] == "2061"
    assert first["qn"] == v12["qn"] and first["flag"] == 5 and first["ack_required"] is True
    assert first["pnum"] is None and first["pno"] is None
    assert first["data_time"] == "2016-08-01T08:00:00"
    assert first["items"] == v12["items"]
    assert first["items"]["w00000"]["Cou"] == 63.0  # JSON number
    assert first["items"]["w00000"]["Flag"] == "N"
    assert garbage == {
        "ok": False,
        "error": "garbage",
        "detail": "bytes outside a frame",
        "raw": "GET / HTTP/1.1\r\n",
    }
    assert list(bad) == ["ok", "error", "detail", "raw"]
    assert bad["error"] == "crc_mismatch" and bad["raw"] == VECTORS["v26"]["frame"]


def test_decode_stdin_and_options() -> None:
    runner = CliRunner()
    data = frame("v35") + b"\r\n" + frame("v01") + b"\r\n"
    default = lines(runner.invoke(app, ["hj212", "decode", "-"], input=data).stdout)
    assert [d.get("error") for d in default] == ["crc_mismatch", None]
    strict = lines(
        runner.invoke(app, ["hj212", "decode", "--max-segment", "1024"], input=data).stdout
    )
    assert [d.get("error") for d in strict] == ["too_long", None]
    mn = VECTORS["v47"]["mn"]
    dialect = lines(
        runner.invoke(
            app, ["hj212", "decode", "--modbus-mn", mn], input=frame("v47") + b"\r\n"
        ).stdout
    )
    assert dialect[0]["ok"] is True and dialect[0]["mn"] == mn


def test_decode_millisecond_time_and_2005() -> None:
    out = lines(CliRunner().invoke(app, ["hj212", "decode"], input=frame("v31")).stdout)
    assert out[0]["data_time"] == "2016-08-24T00:38:17.000"
    assert out[0]["version"] == "2005" and out[0]["flag"] is None and out[0]["qn"] is None


def test_decode_missing_file() -> None:
    result = CliRunner().invoke(app, ["hj212", "decode", "/nonexistent/x.bin"])
    assert result.exit_code != 0


def test_encode_round_trip() -> None:
    runner = CliRunner()
    decoded = lines(runner.invoke(app, ["hj212", "decode"], input=frame("v12")).stdout)[0]
    result = runner.invoke(app, ["hj212", "encode"], input=json.dumps(decoded) + "\n")
    assert result.exit_code == 0, result.output
    again = lines(runner.invoke(app, ["hj212", "decode"], input=result.stdout_bytes).stdout)[0]
    assert again == decoded


def test_encode_from_strings_is_byte_exact() -> None:
    # v01 (HJ 212-2017 Appendix A) rebuilt from its fields gives the standard's bytes.
    obj = {
        "qn": "20160801085857223",
        "st": "32",
        "cn": "1062",
        "pw": "100000",
        "mn": "010000A8900016F000169DC0",
        "flag": 5,
        "fields": {"RtdInterval": "30"},
    }
    result = CliRunner().invoke(app, ["hj212", "encode"], input=json.dumps([obj]))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == frame("v01") + b"\r\n"


def test_encode_rejects_bad_input() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["hj212", "encode"], input="{not json\n").exit_code != 0
    no_cn = runner.invoke(app, ["hj212", "encode"], input='{"st": "22"}\n')
    assert no_cn.exit_code == 1
    separator = runner.invoke(
        app, ["hj212", "encode"], input='{"st": "22", "cn": "2011", "fields": {"A": "x;y"}}\n'
    )
    assert separator.exit_code == 1


def test_crc_command() -> None:
    runner = CliRunner()
    seg = str(VECTORS["v01"]["frame"])[6:-4]
    result = runner.invoke(app, ["hj212", "crc", seg])
    assert result.exit_code == 0 and result.stdout.strip() == "1C80"  # Appendix A
    ok = runner.invoke(app, ["hj212", "crc", str(VECTORS["v25"]["frame"])])
    assert ok.exit_code == 0 and "ok" in ok.stdout
    bad = runner.invoke(app, ["hj212", "crc", str(VECTORS["v26"]["frame"])])
    assert bad.exit_code == 1 and "mismatch" in bad.stdout


def test_shipped_synthetic_sample_decodes() -> None:
    # src/shanshui/data/samples/README.md: 12 frames, one garbage line, one damaged frame.
    import shanshui

    sample = Path(shanshui.__file__).parent / "data" / "samples" / "hj212-demo-synthetic.hj212"
    out = lines(CliRunner().invoke(app, ["hj212", "decode", str(sample)]).stdout)
    assert sum(1 for d in out if d["ok"]) == 12
    assert [d["error"] for d in out if not d["ok"]] == ["garbage", "crc_mismatch"]
    assert {d["mn"] for d in out if d["ok"]} >= {"DEMO0000000000000000AQ01", "DEMO00000WW01"}
