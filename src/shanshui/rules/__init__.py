"""Rules and alarms (DESIGN §3, layer 5; issue 6, item 3): jobs that read the store, apply
the permits and ``standards``, and write alarms back.

Run it
------
``RulesJob(store).run_once(now)`` (:mod:`shanshui.rules.engine`) evaluates every rule for every
outlet under a permit and writes the differences to the store's ``alarm`` table; ``shanshui
serve`` calls it every ``ServeConfig.rules_every`` seconds (60; 0 turns it off) and soon after
the writer's batches (at most every 5 s), reading through its own connection (``RulesJob(store,
own_reader=True)``); ``shanshui permits evaluate`` runs it once. ``now`` is the evaluation
instant (timezone-aware; a simulation passes its simulated clock). Running it twice with the
same data and ``now`` changes nothing (idempotent); data arriving late are re-evaluated on the
next run over the look-back window (``RulesJob(lookback=timedelta(days=2))``). Each outlet has
its own window per rule: from the hour ``now − lookback`` (for the daily rule: the start of that
hour's natural day), reaching back to the outlet's oldest alarm of the rule still open, and,
once, to the oldest reading of history back-filled since the job last read the outlet (a device
uploading what it kept during an outage longer than the look-back; the write path notes writes
that reach back more than a day: ``rules_backfill``, migration 0006; keep ``lookback`` at least
that). Each hour is judged under the permit that holds the outlet in it
(:func:`~shanshui.rules.binding.bind_outlets`: a renewal's limits and reporting interval from
its first day, the old permit's before); the permits are found over the outlet's widest window
of the rules that share one read (exceedance, daily, rate: their hours are read once).

Incremental runs
----------------
The first run of a job reads every outlet's data (a *full* evaluation; also every
``full_every``, default 1 h, when ``run_once(full=True)``, and when ``now`` went back). Later
runs (``incremental=True``) read again only the outlets whose data could have changed the
result since the job last read them:

- outlets whose readings were inserted or corrected since the job last read them: the write
  path marks their site in the writing transaction (``rules_marks``, migration 0005: a
  generation per site that every job compares with the one it read), so a backlog committed
  late, a journal replayed after an outage, is read by the next run, and several jobs on one
  PostgreSQL each see every change;
- outlets with readings labelled ahead of the job's clock, at every run until they are
  inside its window;
- outlets whose unchanged readings became judged: in an hour that was not judged at the last
  run, or in a natural day that has just ended (see Time labels);
- outlets whose permits in the window, their validity or the outlet's limits changed, whose window
  start moved earlier, or that were never read.

The offline rule judges every outlet at every run (a silence grows with ``now``): outlets not
re-read are judged on the data times kept from their last read (:class:`~shanshui.rules.
offline.Silences`) and on their anchors, asked again each run. Everything else of an outlet
not re-read is exactly as the last run left it: its data are the same, and a window that only
moved forward neither opens nor closes alarms (alarms begun before it are history that
:func:`~shanshui.rules.episodes.reconcile` leaves alone). ``tests/test_rules_incremental.py``
checks step by step that an incremental job leaves the same alarms as a full evaluation.
``RunResult.full`` and ``RunResult.evaluated`` (outlets read) say what a run did.

Time labels
-----------
Every time is a timezone-aware instant (the store answers in UTC). An *hour* is labelled by its
START (DESIGN §4): the hour ``10:00`` is ``[10:00, 11:00)``. Hours are cut on the UTC clock,
which is the same cut as Beijing time (UTC+8 is a whole number of hours). An hour is JUDGED
(by rules (a), (c), (e), (f)) once its records are due: a data logger sends an interval's
minute and hourly data after its end (HJ 212-2017: DataTime is the interval's start) and
resends what is not acknowledged, so the hour ``H`` is judged from ``H + 1 h + DELIVERY``
(:data:`~shanshui.rules.binding.DELIVERY`, 10 min; :func:`~shanshui.rules.binding.
judged_end`). Judged earlier, from the 45 minutes of it that are in or before its hourly
record came, it opened alarms that the rest of the hour withdrew.

The alarm (:class:`shanshui.store.alarms.Alarm`, one row of the store's ``alarm`` table)
-------------------------------------------------------------------------------------
``id``            int, unique, given by the store.
``site``          the outlet's site code (``Site(kind="outlet")``); for the enterprise-level
                  rule ``annual_total`` the enterprise id. Part of the key (distribution: site).
``rule``          ``exceedance`` | ``daily_exceedance`` | ``rate_exceedance`` | ``offline`` |
                  ``flag`` | ``annual_total``.
``parameter``     ``exceedance``/``daily_exceedance``/``rate_exceedance``/``annual_total``:
                  the HJ 212 pollutant code (``a21026``);
                  ``flag``: the flag letter (``D``, ``C``, ``M`` …); ``offline``: ``""``.
``state``         ``open`` → ``acknowledged`` (by whom, when, note) → ``closed``.
``opened_at``     the hour (``daily_exceedance``: the start of the natural day; ``offline``:
                  the instant) where the condition started.
``closed_at``     where it cleared (None while it lasts); for a hand-closed alarm the hour of
                  ``now`` when the operator closed it.
``last_seen``     the last hour (instant for ``offline``) where the condition held.
``hours``         how many hours the condition held (exceedance: exceeding hours; flag:
                  flagged hours; offline: whole hours of silence, rounded down;
                  daily_exceedance: 24 per exceeding day, ``detail.days`` the days;
                  rate_exceedance: exceeding hours; annual_total: 0).
``value``/``threshold``  the worst value seen and the limit it was compared with
                  (exceedance, daily_exceedance: mg/m³ or mg/L as the limit's unit;
                  rate_exceedance: kg/h; annual_total: projected and permitted t/a;
                  offline: the silence and the interval, seconds).
``enterprise``, ``permit``  where the rule's limit came from.
``detail``        rule-specific facts (outlet code, unit, basis, reference O2, standard, flag,
                  last data time …) and ``episode_end``: where the data cleared the condition
                  (ISO time, null while it lasts).
``acknowledged_by/_at``, ``ack_note``, ``closed_by``, ``close_note``  who did what (closed_by
                  is ``rules`` when the engine closed it).

De-duplication: at most one alarm per (site, rule, parameter) is not closed; the condition
lasting adds hours to it (``last_seen``, ``hours``), it never opens a second one. Once closed,
the next occurrence of the condition opens a new alarm. Acknowledging does not stop the
automatic close. An alarm closed by hand while its condition still holds stays closed; the
engine keeps its ``last_seen``/``hours`` up to date and opens no new one until the condition
has cleared once.

The rules
---------
(a) ``exceedance`` — per outlet, permitted pollutant (a ``Limit.hourly``) and data hour,
    computed by :func:`shanshui.rules.compliance.evaluate_hours`. The hourly value is the mean
    of the outlet's minute records (period ``minute``, statistic ``avg``) of that hour when at
    least 45 of them are valid (HJ 76-2017 Annex B); an hour without any minute record of the
    pollutant is judged on the device's own hourly record (period ``hour``, statistic ``avg``)
    instead. Only flag ``N`` counts as valid (the flag mapping of
    ``shanshui.standards.emissions.FLAG_CASE``: F/M/S/D/C/T/B values are stop or invalid
    cases of HJ 75-2017 §12 and never make an exceedance). Where the permit says the limit
    applies to the converted value (``Limit.converted``), the hourly mean is converted with the
    same hour's mean O2 (a19001): ``C × (21 − O2_ref) / (21 − O2)`` (GB 13223-2011 §5.2;
    choice: the conversion of hourly means, not minute by minute); an hour without a valid O2
    mean is not judged. An hour EXCEEDS when its value is strictly greater than the permitted
    hourly concentration. The alarm opens at the first exceeding hour (``opened_at`` = its
    label) and closes at the first later judged hour that does not exceed (``closed_at`` = that
    hour's label). Hours that are not judged (no data, flagged, fewer than 45 valid minutes, no
    O2) neither extend nor close it. Hours outside the permit's validity (Beijing dates) are
    not judged; each hour is judged under the permit valid in it, and where two permits of
    an outlet overlap, the one that starts later holds it from its first day (CHOICE: a
    renewal issued before the old permit expires replaces it from then; a permit that ends
    first hands the outlet back to the one it interrupted). An alarm belongs to the permit
    (``permit``, ``threshold``) under which its first hour was judged; a run that goes on
    across a renewal stays one alarm, its later hours judged under the new limits. Where no
    permit limits the pollutant any more (the permit expired with nothing after it, or its
    renewal sets no such limit), a run closes at that instant once it is judged: there is no
    limit left to exceed (rules (c), (e) and (f) alike: the flag rule where no permit holds
    the outlet, whose flags are not judged then either).
(b) ``offline`` — per outlet: the data times are the labels of all the outlet's stored
    observations (any period). Where two consecutive data times are further apart than the
    outlet's ``reporting_interval_s``, or the datum after the last data time is overdue at
    ``now`` (``now`` − last > 2 × interval: a data time labels the start of its interval and its
    record is sent at the interval's end, HJ 212-2017 DataTime; so the next record is due two
    intervals after the last label), the device was silent too long: ``opened_at`` = last data
    time + interval, ``closed_at`` = the next data time (None while still silent), ``value`` =
    the silence in seconds. Before the outlet's first datum the silence counts from its
    *anchor*: the later of the validity start of the first permit that holds it in the window
    (00:00 Beijing of ``valid_from``) and the activation of an active device linked to the
    outlet (its ``Device.site`` is the outlet, or its MN is a permit's ``Outlet.mn``;
    activation = the newest audit-log entry that made it active: registration, or an
    operator's approval of a pending device). An outlet that never sent anything is offline
    from anchor + interval, judged once ``now`` − anchor > 2 × interval
    (``detail.expected_since`` = the anchor, ``last_data`` null); its first datum closes the
    alarm. Without an active linked device no one is expected to report: nothing is
    judged before the first datum (:mod:`shanshui.rules.offline`). A silence is judged with the
    reporting interval of the permit that held the outlet at its last datum (at the anchor for
    a silence before the first datum). No one has to report for an outlet no permit holds: a
    silence that reaches the end of the permits holding the outlet closes there, and one that
    begins in a gap between permits (its last datum there, or its opening) counts from the
    next permit's start (due one interval later, as from an anchor).
(c) ``flag`` — per outlet and flag letter other than ``N`` (HJ 212-2017 §6.6: F 停运 stopped,
    M 维护 maintenance, S 手工输入 manual value, D 故障 fault, C 校准 calibration, T 超测上限
    over range, B 通讯异常 communication fault): an hour is flagged with X when any observation
    of the outlet in that hour carries X. Opens at the first flagged hour, closes at the first
    later hour that has data and none flagged X. Hours without data neither extend nor close.
(d) ``annual_total`` — per enterprise and pollutant with a permitted annual total (t/a) for
    the year of ``now`` (Beijing natural year): ``so_far`` = the sum of the stored hourly
    emission totals (statistic ``cou``, period ``hour``, kg per HJ 212-2017 Annex B, / 1000) of
    the enterprise's outlets in the year up to the end of the last judged hour ``J``
    (:func:`~shanshui.rules.binding.judged_end`); ``projection = so_far / f`` with ``f`` =
    the elapsed fraction of the year at the same instant ((J − 1 Jan 00:00) / length of the
    year: both grow by the hour, so the projection does not swing within an hour). The alarm
    opens (``opened_at`` = the hour of ``now``) when ``projection > permitted`` and closes
    (``closed_at`` = the hour of ``now``) at the first run where it no longer is, or once its
    year is over (a new year's projection opens a new alarm).

(e) ``daily_exceedance`` — per outlet and pollutant with a permitted daily-mean concentration
    (``Limit.daily``): the daily mean of a natural day (自然日, 00:00–24:00 in the site's zone,
    ``Site.tz``, Asia/Shanghai by default; DESIGN §4) is the mean of the day's valid hourly
    values as rule (a) compares them (converted where ``Limit.converted``; CHOICE: the mean of
    the hourly converted values, as the CEMS daily report lists them, not the conversion of
    daily means); it is judged when the day has at least 20 valid hourly values (HJ 76-2017
    Annex B, the daily validity HJ 75-2017's reports follow) and its last hour is judged (see
    Time labels; before that its mean is not final). CHOICE: the same 20-hour rule at
    waste-water outlets (HJ 356-2019's own daily validity was not checked; an analyser reporting
    less often than hourly never makes a valid day). A day EXCEEDS when its mean is strictly
    greater than the limit. Opens at the first exceeding day's start, closes at the start of the
    first later judged day that does not exceed; days not judged neither extend nor close
    (:mod:`shanshui.rules.limits`). A day is judged under the permit that holds its middle
    (permits' dates are Beijing days: a Beijing day is one permit's; a day of another zone
    goes with the permit that holds most of it).
(f) ``rate_exceedance`` — per air outlet and pollutant with a permitted emission rate
    (``Limit.rate_kg_h``): per hour ``G = C × Q × 10⁻⁶`` [kg/h] (HJ 75-2017;
    :func:`shanshui.standards.emissions.emission_rate`) from the MEASURED hourly mean
    concentration C [mg/m³] — never the converted one: the flow already carries the dilution
    — and the hour's mean dry standard flow Q (HJ 212 ``a00000``, stored in m³/s and
    converted by :func:`~shanshui.standards.emissions.flow_m3s_to_m3h`; a flow stored in
    m³/h is taken as is). Both hourly means follow rule (a)'s validity (≥ 45 valid minutes or
    a valid hourly record); an hour without both is not judged. An hour EXCEEDS when G is
    strictly greater than the permitted rate; episodes as rule (a).

Regional compliance (全面达标排放), :mod:`shanshui.rules.regional`: over a period, an
outlet-hour is in compliance when at least one permitted pollutant was judged and none
exceeded (:func:`shanshui.rules.compliance.outlet_hours`); a source (enterprise) is in
compliance when it had judged hours and none of its outlet-hours exceeded.

Store calls: ``store.alarms(state=, site=, rule=, enterprise=, since=, active_since=)``,
``store.alarm(id)``, ``store.acknowledge_alarm(id, actor=, note=)``,
``store.close_alarm(id, actor=, note=, at=)``.
"""

from shanshui.rules.engine import ALL_RULES, RulesJob, RunResult, run_periodically
from shanshui.store.alarms import ALARM_STATES, RULES, Alarm

__all__ = [
    "ALARM_STATES",
    "ALL_RULES",
    "RULES",
    "Alarm",
    "RulesJob",
    "RunResult",
    "run_periodically",
]
