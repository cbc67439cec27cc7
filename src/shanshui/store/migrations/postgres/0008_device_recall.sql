-- shanshui store schema, version 8 (PostgreSQL): history requests to devices. Keep in step with
-- ../duckdb/0008_device_recall.sql (same table, columns and key).
-- Why: a data logger keeps the data it measured and sends a time range of it again when the
-- platform asks (HJ 212-2017 Table C.1: 2031/2051/2061 取污染物日/分钟/小时历史数据, CP
-- BeginTime and EndTime). The platform asks when an operator approves a device that had been
-- sending while unregistered (its frames were refused, not acknowledged) and when an operator
-- asks for a gap. One row per request (shanshui.store.recalls): the device's MN, the CN asked
-- for, the range [begin_time, end_time] (UTC), who asked, when and why, and when a gateway
-- sent it to the device (null while it waits for the device to connect).
create table if not exists device_recall (
    mn         text collate "C" not null,
    cn         text collate "C" not null check (cn in ('2031', '2051', '2061')),
    begin_time timestamptz not null,
    end_time   timestamptz not null,
    requested  timestamptz not null,
    actor      text not null,
    reason     text not null,
    sent       timestamptz,
    primary key (mn, cn, begin_time, end_time),
    check (begin_time <= end_time)
);
