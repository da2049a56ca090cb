//! SLA arithmetic over a business [`Calendar`]: pure functions of their arguments.
//!
//! *Business time* is time that is inside the calendar's working intervals and outside every
//! pause. Pauses (e.g. 挂起 while waiting for the customer) may overlap, come in any order,
//! start before the clock does, be empty, or be open-ended (`to: None`, still running).
//!
//! * [`add_business_duration`] gives the deadline: the earliest instant at which `dur` of
//!   business time has passed since `start`. It is `start` itself for a zero duration.
//!   Otherwise it always lies inside (or at the end of) a working interval — e.g. four
//!   business hours from 16:00 on a 09:00–18:00 day end at 11:00 the next working day, and
//!   two hours from 16:00 end at 18:00 the same day, not at 09:00 the next.
//! * [`business_elapsed`] measures business time in `[from, to)`. The two are inverse:
//!   `business_elapsed(start, add_business_duration(start, d)) == d`, exactly (nanoseconds).
//! * The deadline is monotonic in `d`, never before `start`, and pauses never make it earlier.
//!   On a 24×7 calendar without pauses it is `start + d`.
//! * Nothing loops forever: a calendar without any working time is an error
//!   ([`SlaError::NoWorkingTime`]), and the search stops after [`HORIZON_DAYS`] (about ten
//!   years) of calendar days ([`SlaError::BeyondHorizon`]). An open-ended pause that begins
//!   before the deadline stops the clock: the answer is [`SlaError::Suspended`], with the
//!   business time still owed.
//! * [`explain`] says how a deadline came about (skipped holidays and weekends, paused time)
//!   and renders it in Chinese or English for people.
//!
//! Cost: one step per calendar day between the instants involved.

use std::ops::ControlFlow;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, DayStatus};
use crate::error::{DomainError, ErrorCode, Lang};

/// How far ahead a deadline is searched for, in calendar days from the start's local date
/// (ten years and a few days).
pub const HORIZON_DAYS: u64 = 3660;

/// A stretch of time in which the SLA clock does not run. `to: None` means "still paused".
/// A closed pause with `to <= from` covers nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

impl Pause {
    /// A finished pause, `[from, to)`.
    pub fn closed(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Pause { from, to: Some(to) }
    }

    /// A pause that has not ended.
    pub fn open(from: DateTime<Utc>) -> Self {
        Pause { from, to: None }
    }
}

impl From<(DateTime<Utc>, DateTime<Utc>)> for Pause {
    fn from((from, to): (DateTime<Utc>, DateTime<Utc>)) -> Self {
        Pause::closed(from, to)
    }
}

/// Why no deadline can be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("the duration is negative")]
    NegativeDuration,
    #[error("the calendar has no working time at all")]
    NoWorkingTime,
    /// An open-ended pause began at `since`, before the deadline was reached; `remaining` is the
    /// business time still owed. The deadline is known once the pause ends.
    #[error("the SLA clock is paused since {since}; {remaining} of business time remains")]
    Suspended {
        since: DateTime<Utc>,
        remaining: Duration,
    },
    #[error("the deadline is more than {HORIZON_DAYS} days away")]
    BeyondHorizon,
}

impl From<SlaError> for DomainError {
    fn from(e: SlaError) -> Self {
        match e {
            SlaError::Suspended { .. } => DomainError::new(ErrorCode::Conflict),
            _ => DomainError::invalid("sla"),
        }
    }
}

/// Pauses sorted by start and merged: disjoint, non-empty, with at most one open-ended pause,
/// which is last.
fn normalize(pauses: &[Pause]) -> Vec<Pause> {
    let mut ps: Vec<Pause> = pauses
        .iter()
        .copied()
        .filter(|p| p.to.is_none_or(|t| t > p.from))
        .collect();
    ps.sort_by_key(|p| p.from);
    let mut out: Vec<Pause> = Vec::with_capacity(ps.len());
    for p in ps {
        match out.last_mut() {
            Some(last) if last.to.is_none_or(|t| p.from <= t) => {
                last.to = match (last.to, p.to) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            _ => out.push(p),
        }
    }
    out
}

/// Why a walk over business time ended without the visitor breaking it.
enum WalkEnd {
    /// The last day of the range was passed (or chrono's range ended).
    Range,
    /// An open-ended pause began here: there is no business time after it.
    Suspended(DateTime<Utc>),
}

/// Visit the business-time segments at or after `from`, in order: non-empty, disjoint
/// `[a, b)` spans inside working intervals and outside the (normalized) pauses, up to and
/// including the local date `last_day`.
fn walk<T>(
    cal: &Calendar,
    from: DateTime<Utc>,
    last_day: NaiveDate,
    pauses: &[Pause],
    mut visit: impl FnMut(DateTime<Utc>, DateTime<Utc>) -> ControlFlow<T>,
) -> Result<T, WalkEnd> {
    let Some(mut day) = cal.local_date(from) else {
        return Err(WalkEnd::Range);
    };
    let mut first_pause = 0;
    while day <= last_day {
        for (a, b) in cal.working_intervals_utc(day) {
            let a = a.max(from);
            if a >= b {
                continue;
            }
            // Pauses that ended by `a` matter to no later interval either.
            while pauses
                .get(first_pause)
                .is_some_and(|p| p.to.is_some_and(|t| t <= a))
            {
                first_pause += 1;
            }
            let mut cursor = a;
            for p in pauses[first_pause..].iter().take_while(|p| p.from < b) {
                if p.from > cursor {
                    if let ControlFlow::Break(v) = visit(cursor, p.from) {
                        return Ok(v);
                    }
                }
                match p.to {
                    None => return Err(WalkEnd::Suspended(p.from)),
                    Some(t) => cursor = cursor.max(t),
                }
                if cursor >= b {
                    break;
                }
            }
            if cursor < b {
                if let ControlFlow::Break(v) = visit(cursor, b) {
                    return Ok(v);
                }
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    Err(WalkEnd::Range)
}

/// The deadline: the earliest instant at which `dur` of business time has passed since
/// `start`, not counting `pauses`. See the module documentation for the guarantees.
pub fn add_business_duration(
    cal: &Calendar,
    start: DateTime<Utc>,
    dur: Duration,
    pauses: &[Pause],
) -> Result<DateTime<Utc>, SlaError> {
    if dur < Duration::zero() {
        return Err(SlaError::NegativeDuration);
    }
    if dur.is_zero() {
        return Ok(start);
    }
    if !cal.has_working_time() {
        return Err(SlaError::NoWorkingTime);
    }
    let pauses = normalize(pauses);
    let last_day = cal
        .local_date(start)
        .and_then(|d| d.checked_add_days(chrono::Days::new(HORIZON_DAYS)))
        .unwrap_or(NaiveDate::MAX);
    let mut remaining = dur;
    let found = walk(cal, start, last_day, &pauses, |a, b| {
        let len = b - a;
        if len >= remaining {
            ControlFlow::Break(a + remaining)
        } else {
            remaining -= len;
            ControlFlow::Continue(())
        }
    });
    match found {
        Ok(deadline) => Ok(deadline),
        Err(WalkEnd::Range) => Err(SlaError::BeyondHorizon),
        Err(WalkEnd::Suspended(since)) => Err(SlaError::Suspended { since, remaining }),
    }
}

/// Business time in `[from, to)`, not counting `pauses`; zero when `to <= from`.
pub fn business_elapsed(
    cal: &Calendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    pauses: &[Pause],
) -> Duration {
    if to <= from {
        return Duration::zero();
    }
    let pauses = normalize(pauses);
    let last_day = cal.local_date(to).unwrap_or(NaiveDate::MAX);
    let mut sum = Duration::zero();
    let _ = walk(cal, from, last_day, &pauses, |a, b| {
        if a >= to {
            return ControlFlow::Break(());
        }
        sum += b.min(to) - a;
        if b >= to {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    sum
}

/// Wall-clock time covered by `pauses` within `[from, to)`.
fn paused_wall_time(from: DateTime<Utc>, to: DateTime<Utc>, pauses: &[Pause]) -> Duration {
    normalize(pauses)
        .iter()
        .map(|p| {
            let a = p.from.max(from);
            let b = p.to.map_or(to, |t| t.min(to));
            if b > a {
                b - a
            } else {
                Duration::zero()
            }
        })
        .sum()
}

/// Why a run of days had no working time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// Public holidays.
    Holiday,
    /// Saturdays and Sundays without working hours.
    Weekend,
    /// Other weekdays without working hours in the weekly schedule.
    DayOff,
}

/// Consecutive non-working local dates of one kind, `first..=last`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedDays {
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub kind: SkipKind,
    /// The holidays' names, in order, each once (empty for weekends and days off).
    pub names: Vec<String>,
}

/// How a deadline came about. Build it with [`explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub start: DateTime<Utc>,
    /// The business time that was asked for.
    pub business: Duration,
    pub deadline: DateTime<Utc>,
    /// The calendar's offset, for rendering local times.
    pub utc_offset_minutes: i32,
    /// Business time lost to pauses between start and deadline: how far the pauses pushed it.
    pub paused_business: Duration,
    /// Wall-clock time inside pauses between start and deadline.
    pub paused_wall: Duration,
    /// Non-working local dates from the start's date to the deadline's, in order.
    pub skipped: Vec<SkippedDays>,
}

/// Compute the deadline as [`add_business_duration`] does, and say how it came about.
pub fn explain(
    cal: &Calendar,
    start: DateTime<Utc>,
    dur: Duration,
    pauses: &[Pause],
) -> Result<Explanation, SlaError> {
    let deadline = add_business_duration(cal, start, dur, pauses)?;
    let paused_business = business_elapsed(cal, start, deadline, &[]) - dur;
    let paused_wall = paused_wall_time(start, deadline, pauses);
    let mut skipped: Vec<SkippedDays> = Vec::new();
    if let (Some(first), Some(last)) = (cal.local_date(start), cal.local_date(deadline)) {
        for date in first.iter_days().take_while(|d| *d <= last) {
            let (kind, name) = match cal.day_status(date) {
                DayStatus::Holiday(name) => (SkipKind::Holiday, Some(name)),
                _ if cal.is_working_day(date) => continue,
                _ if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) => {
                    (SkipKind::Weekend, None)
                }
                _ => (SkipKind::DayOff, None),
            };
            let extends = skipped
                .last()
                .is_some_and(|run| run.kind == kind && run.last.succ_opt() == Some(date));
            if !extends {
                skipped.push(SkippedDays {
                    first: date,
                    last: date,
                    kind,
                    names: Vec::new(),
                });
            }
            if let Some(run) = skipped.last_mut() {
                run.last = date;
                if let Some(name) = name.filter(|n| !n.is_empty()) {
                    if !run.names.iter().any(|n| n == name) {
                        run.names.push(name.to_string());
                    }
                }
            }
        }
    }
    Ok(Explanation {
        start,
        business: dur,
        deadline,
        utc_offset_minutes: cal.utc_offset_minutes(),
        paused_business,
        paused_wall,
        skipped,
    })
}

/// Runs listed in full before the rest are only counted.
const MAX_RUNS_SHOWN: usize = 6;

impl Explanation {
    /// E.g. `10-09 11:00 到期：自 09-30 16:00 起 4 个工作小时，暂停 2 小时，节假日 10-01…10-08（国庆节、中秋）`.
    pub fn render_zh(&self) -> String {
        self.render(Lang::Zh)
    }

    /// E.g. `due 10-09 11:00: 4 business hours from 09-30 16:00, paused 2 h, holiday
    /// 10-01…10-08 (国庆节, 中秋)`.
    pub fn render_en(&self) -> String {
        self.render(Lang::En)
    }

    /// Local times as `MM-DD HH:MM` (with the year when start and deadline differ in year).
    /// "Paused" is the business time the pauses took; omitted when zero.
    pub fn render(&self, lang: Lang) -> String {
        let start = self.local(self.start);
        let due = self.local(self.deadline);
        let with_year = start.year() != due.year();
        let at = |t: NaiveDateTime| {
            t.format(if with_year {
                "%Y-%m-%d %H:%M"
            } else {
                "%m-%d %H:%M"
            })
            .to_string()
        };
        let day = |d: NaiveDate| {
            d.format(if with_year { "%Y-%m-%d" } else { "%m-%d" })
                .to_string()
        };
        let span = |r: &SkippedDays| {
            if r.first == r.last {
                day(r.first)
            } else {
                format!("{}…{}", day(r.first), day(r.last))
            }
        };
        let zh = lang == Lang::Zh;
        let mut parts = Vec::new();
        if !self.paused_business.is_zero() {
            parts.push(if zh {
                format!("暂停 {}", fmt_duration_zh(self.paused_business))
            } else {
                format!("paused {}", fmt_duration_en(self.paused_business))
            });
        }
        for run in self.skipped.iter().take(MAX_RUNS_SHOWN) {
            let what = match (run.kind, zh) {
                (SkipKind::Holiday, true) => "节假日",
                (SkipKind::Weekend, true) => "周末",
                (SkipKind::DayOff, true) => "休息日",
                (SkipKind::Holiday, false) => "holiday",
                (SkipKind::Weekend, false) => "weekend",
                (SkipKind::DayOff, false) => "day off",
            };
            let names = match (run.names.is_empty(), zh) {
                (true, _) => String::new(),
                (false, true) => format!("（{}）", run.names.join("、")),
                (false, false) => format!(" ({})", run.names.join(", ")),
            };
            parts.push(format!("{what} {}{names}", span(run)));
        }
        let more = self.skipped.len().saturating_sub(MAX_RUNS_SHOWN);
        if more > 0 {
            parts.push(if zh {
                format!("另有 {more} 段非工作日")
            } else {
                format!("and {more} more non-working stretches")
            });
        }
        let whole_hours = self.business.num_seconds() % 3600 == 0
            && self.business.subsec_nanos() == 0
            && self.business.num_hours() > 0;
        let mut s = if zh {
            let amount = if whole_hours {
                format!("{} 个工作小时", self.business.num_hours())
            } else {
                format!("{}工作时间", fmt_duration_zh(self.business))
            };
            format!("{} 到期：自 {} 起 {amount}", at(due), at(start))
        } else {
            let amount = match (whole_hours, self.business.num_hours()) {
                (true, 1) => "1 business hour".to_string(),
                (true, h) => format!("{h} business hours"),
                (false, _) => format!("{} of business time", fmt_duration_en(self.business)),
            };
            format!("due {}: {amount} from {}", at(due), at(start))
        };
        for p in parts {
            s.push_str(if zh { "，" } else { ", " });
            s.push_str(&p);
        }
        s
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        let naive = t.naive_utc();
        naive
            .checked_add_signed(Duration::minutes(self.utc_offset_minutes.into()))
            .unwrap_or(naive)
    }
}

/// (hours, minutes, seconds) of a non-negative duration; sub-second parts are dropped.
fn hms(d: Duration) -> (i64, i64, i64) {
    let s = d.num_seconds().max(0);
    (s / 3600, s % 3600 / 60, s % 60)
}

/// `2 h`, `1 h 30 min`, `45 s`, `0 s`.
fn fmt_duration_en(d: Duration) -> String {
    let (h, m, s) = hms(d);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// `2 小时`, `1 小时 30 分钟`, `45 秒`, `0 秒`.
fn fmt_duration_zh(d: Duration) -> String {
    let (h, m, s) = hms(d);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} 小时"));
    }
    if m > 0 {
        parts.push(format!("{m} 分钟"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} 秒"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{CalendarSpec, DayKind, SpecialDay, WeeklyHours, WorkInterval};
    use proptest::prelude::*;

    /// An instant given as local wall-clock time at UTC+8.
    fn cst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
            .and_utc()
            - Duration::hours(8)
    }

    fn hours(h: i64) -> Duration {
        Duration::hours(h)
    }

    #[test]
    fn national_day_2025_p2_ticket() {
        // Created Tuesday 2025-09-30 16:00; 4 business hours. 16:00–18:00 is 2 h; 10-01 … 10-08
        // are holidays (10-04/05 a weekend inside them); Thursday 10-09 09:00–11:00 is 2 h.
        let cal = Calendar::china_default();
        assert!(cal.is_working_day(NaiveDate::from_ymd_opt(2025, 10, 9).unwrap()));
        let start = cst(2025, 9, 30, 16, 0);
        let due = add_business_duration(&cal, start, hours(4), &[]).unwrap();
        assert_eq!(due, cst(2025, 10, 9, 11, 0));
        assert_eq!(business_elapsed(&cal, start, due, &[]), hours(4));

        let e = explain(&cal, start, hours(4), &[]).unwrap();
        assert_eq!(
            e.render_en(),
            "due 10-09 11:00: 4 business hours from 09-30 16:00, holiday 10-01…10-08 (国庆节, 中秋)"
        );
        assert_eq!(
            e.render_zh(),
            "10-09 11:00 到期：自 09-30 16:00 起 4 个工作小时，节假日 10-01…10-08（国庆节、中秋）"
        );
    }

    #[test]
    fn national_day_with_a_pause() {
        // Paused 2025-10-09 09:00–11:00 (waiting for the customer): the 2 h left run
        // 11:00–12:00 and 13:00–14:00.
        let cal = Calendar::china_default();
        let start = cst(2025, 9, 30, 16, 0);
        let pause = Pause::closed(cst(2025, 10, 9, 9, 0), cst(2025, 10, 9, 11, 0));
        let due = add_business_duration(&cal, start, hours(4), &[pause]).unwrap();
        assert_eq!(due, cst(2025, 10, 9, 14, 0));
        let e = explain(&cal, start, hours(4), &[pause]).unwrap();
        assert_eq!(e.paused_business, hours(2));
        assert_eq!(e.paused_wall, hours(2));
        assert_eq!(
            e.render_en(),
            "due 10-09 14:00: 4 business hours from 09-30 16:00, paused 2 h, holiday 10-01…10-08 (国庆节, 中秋)"
        );
        assert_eq!(
            e.render_zh(),
            "10-09 14:00 到期：自 09-30 16:00 起 4 个工作小时，暂停 2 小时，节假日 10-01…10-08（国庆节、中秋）"
        );
    }

    #[test]
    fn makeup_saturday_counts() {
        // Friday 2025-10-10 17:00 + 3 h: 17:00–18:00, then Saturday 10-11 is a make-up working
        // day: 09:00–11:00.
        let cal = Calendar::china_default();
        let due = add_business_duration(&cal, cst(2025, 10, 10, 17, 0), hours(3), &[]).unwrap();
        assert_eq!(due, cst(2025, 10, 11, 11, 0));
    }

    #[test]
    fn weekend_and_edges() {
        let cal = Calendar::china_default();
        // Friday 2025-11-28 16:00 + 4 h → Monday 12-01 11:00 over a weekend.
        let start = cst(2025, 11, 28, 16, 0);
        let e = explain(&cal, start, hours(4), &[]).unwrap();
        assert_eq!(e.deadline, cst(2025, 12, 1, 11, 0));
        assert_eq!(
            e.render_en(),
            "due 12-01 11:00: 4 business hours from 11-28 16:00, weekend 11-29…11-30"
        );
        // Exactly reaching the end of the day gives 18:00, not the next morning.
        assert_eq!(
            add_business_duration(&cal, start, hours(2), &[]).unwrap(),
            cst(2025, 11, 28, 18, 0)
        );
        // Starting at night or at lunch counts from the next working minute.
        assert_eq!(
            add_business_duration(&cal, cst(2025, 12, 1, 3, 0), Duration::minutes(30), &[])
                .unwrap(),
            cst(2025, 12, 1, 9, 30)
        );
        assert_eq!(
            add_business_duration(&cal, cst(2025, 12, 1, 12, 10), Duration::minutes(90), &[])
                .unwrap(),
            cst(2025, 12, 1, 14, 30)
        );
        // Zero duration: the start itself, even outside working hours.
        let sat = cst(2025, 11, 29, 10, 0);
        assert_eq!(
            add_business_duration(&cal, sat, Duration::zero(), &[]).unwrap(),
            sat
        );
        // 90 min across a year end shows years.
        let e = explain(&cal, cst(2025, 12, 31, 17, 30), Duration::minutes(90), &[]).unwrap();
        assert_eq!(
            e.render_en(),
            "due 2026-01-04 10:00: 1 h 30 min of business time from 2025-12-31 17:30, \
             holiday 2026-01-01…2026-01-03 (元旦)"
        );
        assert_eq!(
            e.render_zh(),
            "2026-01-04 10:00 到期：自 2025-12-31 17:30 起 1 小时 30 分钟工作时间，\
             节假日 2026-01-01…2026-01-03（元旦）"
        );
    }

    #[test]
    fn pauses_may_overlap_be_unsorted_or_start_early() {
        let cal = Calendar::china_default();
        let start = cst(2025, 12, 1, 9, 0); // Monday
        let pauses = [
            Pause::closed(cst(2025, 12, 1, 10, 0), cst(2025, 12, 1, 11, 0)),
            Pause::closed(cst(2025, 11, 30, 0, 0), cst(2025, 12, 1, 9, 30)),
            Pause::closed(cst(2025, 12, 1, 10, 30), cst(2025, 12, 1, 11, 30)),
            Pause::closed(cst(2025, 12, 1, 16, 0), cst(2025, 12, 1, 15, 0)), // empty
        ];
        // Business time: 09:30–10:00, 11:30–12:00, 13:00–… → 2 h ends at 14:00.
        let due = add_business_duration(&cal, start, hours(2), &pauses).unwrap();
        assert_eq!(due, cst(2025, 12, 1, 14, 0));
        assert_eq!(business_elapsed(&cal, start, due, &pauses), hours(2));
        let e = explain(&cal, start, hours(2), &pauses).unwrap();
        assert_eq!(e.paused_business, hours(2));
        assert_eq!(e.paused_wall, Duration::minutes(30 + 90));
    }

    #[test]
    fn open_ended_pause_suspends_the_clock() {
        let cal = Calendar::china_default();
        let start = cst(2025, 12, 1, 9, 0);
        let since = cst(2025, 12, 1, 10, 0);
        assert_eq!(
            add_business_duration(&cal, start, hours(4), &[Pause::open(since)]),
            Err(SlaError::Suspended {
                since,
                remaining: hours(3)
            })
        );
        // A pause that opens after the deadline does not matter.
        assert_eq!(
            add_business_duration(&cal, start, hours(1), &[Pause::open(since)]),
            Ok(since)
        );
        // Elapsed time stops at the pause.
        assert_eq!(
            business_elapsed(&cal, start, cst(2025, 12, 5, 18, 0), &[Pause::open(since)]),
            hours(1)
        );
        let de: DomainError = SlaError::Suspended {
            since,
            remaining: hours(3),
        }
        .into();
        assert_eq!(de.code, ErrorCode::Conflict);
    }

    #[test]
    fn guards_against_endless_searches() {
        let start = cst(2025, 12, 1, 9, 0);
        let empty = Calendar::new(CalendarSpec::default()).unwrap();
        assert_eq!(
            add_business_duration(&empty, start, hours(1), &[]),
            Err(SlaError::NoWorkingTime)
        );
        // Mondays 09:00–10:00, but every Monday for 11 years a holiday; one Saturday is worked.
        let mut spec = CalendarSpec {
            week: WeeklyHours::none().with(Weekday::Mon, &[WorkInterval::hm(9, 0, 10, 0)]),
            ..CalendarSpec::default()
        };
        let mut date = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
        while date.year() < 2037 {
            spec.days.push(SpecialDay {
                date,
                kind: DayKind::Holiday,
                name: String::new(),
            });
            date += Duration::days(7);
        }
        spec.days.push(SpecialDay {
            date: NaiveDate::from_ymd_opt(2025, 12, 6).unwrap(),
            kind: DayKind::Workday,
            name: String::new(),
        });
        let cal = Calendar::new(spec).unwrap();
        assert_eq!(
            add_business_duration(&cal, start, hours(1), &[]),
            Ok(cst(2025, 12, 6, 10, 0))
        );
        assert_eq!(
            add_business_duration(&cal, start, hours(2), &[]),
            Err(SlaError::BeyondHorizon)
        );
        assert_eq!(
            add_business_duration(&cal, start, -hours(1), &[]),
            Err(SlaError::NegativeDuration)
        );
        // At the very end of chrono's range: an error, not a panic.
        assert_eq!(
            add_business_duration(
                &Calendar::always_open(840).unwrap(),
                DateTime::<Utc>::MAX_UTC - Duration::hours(1),
                hours(2),
                &[]
            ),
            Err(SlaError::BeyondHorizon)
        );
    }

    #[test]
    fn twenty_four_seven_is_plain_addition() {
        let cal = Calendar::always_open(480).unwrap();
        let start = cst(2025, 9, 30, 16, 0);
        assert_eq!(
            add_business_duration(&cal, start, hours(100), &[]).unwrap(),
            start + hours(100)
        );
        let e = explain(&cal, start, hours(100), &[]).unwrap();
        assert!(e.skipped.is_empty());
        assert_eq!(
            e.render_en(),
            "due 10-04 20:00: 100 business hours from 09-30 16:00"
        );
    }

    // ----- properties ---------------------------------------------------------------------

    fn odd_calendar() -> Calendar {
        // Tuesday and Thursday 10:00–10:30 and 23:00–24:00, Sunday 00:00–01:00, at UTC−5:30,
        // one holiday, one make-up day working Thursday's hours.
        Calendar::new(CalendarSpec {
            utc_offset_minutes: -330,
            week: WeeklyHours::none()
                .with(
                    Weekday::Tue,
                    &[
                        WorkInterval::hm(10, 0, 10, 30),
                        WorkInterval::hm(23, 0, 24, 0),
                    ],
                )
                .with(
                    Weekday::Thu,
                    &[
                        WorkInterval::hm(10, 0, 10, 30),
                        WorkInterval::hm(23, 0, 24, 0),
                    ],
                )
                .with(Weekday::Sun, &[WorkInterval::hm(0, 0, 1, 0)]),
            makeup_hours_from: Weekday::Thu,
            days: vec![
                SpecialDay {
                    date: NaiveDate::from_ymd_opt(2025, 6, 3).unwrap(),
                    kind: DayKind::Holiday,
                    name: "x".into(),
                },
                SpecialDay {
                    date: NaiveDate::from_ymd_opt(2025, 6, 7).unwrap(),
                    kind: DayKind::Workday,
                    name: "y".into(),
                },
            ],
        })
        .unwrap()
    }

    fn calendars() -> Vec<Calendar> {
        vec![
            Calendar::china_default(),
            Calendar::always_open(480).unwrap(),
            odd_calendar(),
        ]
    }

    /// Base: 2024-01-01T00:00Z; starts within four years of it.
    fn base() -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..4 * 366 * 86_400).prop_map(|s| base() + Duration::seconds(s))
    }

    /// Up to 120 h, in seconds.
    fn duration() -> impl Strategy<Value = Duration> {
        (0i64..120 * 3600).prop_map(Duration::seconds)
    }

    /// Pauses relative to `start`: from 100 h before to 300 h after, up to 80 h long, a few
    /// open-ended.
    fn pauses_near(start: DateTime<Utc>) -> impl Strategy<Value = Vec<Pause>> {
        proptest::collection::vec((-100i64 * 60..300 * 60, -60i64..80 * 60, 0u8..10), 0..5)
            .prop_map(move |v| {
                v.into_iter()
                    .map(|(off, len, open)| {
                        let from = start + Duration::minutes(off);
                        if open == 0 {
                            Pause::open(from)
                        } else {
                            Pause::closed(from, from + Duration::minutes(len))
                        }
                    })
                    .collect()
            })
    }

    fn case() -> impl Strategy<Value = (usize, DateTime<Utc>, Duration, Vec<Pause>)> {
        (0usize..3, instant(), duration())
            .prop_flat_map(|(c, s, d)| (Just(c), Just(s), Just(d), pauses_near(s)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn deadline_is_not_before_start_and_inverts_elapsed((c, start, d, pauses) in case()) {
            let cal = &calendars()[c];
            for ps in [&[][..], &pauses[..]] {
                match add_business_duration(cal, start, d, ps) {
                    Ok(due) => {
                        prop_assert!(due >= start);
                        prop_assert_eq!(business_elapsed(cal, start, due, ps), d);
                    }
                    Err(SlaError::Suspended { since, remaining }) => {
                        prop_assert!(!ps.is_empty());
                        prop_assert!(remaining > Duration::zero() && remaining <= d);
                        // Everything before the pause was counted.
                        prop_assert_eq!(
                            business_elapsed(cal, start, since.max(start), ps),
                            d - remaining
                        );
                    }
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
        }

        #[test]
        fn deadline_is_monotonic_in_duration(
            (c, start, d, pauses) in case(),
            extra in duration(),
        ) {
            let cal = &calendars()[c];
            for ps in [&[][..], &pauses[..]] {
                let a = add_business_duration(cal, start, d, ps);
                let b = add_business_duration(cal, start, d + extra, ps);
                if let (Ok(a), Ok(b)) = (&a, &b) {
                    prop_assert!(a <= b);
                }
                // A longer duration is never answered where a shorter one is suspended.
                prop_assert!(!(a.is_err() && b.is_ok()));
            }
        }

        #[test]
        fn pauses_never_make_the_deadline_earlier((c, start, d, pauses) in case()) {
            let cal = &calendars()[c];
            let without = add_business_duration(cal, start, d, &[]).unwrap();
            match add_business_duration(cal, start, d, &pauses) {
                Ok(with) => prop_assert!(with >= without),
                Err(SlaError::Suspended { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
            // Adding one more pause to a set never helps either.
            if let (Some((last, rest)), Ok(with_all)) =
                (pauses.split_last(), add_business_duration(cal, start, d, &pauses))
            {
                let fewer = add_business_duration(cal, start, d, rest).unwrap();
                prop_assert!(with_all >= fewer, "{last:?}");
            }
        }

        #[test]
        fn always_open_without_pauses_is_addition(start in instant(), d in duration(), off in -840i32..=840) {
            let cal = Calendar::always_open(off).unwrap();
            prop_assert_eq!(add_business_duration(&cal, start, d, &[]).unwrap(), start + d);
            prop_assert_eq!(business_elapsed(&cal, start, start + d, &[]), d);
        }

        #[test]
        fn elapsed_is_additive((c, a, _d, pauses) in case(), x in duration(), y in duration()) {
            let cal = &calendars()[c];
            let b = a + x;
            let z = b + y;
            prop_assert_eq!(
                business_elapsed(cal, a, z, &pauses),
                business_elapsed(cal, a, b, &pauses) + business_elapsed(cal, b, z, &pauses)
            );
            prop_assert!(business_elapsed(cal, a, b, &pauses) <= x);
        }

        #[test]
        fn explanation_is_consistent((c, start, d, pauses) in case()) {
            let cal = &calendars()[c];
            if let Ok(e) = explain(cal, start, d, &pauses) {
                prop_assert_eq!(Ok(e.deadline), add_business_duration(cal, start, d, &pauses));
                prop_assert!(e.paused_business >= Duration::zero());
                prop_assert!(e.paused_business <= e.paused_wall);
                for run in &e.skipped {
                    prop_assert!(run.first <= run.last);
                }
                prop_assert!(!e.render_zh().is_empty());
                prop_assert!(e.render_en().starts_with("due "));
            }
        }
    }
}
