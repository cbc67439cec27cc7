"""HJ 212 code tables as data: system codes (ST), command codes (CN), pollutant codes of
both editions with the mapping between them, data flags, answer codes.

Sources: HJ 212-2017 Tables 5–8 and Appendix B (codes, units), HJ/T 212-2005 Appendix A
(2005 codes and flags), as summarised in ``shared/reference/hj212/README.md``. Units are
those the 2017 table gives, except where practice differs (noted per row).
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Code(NamedTuple):
    """One row of a code table."""

    code: str
    zh: str
    en: str
    unit: str = ""
    #: Unit of the cumulative (``-Cou``) value, where one is defined.
    cou_unit: str = ""
    note: str = ""


def _table(*rows: Code) -> dict[str, Code]:
    return {row.code: row for row in rows}


#: System codes ST (HJ 212-2017 Table 5; HJ/T 212-2005 has 21–23, 31–38, 41, 91).
ST_CODES: Final[dict[str, Code]] = _table(
    Code("21", "地表水质量监测", "surface water quality"),
    Code("22", "空气质量监测", "ambient air quality"),
    Code("23", "声环境质量监测", "acoustic environment (noise)"),
    Code("24", "地下水质量监测", "groundwater quality"),
    Code("25", "土壤质量监测", "soil quality"),
    Code("26", "海水质量监测", "seawater quality"),
    Code("27", "挥发性有机物监测", "volatile organic compounds"),
    Code("31", "大气环境污染源", "atmospheric pollution source (flue gas)"),
    Code("32", "地表水体环境污染源", "surface-water pollution source (waste water)"),
    Code("33", "地下水体环境污染源", "groundwater pollution source"),
    Code("34", "海洋环境污染源", "marine pollution source"),
    Code("35", "土壤环境污染源", "soil pollution source"),
    Code("36", "声环境污染源", "noise source"),
    Code("37", "振动环境污染源", "vibration source"),
    Code("38", "放射性环境污染源", "radioactive source"),
    Code("39", "工地扬尘污染源", "construction dust"),
    Code("41", "电磁环境污染源", "electromagnetic source"),
    Code("51", "烟气排放过程监控", "flue-gas process monitoring"),
    Code("52", "污水排放过程监控", "waste-water process monitoring"),
    Code("91", "系统交互", "system interaction (answers)"),
)
ST_CODES_2005: Final[frozenset[str]] = frozenset(
    ("21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "38", "41", "91")
)

#: Command codes CN (HJ 212-2017 Table C.1–C.50; 2005-only ones marked).
CN_CODES: Final[dict[str, Code]] = _table(
    Code("1000", "设置超时时间及重发次数", "set timeout and retries", note="request"),
    Code("1001", "提取报警时间", "get alarm time", note="request; 2005 only"),
    Code("1011", "提取现场机时间", "get device time", note="request"),
    Code("1012", "设置现场机时间", "set device time", note="request"),
    Code("1013", "现场机时间校准请求", "device clock-calibration request", note="notice"),
    Code("1021", "提取污染物报警门限值", "get alarm limits", note="request; 2005 only"),
    Code("1022", "设置污染物报警门限值", "set alarm limits", note="request; 2005 only"),
    Code("1031", "提取上位机地址", "get platform address", note="request; 2005 only"),
    Code("1032", "设置上位机地址", "set platform address", note="request; 2005 only"),
    Code("1041", "提取数据上报时间", "get report time", note="request; 2005 only"),
    Code("1042", "设置数据上报时间", "set report time", note="request; 2005 only"),
    Code("1061", "提取实时数据间隔", "get real-time interval", note="request"),
    Code("1062", "设置实时数据间隔", "set real-time interval", note="request"),
    Code("1063", "提取分钟数据间隔", "get minute-data interval", note="request"),
    Code("1064", "设置分钟数据间隔", "set minute-data interval", note="request"),
    Code("1072", "设置现场机访问密码", "set device password", note="request"),
    Code("2011", "实时数据", "real-time data", note="upload; start request from platform"),
    Code("2012", "停止察看实时数据", "stop real-time data", note="notice from platform"),
    Code("2021", "设备运行状态", "equipment running state", note="upload"),
    Code("2022", "停止察看设备运行状态", "stop equipment state", note="notice from platform"),
    Code("2031", "日历史数据", "daily data", note="upload"),
    Code("2041", "设备运行时间日历史数据", "equipment run time (daily)", note="upload"),
    Code("2051", "分钟数据", "minute data", note="upload"),
    Code("2061", "小时数据", "hourly data", note="upload"),
    Code("2071", "报警记录", "alarm records", note="request; 2005 only"),
    Code("2072", "报警事件", "alarm event", note="notice; 2005 only"),
    Code("2081", "数采仪开机时间", "data-logger restart time", note="upload"),
    Code("3011", "零点校准量程校准", "zero/span calibration", note="request"),
    Code("3012", "即时采样", "sample now", note="request"),
    Code("3013", "启动清洗/反吹", "start cleaning/back-flush", note="request"),
    Code("3014", "比对采样", "comparison sampling", note="request"),
    Code("3015", "超标留样", "sample retention on exceedance", note="upload"),
    Code("3016", "设置采样时间周期", "set sampling period", note="request"),
    Code("3017", "提取采样时间周期", "get sampling period", note="request"),
    Code("3018", "提取出样时间", "get sample output time", note="request"),
    Code("3019", "提取设备唯一标识", "instrument serial number", note="upload"),
    Code("3020", "提取现场机信息", "site information", note="upload"),
    Code("3021", "设置现场机参数", "set site parameters", note="request"),
    Code("9011", "请求应答", "request answer", note="answer"),
    Code("9012", "执行结果", "execution result", note="answer"),
    Code("9013", "通知应答", "notification answer", note="answer"),
    Code("9014", "数据应答", "data answer", note="answer"),
    Code("9015", "心跳", "heartbeat", note="HJ 212-2025 peers; vendor CON-RT before"),
    Code("8013", "心跳（厂商）", "vendor heartbeat", note="vendor, HeartbeatTime"),
)


#: Pollutant and parameter codes, HJ 212-2017 (Appendix B), the ones shanshui uses.
POLLUTANTS: Final[dict[str, Code]] = _table(
    # ambient air (ST=22)
    Code("a34004", "PM2.5", "PM2.5", "µg/m³", note="2017 table: ng/m³; µg/m³ in practice"),
    Code("a34002", "PM10", "PM10", "µg/m³", note="2017 table: ng/m³; µg/m³ in practice"),
    Code("a34001", "总悬浮颗粒物", "TSP", "µg/m³"),
    Code("a34005", "PM1.0", "PM1.0", "µg/m³"),
    Code("a21026", "二氧化硫", "SO2", "µg/m³", "kg", note="mg/m³ for flue gas"),
    Code("a21004", "二氧化氮", "NO2", "µg/m³"),
    Code("a21003", "一氧化氮", "NO", "µg/m³"),
    Code("a21002", "氮氧化物", "NOx", "µg/m³", "kg", note="mg/m³ for flue gas"),
    Code("a05024", "臭氧", "O3", "µg/m³", note="not in the 2017 table; used in practice"),
    Code("a21005", "一氧化碳", "CO", "mg/m³", note="mg/m³ in practice"),
    Code("a01001", "温度", "air temperature", "°C"),
    Code("a01002", "湿度", "relative humidity", "%"),
    Code("a01006", "气压", "air pressure", "kPa", note="hPa seen"),
    Code("a01007", "风速", "wind speed", "m/s"),
    Code("a01008", "风向", "wind direction", "°"),
    # flue gas (ST=31)
    Code("a00000", "废气", "flue-gas flow", "m³/s", "m³"),
    Code("a34013", "烟尘", "particulate matter (smoke)", "mg/m³", "kg"),
    Code("a19001", "氧气含量", "O2", "%"),
    Code("a01011", "烟气流速", "flue-gas velocity", "m/s"),
    Code("a01012", "烟气温度", "flue-gas temperature", "°C"),
    Code("a01013", "烟气压力", "flue-gas pressure", "kPa"),
    Code("a01014", "烟气湿度", "flue-gas humidity", "%"),
    Code("a01015", "制冷温度", "cooler temperature", "°C"),
    Code("a01016", "烟道截面积", "duct cross-section", "m²"),
    Code("a01017", "烟气动压", "flue-gas dynamic pressure", "kPa"),
    # waste water (ST=32)
    Code("w00000", "污水", "waste-water flow", "L/s", "m³"),
    Code("w01001", "pH值", "pH", ""),
    Code("w01018", "化学需氧量", "COD", "mg/L", "kg"),
    Code("w21003", "氨氮", "NH3-N", "mg/L", "kg"),
    Code("w21011", "总磷", "total phosphorus", "mg/L", "kg"),
    Code("w21001", "总氮", "total nitrogen", "mg/L", "kg"),
    Code("w01012", "悬浮物", "suspended solids", "mg/L", "kg"),
    Code("w01017", "五日生化需氧量", "BOD5", "mg/L", "kg"),
    # noise (ST=23)
    Code("LA", "A声级", "A-weighted sound level", "dB(A)"),
)

#: HJ/T 212-2005 codes → HJ 212-2017 codes, by system (README "Codes"). 2005 gave
#: S04/S08 in MPa and S02 in "m³/h": values are *not* rescaled by this mapping.
CODES_2005_TO_2017: Final[dict[str, dict[str, str]]] = {
    "31": {
        "B02": "a00000",
        "01": "a34013",
        "02": "a21026",
        "03": "a21002",
        "04": "a21005",
        "S01": "a19001",
        "S02": "a01011",
        "S03": "a01012",
        "S04": "a01017",
        "S05": "a01014",
        "S06": "a01015",
        "S07": "a01016",
        "S08": "a01013",
    },
    "32": {
        "B01": "w00000",
        "001": "w01001",
        "011": "w01018",
        "060": "w21003",
        "101": "w21011",
        "065": "w21001",
        "003": "w01012",
        "010": "w01017",
    },
}
CODES_2017_TO_2005: Final[dict[str, dict[str, str]]] = {
    st: {new: old for old, new in table.items()} for st, table in CODES_2005_TO_2017.items()
}


def to_2017(code: str, st: str) -> str:
    """The 2017 code of a 2005 ``code`` in system ``st``; unknown codes come back as is."""
    return CODES_2005_TO_2017.get(st, {}).get(code, code)


def to_2005(code: str, st: str) -> str:
    """The 2005 code of a 2017 ``code`` in system ``st``; unknown codes come back as is."""
    return CODES_2017_TO_2005.get(st, {}).get(code, code)


#: Data flags ``-Flag``, HJ 212-2017 Table 6.
DATA_FLAGS: Final[dict[str, Code]] = _table(
    Code("N", "在线监控（监测）仪器仪表工作正常", "normal"),
    Code("F", "在线监控（监测）仪器仪表停运", "instrument stopped"),
    Code("M", "在线监控（监测）仪器仪表处于维护期间产生的数据", "maintenance"),
    Code("S", "手工输入的设定值", "manually set value"),
    Code("D", "在线监控（监测）仪器仪表故障", "instrument fault"),
    Code("C", "在线监控（监测）仪器仪表处于校准状态", "calibration"),
    Code("T", "在线监控（监测）仪器仪表采样数值超过测量上限", "above the measuring range"),
    Code(
        "B", "在线监控（监测）仪器仪表与数采仪通讯异常", "instrument–logger communication failure"
    ),
)
#: Data flags of HJ/T 212-2005 (air stations also send 0–3).
DATA_FLAGS_2005: Final[dict[str, Code]] = _table(
    Code("P", "电源故障", "power failure"),
    Code("F", "排放源停运", "source stopped"),
    Code("C", "校验", "calibration check"),
    Code("M", "维护", "maintenance"),
    Code("T", "超测上限", "above upper limit"),
    Code("D", "故障", "fault"),
    Code("S", "设定值", "set value"),
    Code("N", "正常", "normal"),
    Code("0", "校准数据", "calibration data (air stations)"),
    Code("1", "气象数据", "meteorological data (air stations)"),
    Code("2", "异常数据", "abnormal data (air stations)"),
    Code("3", "正常数据", "normal data (air stations)"),
)
#: Flags whose values are valid for statistics (HJ 212-2017 Table 6: only N).
VALID_FLAGS: Final[frozenset[str]] = frozenset(("N",))

#: ``QnRtn`` (HJ 212-2017 Table 7; 2005 defines 1–3).
QN_RTN: Final[dict[int, str]] = {
    1: "ready to execute",
    2: "refused",
    3: "wrong PW",
    4: "wrong MN",
    5: "wrong ST",
    6: "wrong Flag",
    7: "wrong QN",
    8: "wrong CN",
    9: "wrong CRC",
    100: "unknown error",
}
#: ``ExeRtn`` (HJ 212-2017 Table 8; 2005 defines 1, 2, 100).
EXE_RTN: Final[dict[int, str]] = {
    1: "success",
    2: "failed",
    3: "bad command condition",
    4: "timeout",
    5: "busy",
    6: "fault",
    100: "no data",
}
