"""History requests (补数) end to end: ``serve`` in-process, devices over TCP on loopback.

HJ 212-2017 §6.5: the gateway sends the request after a data upload; the device answers 9011
(``QnRtn``, Table 7), sends the data and ends with 9012 (``ExeRtn``, Table 8), each with the
request's QN. Three devices: the simulator's logger (:func:`shanshui.ingest.simulate.replay`,
which answers 9011 QnRtn=1, the hours it holds, 9012 ExeRtn=1) ends ``done``; a device that
refuses (QnRtn=2, "refused" in Table 7) ends ``refused``; a device that reads the request and
leaves without a word is asked again at once on its next connection, with a new QN, until
the attempts are spent (:data:`shanshui.ingest.recalls.MAX_ATTEMPTS`): ``unanswered``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shanshui.hj212 import Decoder, FrameError, Message, encode
from shanshui.hj212.replies import request_ack
from shanshui.ingest.recalls import MAX_ATTEMPTS
from shanshui.ingest.serve import ServeConfig, serve
from shanshui.ingest.simulate import SimDevice, hourly_frame, replay
from shanshui.store import AIR_PARAMETERS, Device, Region, Site, hash_password, open_store
from shanshui.store.recalls import Recall

MN = "010000A8900016F000169DC0"
PW = "123456"
SITE = "1001A"
START = datetime(2016, 5, 1, 0, 0)  # Beijing time, naive (DataTime)
#: The request: 6 hours, 2016-05-01 00:00–05:00 Beijing = 2016-04-30 16:00–21:00 UTC.
RECALL = Recall(
    MN, "2061", datetime(2016, 4, 30, 16, tzinfo=UTC), datetime(2016, 4, 30, 21, tzinfo=UTC),
    datetime(2026, 3, 1, tzinfo=UTC), "apikey:op", "gap",
)  # fmt: skip


def _prepared(db: Path) -> None:
    with open_store(db) as store:
        store.upsert_regions([Region("110000", "北京市", "municipality", None, "Beijing")])
        store.upsert_parameters(AIR_PARAMETERS)
        store.upsert_sites([Site(SITE, "万寿西宫", "air", "110000", 116.3621, 39.8784)])
        store.upsert_devices(
            [Device(MN, "active", hash_password(PW, n=2**10), "2017", SITE)], actor="t", reason="t"
        )
        store.request_recalls([RECALL])  # type: ignore[attr-defined]


def _with_serve(tmp_path: Path, devices: Callable[[int], Awaitable[object]]) -> Recall:
    """Run ``devices(port)`` against ``serve``; the request as the store holds it after."""
    db = tmp_path / "s.duckdb"
    _prepared(db)

    async def scenario() -> None:
        stop = asyncio.Event()
        ports: dict[str, int] = {}
        config = ServeConfig(
            target=str(db), journal=tmp_path / "journal", host="127.0.0.1", port=0,
            http_port=0, rules_every=0.0, refresh_devices_every=0.5,
        )  # fmt: skip
        task = asyncio.create_task(serve(config, stop=stop, ready=ports.update))
        for _ in range(300):
            if ports or task.done():
                break
            await asyncio.sleep(0.1)
        assert ports, "serve did not start"
        try:
            await devices(ports["port"])
        finally:
            stop.set()
            await task

    asyncio.run(scenario())
    with open_store(db) as store:
        (got,) = store.device_recalls(MN)  # type: ignore[attr-defined]
    return got  # type: ignore[no-any-return]


class Device212:
    """A hand-driven device connection: uploads an hour, reads what the gateway sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = Decoder()
        self.hour = 0

    @classmethod
    async def connect(cls, port: int) -> Device212:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def _read(self, seconds: float) -> list[Message]:
        got: list[Message] = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    data = await self.reader.read(65536)
                    if not data:
                        return got
                    for event in self.decoder.feed(data):
                        assert not isinstance(event, FrameError), event
                        got.append(event.message)
        except TimeoutError:
            return got

    async def upload_until_asked(self, seconds: float = 15.0) -> Message | None:
        """Upload hours until the gateway sends a history request (None: it never did)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            when = START + timedelta(hours=24 + self.hour % 24)
            self.hour += 1
            self.writer.write(hourly_frame(MN, PW, when, {"PM2.5": 30.0}).data)
            await self.writer.drain()
            for message in await self._read(0.3):
                if message.cn == "2061":
                    return message
        return None

    async def send(self, message: Message) -> None:
        self.writer.write(encode(message))
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def test_the_simulated_logger_takes_a_request_to_done(tmp_path: Path) -> None:
    frames = [hourly_frame(MN, PW, START + timedelta(hours=h), {"PM2.5": 10.0 + h})
              for h in range(24)]  # fmt: skip

    async def logger(port: int) -> None:
        stats = await replay([SimDevice(SITE, MN, PW, frames)], "127.0.0.1", port, window=8,
                             ack_timeout=5.0, max_seconds=60, linger=1.5)  # fmt: skip
        assert (stats.requests, stats.recalled) == (1, 6)

    got = _with_serve(tmp_path, logger)
    assert (got.status, got.attempts, got.qn_rtn, got.exe_rtn) == ("done", 1, 1, 1)
    assert got.qn is not None and got.answered is not None and got.executed is not None


def test_a_device_that_refuses_ends_refused(tmp_path: Path) -> None:
    async def refusing(port: int) -> None:
        device = await Device212.connect(port)
        request = await device.upload_until_asked()
        assert request is not None
        await device.send(request_ack(request, 2))  # HJ 212-2017 Table 7: 2 请求被拒绝
        await device.close()
        # refused is final: the next connection is not asked again
        again = await Device212.connect(port)
        assert await again.upload_until_asked(seconds=1.5) is None
        await again.close()

    got = _with_serve(tmp_path, refusing)
    assert (got.status, got.attempts, got.qn_rtn) == ("refused", 1, 2)


def test_a_silent_device_is_asked_again_then_the_request_is_unanswered(tmp_path: Path) -> None:
    qns: list[str | None] = []

    async def silent(port: int) -> None:
        for _ in range(MAX_ATTEMPTS):
            device = await Device212.connect(port)
            request = await device.upload_until_asked()
            assert request is not None, f"not asked again after {len(qns)} attempts"
            qns.append(request.qn)
            await device.close()  # leaves without answering: asked again at once
        last = await Device212.connect(port)
        assert await last.upload_until_asked(seconds=1.5) is None  # attempts spent
        await last.close()

    got = _with_serve(tmp_path, silent)
    assert len(set(qns)) == MAX_ATTEMPTS  # a new QN each attempt
    assert (got.status, got.attempts, got.qn) == ("unanswered", MAX_ATTEMPTS, qns[-1])
    assert got.gave_up is not None and got.answered is None


# -- the faces: API and CLI show status, attempts, codes and meanings -------------------------
def _answered(db: Path) -> None:
    """The request sent once and refused with QnRtn=3 (HJ 212-2017 Table 7: PW wrong)."""
    _prepared(db)
    mn, cn, begin, end = RECALL.key
    key = {"mn": mn, "cn": cn, "begin_time": begin, "end_time": end, "qn": "20260301120000000"}
    at = datetime(2026, 3, 1, 4, tzinfo=UTC)
    with open_store(db) as store:
        store.recall_notes(  # type: ignore[attr-defined]
            [("asked", {**key, "at": at}), ("answered", {**key, "at": at, "code": 3})]
        )


def test_the_api_shows_the_status_codes_and_meanings(tmp_path: Path) -> None:
    from shanshui.api import create_app, hash_key, new_key
    from test_api_keys import InProcess

    db = tmp_path / "s.duckdb"
    _answered(db)
    store = open_store(db)
    try:
        token = new_key()
        store.add_api_key(hash_key(token), "operator", "ops", actor="test")  # type: ignore[attr-defined]
        app = create_app(store)
        try:
            client = InProcess(app)
            got = client.get(f"/api/v1/devices/{MN}/recalls", headers={"X-API-Key": token})
            assert got.status_code == 200, got.text
            (item,) = got.json()["items"]
            assert {k: item[k] for k in ("status", "code", "meaning", "attempts", "qn_rtn")} == {
                "status": "refused", "code": 3, "meaning": "wrong PW", "attempts": 1,
                "qn_rtn": 3,
            }  # fmt: skip
            assert (item["qn"], item["answered"]) == (
                "20260301120000000", "2026-03-01T04:00:00+00:00",
            )  # fmt: skip
            schema = client.get("/openapi.json").json()["components"]["schemas"]
            status_doc = schema["RecallView"]["properties"]["status"]["description"]
            for status in ("waiting", "sent", "accepted", "refused", "done", "no data",
                           "failed", "unanswered"):  # fmt: skip
                assert f"{status}:" in status_doc
        finally:
            app.state.readers.close()
    finally:
        store.close()


def test_the_cli_shows_the_status_and_refuses_a_missing_db(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shanshui.cli import app as cli

    db = tmp_path / "s.duckdb"
    _answered(db)
    runner = CliRunner()
    got = runner.invoke(cli, ["devices", "recalls", MN, "--db", str(db)])
    assert got.exit_code == 0, got.output
    (line,) = got.stdout.strip().splitlines()
    assert line.startswith(
        "2061\t2016-04-30T16:00:00+00:00\t2016-04-30T21:00:00+00:00\trefused\tgap"
    )
    assert "attempts 1" in line and "9011 QnRtn=3 (wrong PW)" in line
    missing = tmp_path / "typo.duckdb"
    for args in (
        ["devices", "recalls", MN],
        ["devices", "events", MN],
        ["devices", "recall", MN, "--begin", "2026-03-01T08:00:00+08:00",
         "--end", "2026-03-01T09:00:00+08:00", "--reason", "gap"],
    ):  # fmt: skip
        refused = runner.invoke(cli, [*args, "--db", str(missing)])
        assert refused.exit_code == 1, refused.output
        assert not missing.exists()  # nothing created
