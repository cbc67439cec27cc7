"""The HJ 212 gateway's readings meet the plausibility bounds the files and the HTTP ingest
meet (issue 4): a reading outside its parameter's bounds is neither stored nor dropped but
dead-lettered with its frame and reason; the frame's other readings are stored.

Sources of the expected values (never the code under test):

* frames: real frames of ``shared/reference/hj212/vectors.jsonl`` — v23 (HJ 212-2017 air
  station, CN 2061), v24 (HJ 212-2017 air station real-time, CN 2011, the six pollutants),
  v79 (HJ/T 212-2005 air station, CN 2061, no QN, no Flag) — with one or two values made
  absurd and re-framed with the project's codec (:func:`shanshui.hj212.frame_segment`,
  CRC of HJ 212-2017 §6.3.2);
* bounds: HJ 633-2012 Table 1 (PM2.5's highest concentration 500 µg/m³, at IAQI 500) times
  the margin 20 written in ``shanshui.formats.validity`` → 10,000 µg/m³; a concentration
  cannot be below 0 (Table 1 starts at 0); air temperature beyond the records on Earth
  (−89.2 °C … 56.7 °C) is a fault;
* no false refusal: the real PRSA hours of ``shared/data/beijing_multisite`` as
  ``shanshui simulate`` sends them (its frame builder).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shanshui.cli import app
from shanshui.hj212 import decode_frame, frame_segment
from shanshui.hj212 import scan as hj212_scan
from shanshui.ingest.journal import GroupCommitter, Journal
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.session import DeviceEntry, Limits, Session
from shanshui.ingest.writer import JournalWriter
from shanshui.store import AIR_PARAMETERS, Site, open_store

SITE = "1001A"
REFUSED = "shanshui_gateway_observations_refused_total"
DEAD = "shanshui_gateway_dead_letters_total"


class Directory:
    """Every device is active, attached to :data:`SITE`, and its password is right."""

    def __init__(self, site: str = SITE) -> None:
        self.site = site

    def lookup(self, mn: str) -> DeviceEntry | None:
        return DeviceEntry(mn, "active", "hash", self.site)

    def password_known(self, device: DeviceEntry, password: str) -> bool | None:
        return True

    async def verify(self, device: DeviceEntry, password: str) -> bool:
        return True

    def note_unknown(self, mn: str, peer: str, protocol: str | None) -> None:
        pass

    def note_refused(self, mn: str, peer: str) -> None:
        pass

    def note_seen(self, mn: str, peer: str) -> None:
        pass


@pytest.fixture(scope="module")
def vectors(shared: Path) -> dict[str, str]:
    path = shared / "reference" / "hj212" / "vectors.jsonl"
    return {v["id"]: v["frame"] for v in map(json.loads, path.read_text().splitlines())}


@pytest.fixture(params=["c", "python"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both readers of the writer: the C reader of plain segments and the full decoder."""
    if request.param == "c" and hj212_scan.CP_READINGS_C is None:
        pytest.skip("the C reader (_scan.c) was not built here: only the Python path runs")
    if request.param == "python":
        monkeypatch.setattr(hj212_scan, "CP_READINGS_C", None)
    return str(request.param)


class Rig:
    """A DuckDB store with :data:`SITE`, a journal, its writer and a device session."""

    def __init__(self, tmp_path: Path, site: str = SITE) -> None:
        self.store = open_store(str(tmp_path / "s.duckdb"))
        self.store.upsert_sites([Site(site, site, "air")])
        self.store.upsert_parameters(AIR_PARAMETERS)
        self.journal_dir = tmp_path / "j"
        self.metrics = GatewayMetrics()
        self.site = site

    def send(self, *frames: bytes) -> list[bytes]:
        """Frames through a device session (acknowledged once durable), then the writer."""

        async def main() -> list[bytes]:
            journal = Journal(self.journal_dir)
            committer = GroupCommitter(journal)
            committer.start()
            try:
                writer = JournalWriter(journal, committer, self.store, self.metrics)
                session = Session(
                    "127.0.0.1:9", Directory(self.site), writer, self.metrics, Limits()
                )
                replies = await session.handle(b"".join(frames))
                while writer.position < committer.durable:
                    writer._applied(*await asyncio.to_thread(writer.step))
                return replies
            finally:
                await committer.close()
                journal.close()

        return asyncio.run(main())

    def dead(self) -> list[dict[str, Any]]:
        path = self.journal_dir / "deadletter.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def stored(self) -> dict[tuple[str, str], float]:
        got = self.store.observations(self.site)
        return {
            (p, k): v
            for p, k, v in zip(got["parameter"], got["statistic"], got["value"], strict=True)
        }


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.store.close()


def reframe(frame: str, old: str, new: str) -> bytes:
    """A reference frame with ``old`` replaced by ``new`` in its data segment, re-framed
    with the codec (length and CRC right)."""
    segment = frame[6:-4]
    assert segment.count(old) == 1, old
    return frame_segment(segment.replace(old, new).encode())


def segment_of(frame: bytes) -> str:
    return frame[6:-6].decode()


def test_2017_air_hour_with_an_absurd_pm25_and_a_negative_pm10(
    rig: Rig, reader: str, vectors: dict[str, str]
) -> None:
    # v23 (real air station, CN 2061) with PM2.5 = 99999 (a fault code) and PM10 = -50 sent
    # as normal data (flag N) beside its five real readings
    bad = reframe(
        vectors["v23"],
        "a34006-Avg=2.69700",
        "a34004-Avg=99999,a34004-Flag=N;a34002-Avg=-50,a34002-Flag=N;a34006-Avg=2.69700",
    )
    assert len(rig.send(bad)) == 1  # acknowledged (9014): the frame is durable
    # the frame's real readings are stored; the absurd ones are not
    assert rig.stored() == {
        ("a34006", "avg"): 2.697,
        ("a34007", "avg"): 7.966,
        ("a34048", "avg"): 3.306,
        ("a34047", "avg"): 7.357,
        ("a34049", "avg"): 10.663,
    }
    (line,) = rig.dead()
    assert line["frame"]["segment"] == segment_of(bad)  # the frame as received
    assert line["frame"]["site"] == SITE
    refused = {r["parameter"]: r for r in line["refused"]}
    assert set(refused) == {"PM2.5", "PM10"}
    pm25, pm10 = refused["PM2.5"], refused["PM10"]
    assert (pm25["statistic"], pm25["value"], pm25["flag"]) == ("avg", "99999", "N")
    # which code, which value, the bound (20 × 500 µg/m³) and its source
    assert "a34004-Avg" in pm25["reason"] and "99999" in pm25["reason"]
    assert "10000 µg/m³" in pm25["reason"] and "HJ 633-2012 Table 1" in pm25["reason"]
    assert "a34002-Avg" in pm10["reason"] and "-50" in pm10["reason"]
    assert "negative" in pm10["reason"] and "HJ 633-2012 Table 1" in pm10["reason"]
    assert "5 readings of the frame kept" in line["reason"]
    assert rig.metrics.value(REFUSED, reason="implausible") == 2
    assert rig.metrics.value(DEAD, kind="implausible") == 1
    assert rig.metrics.value("shanshui_gateway_observations_stored_total") == 5
    assert rig.metrics.value("shanshui_gateway_observations_journaled_total") == 7

    # a resend (same QN, same bytes: the device got no 9014) changes nothing in the store;
    # the second acknowledged copy is dead-lettered too (nothing acknowledged is dropped)
    before = rig.stored()
    assert len(rig.send(bad)) == 1
    assert rig.stored() == before
    assert rig.metrics.value("shanshui_gateway_observations_stored_total") == 5
    second = rig.dead()[1]
    assert second["refused"] == line["refused"]


def test_the_unchanged_frames_are_stored_whole(
    rig: Rig, reader: str, vectors: dict[str, str]
) -> None:
    # no false refusal: the real frames as sent (v24's six pollutants in real time, v23)
    rig.send(vectors["v24"].encode() + b"\r\n", vectors["v23"].encode() + b"\r\n")
    stored = rig.stored()
    # v24: PM10 5, PM2.5 4, SO2 22.25, NO2 22.7, CO 0.36 (mg/m³), O3 8.82, and its two
    # vendor codes (longitude 119.90287, latitude 32.48505)
    assert stored[("PM2.5", "rtd")] == 4.0 and stored[("CO", "rtd")] == 0.36
    assert stored[("l01001", "rtd")] == 119.90287
    assert len(stored) == 8 + 5
    assert rig.dead() == []
    assert rig.metrics.value(REFUSED, reason="implausible") == 0


def test_2017_real_time_pm25_made_absurd_is_the_only_one_left_out(
    rig: Rig, reader: str, vectors: dict[str, str]
) -> None:
    bad = reframe(vectors["v24"], "a34004-Rtd=4,", "a34004-Rtd=99999,")
    rig.send(bad)
    stored = rig.stored()
    assert ("PM2.5", "rtd") not in stored and len(stored) == 7
    assert stored[("PM10", "rtd")] == 5.0
    (line,) = rig.dead()
    assert [r["value"] for r in line["refused"]] == ["99999"]
    assert rig.metrics.value(REFUSED, reason="implausible") == 1


def test_values_that_are_no_plain_decimal_are_dead_lettered_not_dropped(
    rig: Rig, reader: str, vectors: dict[str, str]
) -> None:
    # review 14, finding 2: HJ 212-2017 §6.3.3.2 values are plain decimals; " 35", "1e5" and
    # "+35" were counted as journaled, then neither stored nor dead-lettered (DESIGN §5: an
    # acknowledged reading is never lost). An empty value says nothing and is not refused.
    frame = vectors["v24"][:6] + vectors["v24"][6:-4].replace("a34002-Rtd=5,", "a34002-Rtd=1e5,")
    bad = reframe(frame + vectors["v24"][-4:], "a34004-Rtd=4,", "a34004-Rtd= 35,")
    rig.send(bad)
    stored = rig.stored()
    assert ("PM2.5", "rtd") not in stored and ("PM10", "rtd") not in stored
    assert stored[("SO2", "rtd")] == 22.25  # the frames' other readings (v24)
    (line,) = rig.dead()
    assert line["frame"]["segment"] == segment_of(bad)
    values = sorted(r["value"] for r in line["refused"])
    assert values == [" 35", "1e5"]
    reasons = [r["reason"] for line in rig.dead() for r in line["refused"]]
    assert all("not a plain decimal" in r and "§6.3.3.2" in r for r in reasons), reasons
    assert rig.metrics.value(REFUSED, reason="implausible") == 2


def test_2005_air_hour_with_an_absurd_pm25_and_a_300_digit_temperature(
    rig: Rig, reader: str, vectors: dict[str, str]
) -> None:
    # v79 (HJ/T 212-2005: no QN, no Flag) with a PM2.5 of 99999 sent as normal data (2005
    # air flag 3) and a 300-digit temperature (flag 1, meteorological data)
    hot = "9" * 300
    bad = reframe(
        vectors["v79"],
        "A18-Avg=40.28,A18-flag=N",
        f"A18-Avg=40.28,A18-flag=N;a34004-Avg=99999,a34004-Flag=3;a01001-Avg={hot},a01001-Flag=1",
    )
    assert decode_frame(bad).version == "2005"
    rig.send(bad)
    assert rig.stored() == {("A18", "avg"): 40.28}
    (line,) = rig.dead()
    assert line["frame"]["segment"] == segment_of(bad)
    refused = {r["parameter"]: r for r in line["refused"]}
    assert set(refused) == {"PM2.5", "TEMP"}
    assert refused["PM2.5"]["flag"] == "N"  # 2005's 3 (normal) is 2017's N
    assert refused["TEMP"]["value"] == hot  # as sent
    # air temperature: 60 °C, beyond the records on Earth
    assert "a01001-Avg (TEMP)" in refused["TEMP"]["reason"]
    assert "60 °C" in refused["TEMP"]["reason"]
    assert rig.metrics.value(REFUSED, reason="implausible") == 2


def test_2005_source_codes_are_stored_under_their_2017_codes_and_bounded(
    rig: Rig, reader: str, vectors: dict[str, str]
) -> None:
    # review 14, finding 1: a 2005 logger's source codes were stored as sent ("011", "02"),
    # so neither the bounds nor a permit's rules (written for the 2017 codes) saw them.
    # Code pairs and units: reference README "Codes" (HJ 212-2017 ← HJ/T 212-2005):
    # w01018 COD (mg/L) ← 011, w21003 NH3-N ← 060, w00000 flow ← B01 (its 2005 Cou in t: kept
    # as B01); a21026 SO2 (mg/m³) ← 02, a34013 particulate ← 01, a19001 O2 (%) ← S01,
    # a01011 velocity ← S02 (2005 "m³/h": kept as S02).
    rig.send(vectors["v33"].encode() + b"\r\n")  # v33: 2005 ST=32 real-time, as sent
    water = rig.stored()
    assert water[("w01018", "rtd")] == 231.0 and water[("w21003", "rtd")] == 1.803
    assert water[("B01", "rtd")] == 36.91
    assert ("011", "rtd") not in water
    flue = frame_segment(
        b"ST=31;CN=2061;PW=123456;MN=88888880000002;CP=&&DataTime=20200921170000;"
        b"02-Avg=35.2,02-Flag=N;01-Avg=-5,01-Flag=N;S01-Avg=10.5;S02-Avg=12.0&&"
    )
    rig.send(flue)
    stored = rig.stored()
    assert stored[("a21026", "avg")] == 35.2 and stored[("a19001", "avg")] == 10.5
    assert stored[("S02", "avg")] == 12.0
    assert ("a34013", "avg") not in stored  # a negative particulate concentration
    (line,) = rig.dead()
    assert [(r["parameter"], r["value"]) for r in line["refused"]] == [("a34013", "-5")]


def test_a_2005_code_sent_beside_its_2017_twin_keeps_its_own_code(rig: Rig, reader: str) -> None:
    # review 15, finding 1: 02 and a21026 in one frame both became a21026 of the same hour,
    # and one of the two acknowledged readings vanished; each is kept now
    both = frame_segment(
        b"ST=31;CN=2061;PW=123456;MN=88888880000003;CP=&&DataTime=20200921170000;"
        b"02-Avg=35.2,02-Flag=N;a21026-Avg=40.1,a21026-Flag=N&&"
    )
    rig.send(both)
    stored = rig.stored()
    assert stored[("02", "avg")] == 35.2 and stored[("a21026", "avg")] == 40.1
    assert rig.dead() == []


def test_a_negative_calibration_reading_is_refused_like_a_file_s(
    rig: Rig, reader: str, vectors: dict[str, str]
) -> None:
    # CHOICE written in shanshui.ingest.readings: the bounds hold whatever the flag, as in
    # the file readers ("a calibration reading below zero too", formats.validity); the
    # value is kept in the dead-letter file with its flag C
    bad = reframe(vectors["v24"], "a21026-Rtd=22.25,a21026-Flag=N", "a21026-Rtd=-3,a21026-Flag=C")
    rig.send(bad)
    assert ("SO2", "rtd") not in rig.stored()
    (line,) = rig.dead()
    assert [(r["parameter"], r["flag"]) for r in line["refused"]] == [("SO2", "C")]


def test_flue_gas_cou_is_an_amount_not_a_concentration(rig: Rig, reader: str) -> None:
    # HJ 212-2017 Appendix B: a pollutant's Cou is the mass over the interval [kg], not a
    # concentration: no concentration ceiling applies to it (a large plant emits tonnes);
    # a negative amount cannot be, and its concentration's bounds still hold
    segment = (
        "QN=20160801090000001;ST=31;CN=2061;PW=123456;MN=FLUE01;Flag=5;"
        "CP=&&DataTime=20160801080000;a21026-Cou=20000000,a21026-Avg=35.1,a21026-Flag=N;"
        "a21002-Cou=-4.2,a21002-Avg=50,a21002-Flag=N&&"
    )
    rig.send(frame_segment(segment.encode()))
    assert rig.stored() == {
        ("a21026", "cou"): 2e7,
        ("a21026", "avg"): 35.1,
        ("a21002", "avg"): 50.0,
    }
    (line,) = rig.dead()
    assert [(r["parameter"], r["statistic"]) for r in line["refused"]] == [("a21002", "cou")]


def test_real_prsa_hours_as_simulate_sends_them_are_all_stored(
    tmp_path: Path, shared: Path
) -> None:
    # one real PRSA station for two weeks of January 2014 (pollutants and meteorology:
    # TEMP, PRES, DEWP, RAIN, WSPM, WD), framed by shanshui simulate's frame builder
    from datetime import datetime

    from shanshui.hj212 import CST
    from shanshui.ingest.simulate import devices_from_table, load_table

    path = shared / "data" / "beijing_multisite" / "PRSA_Data_Dongsi_20130301-20170228.csv"
    start, end = datetime(2014, 1, 1, tzinfo=CST), datetime(2014, 1, 15, tzinfo=CST)
    table = load_table([path], start=start, end=end)
    (device,) = devices_from_table(table)
    rig = Rig(tmp_path, site=device.site)
    try:
        replies = rig.send(*(f.data for f in device.frames))
        assert len(replies) == len(device.frames) == 14 * 24
        assert rig.dead() == []
        assert rig.metrics.value(REFUSED, reason="implausible") == 0
        got = rig.store.observations(device.site)
        assert len(got) == len(table.dropna(subset=["value"]))
    finally:
        rig.store.close()


# -- shanshui aqi hourly FILE ----------------------------------------------------------------


def test_aqi_hourly_refuses_a_cell_beyond_its_bound_naming_row_and_column(
    tmp_path: Path,
) -> None:
    # PM2.5 = 99999 would be AQI 500; its ceiling is 20 × 500 µg/m³ (HJ 633-2012 Table 1)
    csv = tmp_path / "hours.csv"
    csv.write_text("SO2,NO2,CO,O3,PM2.5,PM10\n5,20,0.5,40,35,50\n5,20,0.5,40,99999,50\n")
    result = CliRunner().invoke(app, ["aqi", "hourly", str(csv)])
    assert result.exit_code == 2
    assert "column 'PM2.5', data row 2" in result.output
    assert "99999" in result.output and "10000 µg/m³" in result.output
    # at the ceiling itself the cell is a reading (IAQI 500 and beyond: AQI 500)
    csv.write_text("SO2,NO2,CO,O3,PM2.5,PM10\n5,20,0.5,40,10000,50\n")
    result = CliRunner().invoke(app, ["aqi", "hourly", str(csv)])
    assert result.exit_code == 0, result.output
    # CO is in mg/m³: its ceiling is 20 × 150 mg/m³ (Table 1 CO 1-hour at IAQI 500)
    csv.write_text("SO2,NO2,CO,O3,PM2.5,PM10\n5,20,3001,40,35,50\n")
    result = CliRunner().invoke(app, ["aqi", "hourly", str(csv)])
    assert result.exit_code == 2 and "column 'CO', data row 1" in result.output
    assert "3000 mg/m³" in result.output
