//! Business calendars: when does the service desk work?
//!
//! A [`Calendar`] answers one question — which spans of local time are working time — from
//! four pieces of configuration:
//!
//! * a time zone, as a **fixed** offset from UTC in minutes (Asia/Shanghai, the default, has had
//!   no daylight-saving time since 1991, so a fixed offset is exact there);
//! * weekly working hours: for each weekday a list of non-overlapping [`WorkInterval`]s in
//!   minutes after local midnight (`00:00–24:00` every day is a 24×7 calendar);
//! * holidays: dates that are not working days, even when they fall on a weekday;
//! * make-up working days (调休上班): dates that are working days even when they fall on a
//!   weekend. Such a day works the hours of one configurable weekday (Monday by default).
//!
//! Guarantees:
//!
//! * [`Calendar::new`] is the only way to build a calendar from configuration and it validates
//!   everything: offset within ±14 h, every interval non-empty and inside the day, no overlaps
//!   within a day, no date both a holiday and a make-up working day, and — when there are
//!   make-up days — working hours on the weekday they borrow. Touching intervals
//!   (`09:00–12:00`, `12:00–13:00`) are allowed.
//! * [`Calendar::working_intervals`] of a date returns sorted, disjoint, non-empty local
//!   intervals, all within that date (an interval ending at 24:00 ends at the next midnight),
//!   and it is empty exactly when [`Calendar::is_working_day`] is false.
//! * The importers [`parse_csv`] and [`parse_ics`] never panic, whatever the input, and report
//!   every bad line they find (with its 1-based line number), not only the first.
//!
//! [`Calendar::china_default`] is Monday–Friday 09:00–12:00 and 13:00–18:00 at UTC+8 with the
//! official public holidays and make-up working days of the years [`cn_holidays_years`]. The
//! data comes from the MIT-licensed npm package `chinese-days`; see `data/README.md` for its
//! provenance. Past the last covered year the China calendar knows no holidays: callers that
//! compute deadlines there should warn that the holiday list needs updating.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Lang};

/// Minutes in a day; the largest valid interval end (24:00).
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// The largest accepted UTC offset, either way, in minutes (real zones span −12 h … +14 h).
pub const MAX_UTC_OFFSET_MINUTES: i32 = 14 * 60;

/// The longest name kept for a holiday or make-up day, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The longest all-day event accepted from an iCalendar file, in days.
pub const MAX_ICS_EVENT_DAYS: i64 = 366;

/// The China public-holiday data, converted from the npm package `chinese-days`.
const CN_HOLIDAYS_CSV: &str = include_str!("../data/cn-holidays.csv");

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

// ---------------------------------------------------------------------------------------------
// Working hours
// ---------------------------------------------------------------------------------------------

/// A span of working time within one day, `[start, end)`, in minutes after local midnight.
/// `end` may be 1440 (24:00). Validity (`start < end <= 1440`) is checked by [`Calendar::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkInterval {
    pub start: u16,
    pub end: u16,
}

impl WorkInterval {
    /// The whole day, 00:00–24:00.
    pub const ALL_DAY: WorkInterval = WorkInterval {
        start: 0,
        end: MINUTES_PER_DAY,
    };

    /// From hours and minutes: `WorkInterval::hm(9, 0, 12, 0)` is 09:00–12:00.
    pub const fn hm(start_h: u16, start_m: u16, end_h: u16, end_m: u16) -> Self {
        WorkInterval {
            start: start_h * 60 + start_m,
            end: end_h * 60 + end_m,
        }
    }

    /// Parse `HH:MM-HH:MM` (also with `–` or `~` between); `24:00` is allowed as an end.
    /// Returns `None` for anything else, including an empty or reversed interval.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once(['-', '–', '~'])?;
        let iv = WorkInterval {
            start: parse_hhmm(a.trim())?,
            end: parse_hhmm(b.trim())?,
        };
        iv.is_valid().then_some(iv)
    }

    /// Length in minutes (0 for an invalid interval).
    pub fn minutes(self) -> u16 {
        self.end.saturating_sub(self.start)
    }

    fn is_valid(self) -> bool {
        self.start < self.end && self.end <= MINUTES_PER_DAY
    }
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

impl fmt::Display for WorkInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// Working hours for each day of the week, Monday first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WeeklyHours(pub [Vec<WorkInterval>; 7]);

impl WeeklyHours {
    /// No working time on any day.
    pub fn none() -> Self {
        Self::default()
    }

    /// The same intervals Monday to Friday; weekends off.
    pub fn mon_to_fri(intervals: &[WorkInterval]) -> Self {
        let mut w = Self::default();
        for day in &mut w.0[..5] {
            *day = intervals.to_vec();
        }
        w
    }

    /// The same intervals every day of the week.
    pub fn every_day(intervals: &[WorkInterval]) -> Self {
        WeeklyHours(std::array::from_fn(|_| intervals.to_vec()))
    }

    /// 24×7: 00:00–24:00 every day.
    pub fn always() -> Self {
        Self::every_day(&[WorkInterval::ALL_DAY])
    }

    /// Replace one weekday's intervals.
    pub fn with(mut self, day: Weekday, intervals: &[WorkInterval]) -> Self {
        self.0[day.num_days_from_monday() as usize] = intervals.to_vec();
        self
    }

    /// The intervals of one weekday.
    pub fn get(&self, day: Weekday) -> &[WorkInterval] {
        &self.0[day.num_days_from_monday() as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// Special days and the calendar
// ---------------------------------------------------------------------------------------------

/// Whether a special date is a day off or a make-up working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// Not a working day, even on a weekday (法定节假日).
    Holiday,
    /// A working day, even on a weekend (调休上班).
    Workday,
}

impl DayKind {
    /// The CSV spelling: `holiday` or `workday`.
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        }
    }

    /// Read a CSV kind: `holiday`/`workday` (any case) or the Chinese 假日, 节假日, 休, 班,
    /// 上班, 补班, 调休上班.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "holiday" | "假日" | "节假日" | "休" | "休息" => Some(DayKind::Holiday),
            "workday" | "班" | "上班" | "补班" | "调休上班" => Some(DayKind::Workday),
            _ => None,
        }
    }
}

/// One holiday or make-up working day, as configured or imported.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpecialDay {
    pub date: NaiveDate,
    pub kind: DayKind,
    /// What the day is called, e.g. 国庆节; may be empty.
    pub name: String,
}

/// Everything a [`Calendar`] is made of, as plain data (what gets stored and edited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// Local time = UTC + this many minutes. Asia/Shanghai is 480.
    pub utc_offset_minutes: i32,
    pub week: WeeklyHours,
    /// Whose hours a make-up working day works. Monday by default.
    pub makeup_hours_from: Weekday,
    pub days: Vec<SpecialDay>,
}

impl Default for CalendarSpec {
    fn default() -> Self {
        CalendarSpec {
            utc_offset_minutes: 480,
            week: WeeklyHours::none(),
            makeup_hours_from: Weekday::Mon,
            days: Vec::new(),
        }
    }
}

/// Why a [`CalendarSpec`] is not a valid calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("UTC offset {0} min is outside ±14 h")]
    UtcOffsetOutOfRange(i32),
    #[error("{day}: working interval {interval} is empty or not within 00:00-24:00")]
    BadInterval {
        day: Weekday,
        interval: WorkInterval,
    },
    #[error("{day}: working intervals {first} and {second} overlap")]
    Overlap {
        day: Weekday,
        first: WorkInterval,
        second: WorkInterval,
    },
    #[error("{0} is listed both as a holiday and as a make-up working day")]
    ConflictingDay(NaiveDate),
    #[error("make-up working days work {0}'s hours, but {0} has no working hours")]
    MakeupWeekdayWithoutHours(Weekday),
}

impl CalendarError {
    /// The message for people, in the given language.
    pub fn message(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.to_string(),
            Lang::Zh => match self {
                CalendarError::UtcOffsetOutOfRange(m) => {
                    format!("时区偏移 {m} 分钟超出 ±14 小时范围")
                }
                CalendarError::BadInterval { day, interval } => {
                    format!(
                        "{}：工作时段 {interval} 为空或不在 00:00-24:00 之内",
                        weekday_zh(*day)
                    )
                }
                CalendarError::Overlap { day, first, second } => {
                    format!("{}：工作时段 {first} 与 {second} 重叠", weekday_zh(*day))
                }
                CalendarError::ConflictingDay(d) => {
                    format!("{d} 同时被列为节假日和调休上班日")
                }
                CalendarError::MakeupWeekdayWithoutHours(day) => {
                    let day = weekday_zh(*day);
                    format!("调休上班日按{day}的工作时间上班，但{day}没有工作时间")
                }
            },
        }
    }
}

impl From<CalendarError> for DomainError {
    fn from(_: CalendarError) -> Self {
        DomainError::invalid("calendar")
    }
}

/// 周一 … 周日.
pub fn weekday_zh(day: Weekday) -> &'static str {
    ["周一", "周二", "周三", "周四", "周五", "周六", "周日"][day.num_days_from_monday() as usize]
}

/// What a calendar says about one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayStatus<'a> {
    /// An ordinary day with working hours in the weekly schedule.
    Regular,
    /// An ordinary day without working hours (a weekend, for Monday–Friday calendars).
    WeeklyOff,
    /// A holiday, with its name (possibly empty).
    Holiday(&'a str),
    /// A make-up working day, with its name (possibly empty).
    Makeup(&'a str),
}

/// A validated business calendar. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    utc_offset_minutes: i32,
    week: WeeklyHours,
    makeup_hours_from: Weekday,
    holidays: BTreeMap<NaiveDate, String>,
    workdays: BTreeMap<NaiveDate, String>,
}

impl Calendar {
    /// Validate a spec. Intervals are sorted; a date listed twice with the same kind is kept
    /// once (with the first non-empty name).
    pub fn new(spec: CalendarSpec) -> Result<Calendar, CalendarError> {
        let CalendarSpec {
            utc_offset_minutes,
            mut week,
            makeup_hours_from,
            days,
        } = spec;
        if utc_offset_minutes.abs() > MAX_UTC_OFFSET_MINUTES {
            return Err(CalendarError::UtcOffsetOutOfRange(utc_offset_minutes));
        }
        for (day, intervals) in WEEKDAYS.iter().zip(week.0.iter_mut()) {
            if let Some(&interval) = intervals.iter().find(|iv| !iv.is_valid()) {
                return Err(CalendarError::BadInterval {
                    day: *day,
                    interval,
                });
            }
            intervals.sort();
            if let Some(pair) = intervals.windows(2).find(|p| p[0].end > p[1].start) {
                return Err(CalendarError::Overlap {
                    day: *day,
                    first: pair[0],
                    second: pair[1],
                });
            }
        }
        let mut holidays = BTreeMap::new();
        let mut workdays = BTreeMap::new();
        for SpecialDay { date, kind, name } in days {
            let (mine, other) = match kind {
                DayKind::Holiday => (&mut holidays, &workdays),
                DayKind::Workday => (&mut workdays, &holidays),
            };
            if other.contains_key(&date) {
                return Err(CalendarError::ConflictingDay(date));
            }
            let entry: &mut String = mine.entry(date).or_default();
            if entry.is_empty() {
                *entry = name;
            }
        }
        if !workdays.is_empty() && week.get(makeup_hours_from).is_empty() {
            return Err(CalendarError::MakeupWeekdayWithoutHours(makeup_hours_from));
        }
        Ok(Calendar {
            utc_offset_minutes,
            week,
            makeup_hours_from,
            holidays,
            workdays,
        })
    }

    /// 24×7 at the given UTC offset, with no holidays.
    pub fn always_open(utc_offset_minutes: i32) -> Result<Calendar, CalendarError> {
        Calendar::new(CalendarSpec {
            utc_offset_minutes,
            week: WeeklyHours::always(),
            ..CalendarSpec::default()
        })
    }

    /// China's default: Monday–Friday 09:00–12:00 and 13:00–18:00, UTC+8, with the official
    /// public holidays and make-up working days of [`cn_holidays_years`] (make-up days work
    /// Monday's hours, i.e. the same).
    pub fn china_default() -> Calendar {
        static CAL: OnceLock<Calendar> = OnceLock::new();
        CAL.get_or_init(|| {
            Calendar::new(CalendarSpec {
                utc_offset_minutes: 480,
                week: WeeklyHours::mon_to_fri(&[
                    WorkInterval::hm(9, 0, 12, 0),
                    WorkInterval::hm(13, 0, 18, 0),
                ]),
                makeup_hours_from: Weekday::Mon,
                days: cn_days().to_vec(),
            })
            .expect("the embedded China calendar is valid (see the tests)")
        })
        .clone()
    }

    /// The spec this calendar was built from (normalized: sorted intervals, one entry a date).
    pub fn spec(&self) -> CalendarSpec {
        let special = |map: &BTreeMap<NaiveDate, String>, kind| {
            map.iter()
                .map(move |(date, name)| SpecialDay {
                    date: *date,
                    kind,
                    name: name.clone(),
                })
                .collect::<Vec<_>>()
        };
        let mut days = special(&self.holidays, DayKind::Holiday);
        days.extend(special(&self.workdays, DayKind::Workday));
        days.sort_by_key(|d| d.date);
        CalendarSpec {
            utc_offset_minutes: self.utc_offset_minutes,
            week: self.week.clone(),
            makeup_hours_from: self.makeup_hours_from,
            days,
        }
    }

    /// Local time = UTC + this many minutes.
    pub fn utc_offset_minutes(&self) -> i32 {
        self.utc_offset_minutes
    }

    pub fn weekly_hours(&self) -> &WeeklyHours {
        &self.week
    }

    pub fn makeup_hours_from(&self) -> Weekday {
        self.makeup_hours_from
    }

    /// Holidays in date order, with their names.
    pub fn holidays(&self) -> impl Iterator<Item = (NaiveDate, &str)> {
        self.holidays.iter().map(|(d, n)| (*d, n.as_str()))
    }

    /// Make-up working days in date order, with their names.
    pub fn makeup_workdays(&self) -> impl Iterator<Item = (NaiveDate, &str)> {
        self.workdays.iter().map(|(d, n)| (*d, n.as_str()))
    }

    /// Whether there is any working time at all (some weekday has hours, or there is a
    /// make-up working day). A calendar without is useless for deadlines.
    pub fn has_working_time(&self) -> bool {
        self.week.0.iter().any(|d| !d.is_empty()) || !self.workdays.is_empty()
    }

    /// What kind of day a date is.
    pub fn day_status(&self, date: NaiveDate) -> DayStatus<'_> {
        if let Some(name) = self.holidays.get(&date) {
            DayStatus::Holiday(name)
        } else if let Some(name) = self.workdays.get(&date) {
            DayStatus::Makeup(name)
        } else if self.week.get(date.weekday()).is_empty() {
            DayStatus::WeeklyOff
        } else {
            DayStatus::Regular
        }
    }

    /// The working hours of a date, as minutes after local midnight: none on a holiday, the
    /// make-up weekday's on a make-up day, otherwise the date's weekday's.
    pub fn hours_on(&self, date: NaiveDate) -> &[WorkInterval] {
        match self.day_status(date) {
            DayStatus::Holiday(_) => &[],
            DayStatus::Makeup(_) => self.week.get(self.makeup_hours_from),
            DayStatus::Regular | DayStatus::WeeklyOff => self.week.get(date.weekday()),
        }
    }

    /// Whether the date has any working time.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.hours_on(date).is_empty()
    }

    /// The working intervals of a date in local time, sorted and disjoint; an interval
    /// ending at 24:00 ends at the next day's 00:00. Empty on non-working days.
    pub fn working_intervals(&self, date: NaiveDate) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        self.hours_on(date)
            .iter()
            .filter_map(|iv| Some((local_at(date, iv.start)?, local_at(date, iv.end)?)))
            .collect()
    }

    /// The working intervals of a local date as UTC instants. Intervals that cannot be
    /// represented (only at the very ends of chrono's date range) are left out.
    pub fn working_intervals_utc(
        &self,
        date: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        self.hours_on(date).iter().filter_map(move |iv| {
            let a = self.from_local(local_at(date, iv.start)?)?;
            let b = self.from_local(local_at(date, iv.end)?)?;
            Some((a, b))
        })
    }

    /// The local wall-clock time of an instant, or `None` past chrono's range.
    pub fn to_local(&self, t: DateTime<Utc>) -> Option<NaiveDateTime> {
        t.naive_utc()
            .checked_add_signed(Duration::minutes(self.utc_offset_minutes.into()))
    }

    /// The instant of a local wall-clock time (unambiguous: the offset is fixed).
    pub fn from_local(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        local
            .checked_sub_signed(Duration::minutes(self.utc_offset_minutes.into()))
            .map(|n| n.and_utc())
    }

    /// The local date of an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> Option<NaiveDate> {
        self.to_local(t).map(|l| l.date())
    }
}

/// `date` at `minute` minutes after midnight; minute 1440 is the next day's midnight.
fn local_at(date: NaiveDate, minute: u16) -> Option<NaiveDateTime> {
    date.and_time(NaiveTime::MIN)
        .checked_add_signed(Duration::minutes(minute.into()))
}

// ---------------------------------------------------------------------------------------------
// The China data
// ---------------------------------------------------------------------------------------------

fn cn_days() -> &'static [SpecialDay] {
    static DAYS: OnceLock<Vec<SpecialDay>> = OnceLock::new();
    DAYS.get_or_init(|| {
        parse_csv(CN_HOLIDAYS_CSV).expect("the embedded cn-holidays.csv is valid (see the tests)")
    })
}

/// The years whose Chinese public holidays and make-up working days
/// [`Calendar::china_default`] knows.
pub fn cn_holidays_years() -> RangeInclusive<i32> {
    // `cn_days` is sorted by date (and never empty: see the tests).
    let days = cn_days();
    match (days.first(), days.last()) {
        (Some(a), Some(b)) => a.date.year()..=b.date.year(),
        _ => RangeInclusive::new(1, 0), // empty
    }
}

// ---------------------------------------------------------------------------------------------
// Import errors
// ---------------------------------------------------------------------------------------------

/// Why one line of an imported file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportReason {
    NotUtf8,
    /// The first line is not `date,kind,name`.
    BadHeader(String),
    /// The file has no header line at all.
    MissingHeader,
    FieldCount(usize),
    UnterminatedQuote,
    BadDate(String),
    BadKind(String),
    NameTooLong,
    /// The date was already given the other kind, on the line given.
    Conflict {
        date: NaiveDate,
        other_line: usize,
    },
    /// Not an iCalendar file (no `BEGIN:VCALENDAR` first).
    NotICalendar,
    /// A content line without `:`.
    MalformedLine,
    /// A `BEGIN`/`END` that does not match, or is missing.
    Unbalanced(String),
    /// Content outside any `BEGIN:VCALENDAR` … `END:VCALENDAR`.
    OutsideCalendar,
    MissingDtstart,
    /// DTSTART/DTEND is a date-time, not a date: not an all-day event.
    NotAllDay(String),
    EndNotAfterStart,
    EventTooLong(i64),
    /// RRULE or RDATE: recurring events are not expanded.
    Recurring,
    UnsupportedDuration(String),
}

/// One rejected line. `line` is 1-based; for an iCalendar property it is the line the
/// (unfolded) property starts on; for an event-level problem, its `BEGIN:VEVENT` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub line: usize,
    pub reason: ImportReason,
}

fn clip(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

impl ImportError {
    fn new(line: usize, reason: ImportReason) -> Self {
        ImportError { line, reason }
    }

    /// The message for people, in the given language, starting with the line number.
    pub fn message(&self, lang: Lang) -> String {
        use ImportReason as R;
        let line = self.line;
        match lang {
            Lang::En => {
                let why = match &self.reason {
                    R::NotUtf8 => "the file is not UTF-8 text".to_string(),
                    R::BadHeader(h) => {
                        format!("the header must be `date,kind,name`, not `{}`", clip(h))
                    }
                    R::MissingHeader => "the file is empty: no `date,kind,name` header".into(),
                    R::FieldCount(n) => format!("expected 2 or 3 fields, found {n}"),
                    R::UnterminatedQuote => "a quoted field is not closed".into(),
                    R::BadDate(d) => format!("`{}` is not a date (YYYY-MM-DD)", clip(d)),
                    R::BadKind(k) => {
                        format!("`{}` is not a kind (holiday or workday)", clip(k))
                    }
                    R::NameTooLong => format!("the name is over {MAX_NAME_CHARS} characters"),
                    R::Conflict { date, other_line } => {
                        format!("{date} is already the other kind on line {other_line}")
                    }
                    R::NotICalendar => "not an iCalendar file (no BEGIN:VCALENDAR)".into(),
                    R::MalformedLine => "not a `NAME:value` line".into(),
                    R::Unbalanced(s) => format!("unbalanced component: {}", clip(s)),
                    R::OutsideCalendar => "content outside BEGIN:VCALENDAR…END:VCALENDAR".into(),
                    R::MissingDtstart => "the event has no DTSTART".into(),
                    R::NotAllDay(v) => {
                        format!("`{}` is not a date: only all-day events are read", clip(v))
                    }
                    R::EndNotAfterStart => "DTEND is not after DTSTART".into(),
                    R::EventTooLong(n) => {
                        format!("the event lasts {n} days (at most {MAX_ICS_EVENT_DAYS})")
                    }
                    R::Recurring => "recurring events (RRULE/RDATE) are not supported".into(),
                    R::UnsupportedDuration(v) => {
                        format!("DURATION `{}` is not whole days or weeks", clip(v))
                    }
                };
                format!("line {line}: {why}")
            }
            Lang::Zh => {
                let why = match &self.reason {
                    R::NotUtf8 => "文件不是 UTF-8 文本".to_string(),
                    R::BadHeader(h) => format!("表头应为 `date,kind,name`，而不是 `{}`", clip(h)),
                    R::MissingHeader => "文件为空：缺少 `date,kind,name` 表头".into(),
                    R::FieldCount(n) => format!("应有 2 或 3 个字段，实际 {n} 个"),
                    R::UnterminatedQuote => "引号字段未闭合".into(),
                    R::BadDate(d) => format!("`{}` 不是日期（YYYY-MM-DD）", clip(d)),
                    R::BadKind(k) => {
                        format!("`{}` 不是有效类型（holiday/休 或 workday/班）", clip(k))
                    }
                    R::NameTooLong => format!("名称超过 {MAX_NAME_CHARS} 个字符"),
                    R::Conflict { date, other_line } => {
                        format!("{date} 已在第 {other_line} 行被列为另一种类型")
                    }
                    R::NotICalendar => "不是 iCalendar 文件（缺少 BEGIN:VCALENDAR）".into(),
                    R::MalformedLine => "不是 `名称:值` 格式的行".into(),
                    R::Unbalanced(s) => format!("组件不配对：{}", clip(s)),
                    R::OutsideCalendar => "内容位于 BEGIN:VCALENDAR…END:VCALENDAR 之外".into(),
                    R::MissingDtstart => "事件缺少 DTSTART".into(),
                    R::NotAllDay(v) => format!("`{}` 不是日期：只读取全天事件", clip(v)),
                    R::EndNotAfterStart => "DTEND 不晚于 DTSTART".into(),
                    R::EventTooLong(n) => {
                        format!("事件持续 {n} 天（最多 {MAX_ICS_EVENT_DAYS} 天）")
                    }
                    R::Recurring => "不支持重复事件（RRULE/RDATE）".into(),
                    R::UnsupportedDuration(v) => {
                        format!("DURATION `{}` 不是整天或整周", clip(v))
                    }
                };
                format!("第 {line} 行：{why}")
            }
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

/// Every problem found in an imported file, in line order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors(pub Vec<ImportError>);

impl ImportErrors {
    /// All messages, one a line, in the given language.
    pub fn message(&self, lang: Lang) -> String {
        self.0
            .iter()
            .map(|e| e.message(lang))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for ImportErrors {}

impl From<ImportErrors> for DomainError {
    fn from(_: ImportErrors) -> Self {
        DomainError::invalid("calendar_file")
    }
}

/// Decode an uploaded file as UTF-8 (dropping a byte-order mark), or say on which line the
/// first invalid byte is.
pub fn text_from_bytes(bytes: &[u8]) -> Result<&str, ImportErrors> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        ImportErrors(vec![ImportError::new(line, ImportReason::NotUtf8)])
    })
}

/// Collects special days, reporting a date given both kinds.
#[derive(Default)]
struct DayCollector {
    days: Vec<SpecialDay>,
    seen: HashMap<NaiveDate, (DayKind, usize)>,
    errors: Vec<ImportError>,
}

impl DayCollector {
    fn add(&mut self, line: usize, date: NaiveDate, kind: DayKind, name: &str) {
        match self.seen.get(&date) {
            Some(&(k, _)) if k == kind => {}
            Some(&(_, other_line)) => self.errors.push(ImportError::new(
                line,
                ImportReason::Conflict { date, other_line },
            )),
            None => {
                self.seen.insert(date, (kind, line));
                self.days.push(SpecialDay {
                    date,
                    kind,
                    name: name.to_string(),
                });
            }
        }
    }

    fn finish(mut self) -> Result<Vec<SpecialDay>, ImportErrors> {
        if self.errors.is_empty() {
            self.days.sort_by_key(|d| d.date);
            Ok(self.days)
        } else {
            self.errors.sort_by_key(|e| e.line);
            Err(ImportErrors(self.errors))
        }
    }
}

/// Physical lines with their 1-based numbers, without `\r\n`/`\n` and a leading BOM.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

/// Parse a special-days CSV:
///
/// ```text
/// date,kind,name
/// 2025-10-01,holiday,国庆节
/// 2025-09-28,班,国庆节调休
/// ```
///
/// The header is required. `kind` is `holiday` or `workday` (any case) or one of the Chinese
/// words listed at [`DayKind::parse`]; `name` may be left out or empty. Fields may be quoted
/// with `"` (a doubled `""` inside is a quote). Blank lines and lines starting with `#` are
/// skipped. A date repeated with the same kind is kept once; with the other kind, it is an
/// error. Returns the days sorted by date, or every error found.
pub fn parse_csv(text: &str) -> Result<Vec<SpecialDay>, ImportErrors> {
    let mut out = DayCollector::default();
    let mut header_seen = false;
    for (no, line) in numbered_lines(text) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = match split_csv_line(line) {
            Ok(f) => f,
            Err(reason) => {
                header_seen = true;
                out.errors.push(ImportError::new(no, reason));
                continue;
            }
        };
        if !header_seen {
            header_seen = true;
            let names: Vec<String> = fields.iter().map(|f| f.trim().to_lowercase()).collect();
            if names != ["date", "kind", "name"] {
                out.errors.push(ImportError::new(
                    no,
                    ImportReason::BadHeader(trimmed.to_string()),
                ));
            }
            continue;
        }
        if !(2..=3).contains(&fields.len()) {
            out.errors
                .push(ImportError::new(no, ImportReason::FieldCount(fields.len())));
            continue;
        }
        let date = parse_iso_date(fields[0].trim());
        let kind = DayKind::parse(&fields[1]);
        let name = fields.get(2).map_or("", |n| n.trim());
        let mut ok = true;
        if date.is_none() {
            ok = false;
            out.errors.push(ImportError::new(
                no,
                ImportReason::BadDate(fields[0].trim().to_string()),
            ));
        }
        if kind.is_none() {
            ok = false;
            out.errors.push(ImportError::new(
                no,
                ImportReason::BadKind(fields[1].trim().to_string()),
            ));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            ok = false;
            out.errors
                .push(ImportError::new(no, ImportReason::NameTooLong));
        }
        if let (true, Some(date), Some(kind)) = (ok, date, kind) {
            out.add(no, date, kind, name);
        }
    }
    if !header_seen {
        out.errors
            .push(ImportError::new(1, ImportReason::MissingHeader));
    }
    out.finish()
}

/// Split one CSV line on commas, honouring `"…"` quoting.
fn split_csv_line(line: &str) -> Result<Vec<String>, ImportReason> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
        } else if c == '"' && cur.trim().is_empty() {
            // An opening quote (spaces before it are dropped).
            cur.clear();
            in_quotes = true;
        } else {
            cur.push(c);
        }
    }
    if in_quotes {
        return Err(ImportReason::UnterminatedQuote);
    }
    fields.push(cur);
    Ok(fields)
}

/// Strictly `YYYY-MM-DD`.
fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &b[r];
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// Render days as CSV in the format [`parse_csv`] reads.
pub fn to_csv(days: &[SpecialDay]) -> String {
    let mut s = String::from("date,kind,name\n");
    for d in days {
        // A line break cannot be stored in a one-line row: it becomes a space.
        let name = d.name.replace('\n', " ");
        let name = if name.contains([',', '"', '\r']) || name.trim() != name {
            format!("\"{}\"", name.replace('"', "\"\""))
        } else {
            name
        };
        s.push_str(&format!("{},{},{}\n", d.date, d.kind.as_str(), name));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// iCalendar
// ---------------------------------------------------------------------------------------------

/// One unfolded iCalendar content line.
struct ContentLine {
    line: usize,
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl ContentLine {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Logical lines: a physical line starting with a space or tab continues the previous one
/// (RFC 5545 §3.1), its first character dropped.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (no, line) in numbered_lines(text) {
        match (line.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(rest), Some((_, prev))) => prev.push_str(rest),
            _ => out.push((no, line.to_string())),
        }
    }
    out.retain(|(_, l)| !l.trim().is_empty());
    out
}

/// `NAME;P=V;Q="a:b":value`, splitting on `:` and `;` outside double quotes.
fn parse_content_line(line: usize, text: &str) -> Option<ContentLine> {
    let mut in_quotes = false;
    let mut colon = None;
    let mut semis = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => semis.push(i),
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let head = &text[..colon];
    let value = text[colon + 1..].to_string();
    let mut bounds = semis.clone();
    bounds.push(colon);
    let name_end = bounds[0];
    let name = text[..name_end].trim().to_ascii_uppercase();
    if name.is_empty() {
        return None;
    }
    let params = semis
        .iter()
        .zip(bounds.iter().skip(1))
        .map(|(&a, &b)| {
            let p = &head[a + 1..b];
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                k.trim().to_ascii_uppercase(),
                v.trim().trim_matches('"').to_string(),
            )
        })
        .collect();
    Some(ContentLine {
        line,
        name,
        params,
        value,
    })
}

/// RFC 5545 TEXT unescaping: `\\`, `\;`, `\,`, `\n`/`\N`.
fn unescape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push(' '),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An all-day date value `YYYYMMDD`; a date-time is reported as not all-day.
fn parse_ics_date(prop: &ContentLine) -> Result<NaiveDate, ImportError> {
    let v = prop.value.trim();
    let is_datetime = v.contains(['T', 't']) || prop.param("VALUE") == Some("DATE-TIME");
    if is_datetime {
        return Err(ImportError::new(
            prop.line,
            ImportReason::NotAllDay(v.to_string()),
        ));
    }
    let b = v.as_bytes();
    let date = if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let n = |r: std::ops::Range<usize>| v.get(r).and_then(|s| s.parse::<u32>().ok());
        match (n(0..4), n(4..6), n(6..8)) {
            (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m, d),
            _ => None,
        }
    } else {
        None
    };
    date.ok_or_else(|| ImportError::new(prop.line, ImportReason::BadDate(v.to_string())))
}

/// `P3D`, `P1W`, `+P2D`: whole days or weeks, at least one day.
fn parse_ics_days(v: &str) -> Option<i64> {
    let v = v.trim();
    let v = v.strip_prefix('+').unwrap_or(v);
    let body = v.strip_prefix(['P', 'p'])?;
    let (num, unit) = body.split_at(body.len().checked_sub(1)?);
    if num.is_empty() || num.len() > 6 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = num.parse().ok()?;
    let days = match unit {
        "D" | "d" => n,
        "W" | "w" => n * 7,
        _ => return None,
    };
    (days >= 1).then_some(days)
}

#[derive(Default)]
struct EventDraft {
    begin_line: usize,
    dtstart: Option<ContentLine>,
    dtend: Option<ContentLine>,
    duration: Option<ContentLine>,
    summary: Option<String>,
    recurring: bool,
    cancelled: bool,
}

/// Parse an iCalendar file of all-day events into special days.
///
/// Every `VEVENT` must have an all-day `DTSTART` (`DTSTART;VALUE=DATE:20251001`, or a bare
/// 8-digit date); an optional `DTEND` (exclusive) or `DURATION` in whole days/weeks makes it
/// span several days (at most [`MAX_ICS_EVENT_DAYS`]). An event whose `SUMMARY` contains
/// `班` (e.g. 补班, 上班, 国庆节(班)) or `workday` (any case) gives make-up working days; any other
/// event gives holidays, named after the summary (cut to [`MAX_NAME_CHARS`]). Cancelled events
/// (`STATUS:CANCELLED`) are skipped; recurring ones (`RRULE`/`RDATE`) are errors, since they are
/// not expanded. Folded lines are unfolded first; components nested in an event (`VALARM`) are
/// ignored. Returns the days sorted by date, or every error found.
pub fn parse_ics(text: &str) -> Result<Vec<SpecialDay>, ImportErrors> {
    let lines = unfold(text);
    let first_ok = lines.first().is_some_and(|(_, l)| {
        l.trim()
            .get(..15)
            .is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCALENDAR"))
    });
    if !first_ok {
        let line = lines.first().map_or(1, |(n, _)| *n);
        return Err(ImportErrors(vec![ImportError::new(
            line,
            ImportReason::NotICalendar,
        )]));
    }

    let mut out = DayCollector::default();
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut event: Option<EventDraft> = None;
    let mut last_line = 1;
    for (no, raw) in &lines {
        let no = *no;
        last_line = no;
        let Some(prop) = parse_content_line(no, raw) else {
            out.errors
                .push(ImportError::new(no, ImportReason::MalformedLine));
            continue;
        };
        match prop.name.as_str() {
            "BEGIN" => {
                let comp = prop.value.trim().to_ascii_uppercase();
                if stack.is_empty() && comp != "VCALENDAR" {
                    out.errors
                        .push(ImportError::new(no, ImportReason::OutsideCalendar));
                }
                if comp == "VEVENT" && stack.len() == 1 {
                    event = Some(EventDraft {
                        begin_line: no,
                        ..EventDraft::default()
                    });
                }
                stack.push((comp, no));
            }
            "END" => {
                let comp = prop.value.trim().to_ascii_uppercase();
                match stack.last() {
                    Some((open, _)) if *open == comp => {
                        stack.pop();
                        if comp == "VEVENT" && stack.len() == 1 {
                            if let Some(ev) = event.take() {
                                finish_event(ev, &mut out);
                            }
                        }
                    }
                    Some((open, _)) => out.errors.push(ImportError::new(
                        no,
                        ImportReason::Unbalanced(format!("END:{comp} closes BEGIN:{open}")),
                    )),
                    None => out.errors.push(ImportError::new(
                        no,
                        ImportReason::Unbalanced(format!("END:{comp} without BEGIN")),
                    )),
                }
            }
            _ if stack.is_empty() => {
                out.errors
                    .push(ImportError::new(no, ImportReason::OutsideCalendar));
            }
            name => {
                let in_event = stack.len() == 2 && stack[1].0 == "VEVENT";
                if let (true, Some(ev)) = (in_event, event.as_mut()) {
                    match name {
                        "DTSTART" if ev.dtstart.is_none() => ev.dtstart = Some(prop),
                        "DTEND" if ev.dtend.is_none() => ev.dtend = Some(prop),
                        "DURATION" if ev.duration.is_none() => ev.duration = Some(prop),
                        "SUMMARY" if ev.summary.is_none() => {
                            ev.summary = Some(unescape_text(&prop.value));
                        }
                        "RRULE" | "RDATE" => ev.recurring = true,
                        "STATUS" => {
                            ev.cancelled = prop.value.trim().eq_ignore_ascii_case("CANCELLED");
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    if let Some((open, _)) = stack.last() {
        out.errors.push(ImportError::new(
            last_line,
            ImportReason::Unbalanced(format!("BEGIN:{open} is never closed")),
        ));
    }
    out.finish()
}

fn finish_event(ev: EventDraft, out: &mut DayCollector) {
    if ev.cancelled {
        return;
    }
    if ev.recurring {
        out.errors
            .push(ImportError::new(ev.begin_line, ImportReason::Recurring));
        return;
    }
    let Some(dtstart) = &ev.dtstart else {
        out.errors.push(ImportError::new(
            ev.begin_line,
            ImportReason::MissingDtstart,
        ));
        return;
    };
    let start = match parse_ics_date(dtstart) {
        Ok(d) => d,
        Err(e) => return out.errors.push(e),
    };
    let days = if let Some(dtend) = &ev.dtend {
        match parse_ics_date(dtend) {
            Ok(end) if end > start => (end - start).num_days(),
            Ok(_) => {
                return out
                    .errors
                    .push(ImportError::new(dtend.line, ImportReason::EndNotAfterStart))
            }
            Err(e) => return out.errors.push(e),
        }
    } else if let Some(dur) = &ev.duration {
        match parse_ics_days(&dur.value) {
            Some(n) => n,
            None => {
                return out.errors.push(ImportError::new(
                    dur.line,
                    ImportReason::UnsupportedDuration(dur.value.trim().to_string()),
                ))
            }
        }
    } else {
        1
    };
    if days > MAX_ICS_EVENT_DAYS {
        out.errors.push(ImportError::new(
            ev.begin_line,
            ImportReason::EventTooLong(days),
        ));
        return;
    }
    let summary = ev.summary.unwrap_or_default();
    let summary = summary.trim();
    let lower = summary.to_lowercase();
    let kind = if summary.contains('班') || lower.contains("workday") {
        DayKind::Workday
    } else {
        DayKind::Holiday
    };
    let name: String = summary.chars().take(MAX_NAME_CHARS).collect();
    let mut date = start;
    for _ in 0..days {
        out.add(ev.begin_line, date, kind, &name);
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn local(y: i32, m: u32, day: u32, h: u32, min: u32) -> NaiveDateTime {
        d(y, m, day).and_hms_opt(h, min, 0).unwrap()
    }

    fn office_spec() -> CalendarSpec {
        CalendarSpec {
            utc_offset_minutes: 480,
            week: WeeklyHours::mon_to_fri(&[
                WorkInterval::hm(9, 0, 12, 0),
                WorkInterval::hm(13, 30, 18, 0),
            ]),
            makeup_hours_from: Weekday::Mon,
            days: vec![],
        }
    }

    #[test]
    fn work_interval_parse_and_display() {
        assert_eq!(
            WorkInterval::parse("09:00-12:00"),
            Some(WorkInterval::hm(9, 0, 12, 0))
        );
        assert_eq!(
            WorkInterval::parse(" 0:00 – 24:00 "),
            Some(WorkInterval::ALL_DAY)
        );
        assert_eq!(WorkInterval::parse("12:00-09:00"), None);
        assert_eq!(WorkInterval::parse("09:00-09:00"), None);
        assert_eq!(WorkInterval::parse("24:30-25:00"), None);
        assert_eq!(WorkInterval::parse("9:60-10:00"), None);
        assert_eq!(WorkInterval::parse("nonsense"), None);
        assert_eq!(WorkInterval::hm(13, 30, 24, 0).to_string(), "13:30-24:00");
    }

    #[test]
    fn validation_reports_clear_errors() {
        let mut s = office_spec();
        s.utc_offset_minutes = 15 * 60;
        assert_eq!(
            Calendar::new(s).unwrap_err(),
            CalendarError::UtcOffsetOutOfRange(900)
        );

        let s = CalendarSpec {
            week: WeeklyHours::none().with(Weekday::Tue, &[WorkInterval::hm(10, 0, 9, 0)]),
            ..office_spec()
        };
        let e = Calendar::new(s).unwrap_err();
        assert!(matches!(
            e,
            CalendarError::BadInterval {
                day: Weekday::Tue,
                ..
            }
        ));
        assert!(e.to_string().contains("10:00-09:00"), "{e}");
        assert!(e.message(Lang::Zh).contains("周二"));

        let s = CalendarSpec {
            week: WeeklyHours::none().with(
                Weekday::Wed,
                &[
                    WorkInterval::hm(13, 0, 18, 0),
                    WorkInterval::hm(9, 0, 13, 30),
                ],
            ),
            ..office_spec()
        };
        assert_eq!(
            Calendar::new(s).unwrap_err(),
            CalendarError::Overlap {
                day: Weekday::Wed,
                first: WorkInterval::hm(9, 0, 13, 30),
                second: WorkInterval::hm(13, 0, 18, 0),
            }
        );

        let mut s = office_spec();
        s.days = vec![
            SpecialDay {
                date: d(2025, 10, 1),
                kind: DayKind::Holiday,
                name: "国庆节".into(),
            },
            SpecialDay {
                date: d(2025, 10, 1),
                kind: DayKind::Workday,
                name: String::new(),
            },
        ];
        assert_eq!(
            Calendar::new(s).unwrap_err(),
            CalendarError::ConflictingDay(d(2025, 10, 1))
        );

        let mut s = office_spec();
        s.makeup_hours_from = Weekday::Sat;
        s.days = vec![SpecialDay {
            date: d(2025, 9, 28),
            kind: DayKind::Workday,
            name: String::new(),
        }];
        assert_eq!(
            Calendar::new(s).unwrap_err(),
            CalendarError::MakeupWeekdayWithoutHours(Weekday::Sat)
        );
        let de: DomainError = CalendarError::ConflictingDay(d(2025, 1, 1)).into();
        assert_eq!(de, DomainError::invalid("calendar"));
    }

    #[test]
    fn touching_intervals_are_fine_and_get_sorted() {
        let s = CalendarSpec {
            week: WeeklyHours::none().with(
                Weekday::Mon,
                &[
                    WorkInterval::hm(12, 0, 13, 0),
                    WorkInterval::hm(9, 0, 12, 0),
                ],
            ),
            ..office_spec()
        };
        let cal = Calendar::new(s).unwrap();
        assert_eq!(
            cal.weekly_hours().get(Weekday::Mon),
            &[
                WorkInterval::hm(9, 0, 12, 0),
                WorkInterval::hm(12, 0, 13, 0)
            ]
        );
    }

    #[test]
    fn days_holidays_and_makeup_days() {
        let mut s = office_spec();
        s.week = s.week.with(Weekday::Fri, &[WorkInterval::hm(9, 0, 15, 0)]);
        s.makeup_hours_from = Weekday::Fri;
        s.days = vec![
            SpecialDay {
                date: d(2025, 10, 1),
                kind: DayKind::Holiday,
                name: "国庆节".into(),
            },
            SpecialDay {
                date: d(2025, 9, 28),
                kind: DayKind::Workday,
                name: "调休".into(),
            },
        ];
        let cal = Calendar::new(s).unwrap();
        // 2025-09-29 is an ordinary Monday.
        assert!(cal.is_working_day(d(2025, 9, 29)));
        assert_eq!(
            cal.working_intervals(d(2025, 9, 29)),
            vec![
                (local(2025, 9, 29, 9, 0), local(2025, 9, 29, 12, 0)),
                (local(2025, 9, 29, 13, 30), local(2025, 9, 29, 18, 0)),
            ]
        );
        // A Wednesday holiday.
        assert!(!cal.is_working_day(d(2025, 10, 1)));
        assert!(cal.working_intervals(d(2025, 10, 1)).is_empty());
        assert_eq!(cal.day_status(d(2025, 10, 1)), DayStatus::Holiday("国庆节"));
        // A Sunday make-up day works Friday's hours here.
        assert_eq!(cal.day_status(d(2025, 9, 28)), DayStatus::Makeup("调休"));
        assert_eq!(
            cal.working_intervals(d(2025, 9, 28)),
            vec![(local(2025, 9, 28, 9, 0), local(2025, 9, 28, 15, 0))]
        );
        // An ordinary Saturday.
        assert_eq!(cal.day_status(d(2025, 10, 4)), DayStatus::WeeklyOff);
        assert!(!cal.is_working_day(d(2025, 10, 4)));
        // Round trip through the spec.
        assert_eq!(Calendar::new(cal.spec()).unwrap(), cal);
    }

    #[test]
    fn twenty_four_seven_runs_midnight_to_midnight() {
        let cal = Calendar::always_open(480).unwrap();
        assert_eq!(
            cal.working_intervals(d(2025, 10, 1)),
            vec![(local(2025, 10, 1, 0, 0), local(2025, 10, 2, 0, 0))]
        );
        let utc: Vec<_> = cal.working_intervals_utc(d(2025, 10, 1)).collect();
        assert_eq!(utc[0].0.to_rfc3339(), "2025-09-30T16:00:00+00:00");
        assert_eq!(utc[0].1.to_rfc3339(), "2025-10-01T16:00:00+00:00");
        assert!(cal.has_working_time());
        assert!(!Calendar::new(CalendarSpec::default())
            .unwrap()
            .has_working_time());
    }

    #[test]
    fn csv_reads_english_and_chinese_kinds() {
        let text = "\u{feff}Date,Kind,Name\r\n\
                    2025-10-01,holiday,国庆节\r\n\
                    \r\n\
                    # a comment\r\n\
                    2025-10-02,休,\"国庆, 第二天\"\r\n\
                    2025-10-03,假日\r\n\
                    2025-09-28,班,国庆节\r\n\
                    2025-10-11,调休上班,\"say \"\"hi\"\"\"\r\n\
                    2025-10-12,WORKDAY,x\r\n\
                    2025-10-01,holiday,dup\r\n";
        let days = parse_csv(text).unwrap();
        let got: Vec<_> = days
            .iter()
            .map(|s| (s.date.to_string(), s.kind, s.name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2025-09-28".into(), DayKind::Workday, "国庆节"),
                ("2025-10-01".into(), DayKind::Holiday, "国庆节"),
                ("2025-10-02".into(), DayKind::Holiday, "国庆, 第二天"),
                ("2025-10-03".into(), DayKind::Holiday, ""),
                ("2025-10-11".into(), DayKind::Workday, "say \"hi\""),
                ("2025-10-12".into(), DayKind::Workday, "x"),
            ]
        );
        assert_eq!(parse_csv(&to_csv(&days)).unwrap(), days);
    }

    #[test]
    fn csv_reports_every_bad_line() {
        let text = "date,kind,name\n\
                    2025-10-01,holiday,ok\n\
                    2025-13-01,holiday,bad month\n\
                    2025-10-02,vacation,bad kind\n\
                    oops\n\
                    2025-10-01,workday,conflict\n\
                    2025-10-03,holiday,\"open\n\
                    25-10-04,??,both bad\n";
        let err = parse_csv(text).unwrap_err();
        let got: Vec<_> = err.0.iter().map(|e| (e.line, e.reason.clone())).collect();
        assert_eq!(
            got,
            vec![
                (3, ImportReason::BadDate("2025-13-01".into())),
                (4, ImportReason::BadKind("vacation".into())),
                (5, ImportReason::FieldCount(1)),
                (
                    6,
                    ImportReason::Conflict {
                        date: d(2025, 10, 1),
                        other_line: 2
                    }
                ),
                (7, ImportReason::UnterminatedQuote),
                (8, ImportReason::BadDate("25-10-04".into())),
                (8, ImportReason::BadKind("??".into())),
            ]
        );
        let zh = err.message(Lang::Zh);
        assert!(zh.contains("第 3 行") && zh.contains("第 2 行"), "{zh}");
        let en = err.to_string();
        assert!(en.starts_with("line 3: `2025-13-01` is not a date"), "{en}");
    }

    #[test]
    fn csv_header_problems() {
        let e = parse_csv("").unwrap_err();
        assert_eq!(e.0, vec![ImportError::new(1, ImportReason::MissingHeader)]);
        let e = parse_csv("\n\n2025-10-01,holiday,x\n").unwrap_err();
        assert_eq!(e.0[0].line, 3);
        assert!(matches!(e.0[0].reason, ImportReason::BadHeader(_)));
        let long = format!("date,kind,name\n2025-10-01,holiday,{}\n", "节".repeat(101));
        assert_eq!(
            parse_csv(&long).unwrap_err().0,
            vec![ImportError::new(2, ImportReason::NameTooLong)]
        );
    }

    #[test]
    fn bytes_must_be_utf8() {
        assert_eq!(text_from_bytes(b"\xEF\xBB\xBFdate").unwrap(), "date");
        let e = text_from_bytes(b"date,kind,name\n2025-10-01,\xff\n").unwrap_err();
        assert_eq!(e.0, vec![ImportError::new(2, ImportReason::NotUtf8)]);
    }

    /// Two events as the `chinese-days` package publishes them (CRLF, folded UID line).
    const CHINESE_DAYS_ICS: &str = "BEGIN:VCALENDAR\r\n\
VERSION:2.0\r\n\
PRODID:-//yaavi.me//Chinese Days//CN\r\n\
X-WR-CALNAME:中国节假日\r\n\
BEGIN:VTIMEZONE\r\n\
TZID:Asia/Shanghai\r\n\
BEGIN:STANDARD\r\n\
TZOFFSETFROM:+0800\r\n\
TZOFFSETTO:+0800\r\n\
DTSTART:19700101T000000\r\n\
END:STANDARD\r\n\
END:VTIMEZONE\r\n\
BEGIN:VEVENT\r\n\
UID:9599b695-e648-4b30-8d82-32774230d721\r\n\
DTSTAMP:20260305T110113\r\n\
DTSTART;VALUE=DATE:20251001\r\n\
DTEND;VALUE=DATE:20251006\r\n\
SUMMARY:国庆节(休)\r\n\
X-APPLE-UNIVERSAL-ID:106c0bb279504ef98528d3d51f434960f5cf2f22c521a2b94f8b6\r\n \
f0bf4ed5841\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\n\
DTSTART;VALUE=DATE:20250928\r\n\
DTEND;VALUE=DATE:20250929\r\n\
SUMMARY:国庆节(班)\r\n\
END:VEVENT\r\n\
END:VCALENDAR\r\n";

    #[test]
    fn ics_reads_holidays_and_workdays() {
        let days = parse_ics(CHINESE_DAYS_ICS).unwrap();
        let holidays: Vec<_> = days
            .iter()
            .filter(|s| s.kind == DayKind::Holiday)
            .map(|s| s.date)
            .collect();
        assert_eq!(
            holidays,
            (1..=5).map(|day| d(2025, 10, day)).collect::<Vec<_>>()
        );
        assert_eq!(days[0].date, d(2025, 9, 28));
        assert_eq!(days[0].kind, DayKind::Workday);
        assert_eq!(days[0].name, "国庆节(班)");
        assert_eq!(days[1].name, "国庆节(休)");
    }

    #[test]
    fn ics_folding_escapes_duration_and_classification() {
        let text = "BEGIN:VCALENDAR\n\
BEGIN:VEVENT\n\
DTSTART:20250101\n\
SUMMARY:New Year\\, \n \
day off\n\
BEGIN:VALARM\n\
SUMMARY:补班 reminder that must be ignored\n\
END:VALARM\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20250126\n\
SUMMARY:Spring Festival (WorkDay)\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20250501\n\
DURATION:P1W\n\
SUMMARY;LANGUAGE=zh-CN:劳动节\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20250801\n\
STATUS:CANCELLED\n\
SUMMARY:cancelled\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20250208\n\
SUMMARY:补班\n\
END:VEVENT\n\
END:VCALENDAR\n";
        let days = parse_ics(text).unwrap();
        let get = |date| days.iter().find(|s| s.date == date).unwrap();
        assert_eq!(get(d(2025, 1, 1)).name, "New Year, day off");
        assert_eq!(get(d(2025, 1, 1)).kind, DayKind::Holiday);
        assert_eq!(get(d(2025, 1, 26)).kind, DayKind::Workday);
        assert_eq!(get(d(2025, 2, 8)).kind, DayKind::Workday);
        assert_eq!(get(d(2025, 5, 7)).kind, DayKind::Holiday);
        assert!(!days.iter().any(|s| s.date == d(2025, 5, 8)));
        assert!(!days.iter().any(|s| s.date == d(2025, 8, 1)));
        assert_eq!(days.len(), 1 + 1 + 7 + 1);
    }

    #[test]
    fn ics_rejects_garbage_clearly() {
        for text in [
            "",
            "hello world",
            "date,kind,name\n2025-10-01,holiday,x",
            "\u{0}\u{1}",
        ] {
            let e = parse_ics(text).unwrap_err();
            assert_eq!(e.0.len(), 1);
            assert_eq!(e.0[0].reason, ImportReason::NotICalendar);
        }
        let text = "BEGIN:VCALENDAR\n\
BEGIN:VEVENT\n\
DTSTART:20251001T090000\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
SUMMARY:no start\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20251001\n\
DTEND;VALUE=DATE:20251001\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20250101\n\
RRULE:FREQ=YEARLY\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20250101\n\
DTEND;VALUE=DATE:20300101\n\
END:VEVENT\n\
this line has no colon\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20251001\n\
DURATION:PT2H\n\
END:VTODO\n\
END:VEVENT\n";
        let e = parse_ics(text).unwrap_err();
        let got: Vec<_> = e.0.iter().map(|e| (e.line, e.reason.clone())).collect();
        assert_eq!(
            got,
            vec![
                (3, ImportReason::NotAllDay("20251001T090000".into())),
                (5, ImportReason::MissingDtstart),
                (10, ImportReason::EndNotAfterStart),
                (12, ImportReason::Recurring),
                (16, ImportReason::EventTooLong(1826)),
                (20, ImportReason::MalformedLine),
                (23, ImportReason::UnsupportedDuration("PT2H".into())),
                (
                    24,
                    ImportReason::Unbalanced("END:VTODO closes BEGIN:VEVENT".into())
                ),
                (
                    25,
                    ImportReason::Unbalanced("BEGIN:VCALENDAR is never closed".into())
                ),
            ]
        );
        let conflict = "BEGIN:VCALENDAR\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20251001\n\
SUMMARY:国庆\n\
END:VEVENT\n\
BEGIN:VEVENT\n\
DTSTART;VALUE=DATE:20251001\n\
SUMMARY:上班\n\
END:VEVENT\n\
END:VCALENDAR\n";
        assert_eq!(
            parse_ics(conflict).unwrap_err().0,
            vec![ImportError::new(
                6,
                ImportReason::Conflict {
                    date: d(2025, 10, 1),
                    other_line: 2
                }
            )]
        );
    }

    #[test]
    fn embedded_china_data_is_valid_and_sane() {
        let days = parse_csv(CN_HOLIDAYS_CSV).expect("embedded CSV parses");
        assert!(days.len() > 700);
        assert_eq!(cn_holidays_years(), 2004..=2026);
        for day in &days {
            assert!(!day.name.is_empty(), "{} has no name", day.date);
            if day.kind == DayKind::Workday {
                // Make-up working days are always weekend days.
                assert!(
                    matches!(day.date.weekday(), Weekday::Sat | Weekday::Sun),
                    "{}",
                    day.date
                );
            }
        }
        // Every covered year has 元旦, 春节 and 国庆节 holidays.
        for year in cn_holidays_years() {
            for name in ["元旦", "春节", "国庆节"] {
                assert!(
                    days.iter().any(|s| s.date.year() == year && s.name == name),
                    "{year} {name}"
                );
            }
        }
    }

    #[test]
    fn china_default_hours() {
        let cal = Calendar::china_default();
        assert_eq!(cal.utc_offset_minutes(), 480);
        // 2025-09-30 is an ordinary Tuesday.
        assert_eq!(
            cal.working_intervals(d(2025, 9, 30)),
            vec![
                (local(2025, 9, 30, 9, 0), local(2025, 9, 30, 12, 0)),
                (local(2025, 9, 30, 13, 0), local(2025, 9, 30, 18, 0)),
            ]
        );
        assert!(!cal.is_working_day(d(2025, 10, 12))); // an ordinary Sunday
    }

    #[test]
    fn china_national_day_2025() {
        let cal = Calendar::china_default();
        for day in 1..=8 {
            assert!(!cal.is_working_day(d(2025, 10, day)), "2025-10-{day:02}");
            assert!(matches!(
                cal.day_status(d(2025, 10, day)),
                DayStatus::Holiday(_)
            ));
        }
        assert_eq!(cal.day_status(d(2025, 10, 6)), DayStatus::Holiday("中秋"));
        assert_eq!(d(2025, 9, 28).weekday(), Weekday::Sun);
        assert_eq!(d(2025, 10, 11).weekday(), Weekday::Sat);
        assert_eq!(cal.day_status(d(2025, 9, 28)), DayStatus::Makeup("国庆节"));
        assert_eq!(cal.day_status(d(2025, 10, 11)), DayStatus::Makeup("国庆节"));
        assert_eq!(
            cal.working_intervals(d(2025, 10, 11)),
            cal.working_intervals(d(2025, 10, 13))
                .into_iter()
                .map(|(a, b)| (a - Duration::days(2), b - Duration::days(2)))
                .collect::<Vec<_>>()
        );
        assert!(cal.is_working_day(d(2025, 10, 9)));
        assert!(cal.is_working_day(d(2025, 9, 30)));
    }

    #[test]
    fn china_spring_festival_2026() {
        // As published in chinese-days 1.5.7 (国务院办公厅 2026 arrangement): 02-15 … 02-23 off,
        // Saturdays 02-14 and 02-28 worked.
        let cal = Calendar::china_default();
        for day in 15..=23 {
            assert_eq!(cal.day_status(d(2026, 2, day)), DayStatus::Holiday("春节"));
        }
        assert!(cal.is_working_day(d(2026, 2, 13)));
        assert!(cal.is_working_day(d(2026, 2, 24)));
        for day in [14, 28] {
            assert_eq!(d(2026, 2, day).weekday(), Weekday::Sat);
            assert_eq!(cal.day_status(d(2026, 2, day)), DayStatus::Makeup("春节"));
        }
        // 2015-09-03, the one-off 70th-anniversary holiday, is there too.
        assert!(!cal.is_working_day(d(2015, 9, 3)));
    }

    fn ics_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("BEGIN:VCALENDAR".to_string()),
            Just("END:VCALENDAR".to_string()),
            Just("BEGIN:VEVENT".to_string()),
            Just("END:VEVENT".to_string()),
            Just("BEGIN:VALARM".to_string()),
            Just("END:VALARM".to_string()),
            Just("RRULE:FREQ=YEARLY".to_string()),
            Just("STATUS:CANCELLED".to_string()),
            "DTSTART;VALUE=DATE:[0-9]{6,9}",
            "DTEND;VALUE=DATE:[0-9]{8}",
            "DTSTART:[0-9T]{0,16}",
            "DURATION:[+-]?P[0-9]{0,8}[DWTH]?",
            "SUMMARY:[班休a-zA-Z\\\\,;:\" ]{0,12}",
            "[ \t][a-z:;\"=]{0,8}",
            "[A-Z;=\":]{0,12}",
        ]
    }

    fn csv_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("date,kind,name".to_string()),
            "[0-9]{4}-[0-9]{2}-[0-9]{2},(holiday|workday|班|休|x),[a-z\",]{0,6}",
            "[0-9,\"\r#-]{0,20}",
            ".{0,20}",
        ]
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_strings(s in ".{0,400}") {
            let _ = parse_csv(&s);
            let _ = parse_ics(&s);
        }

        #[test]
        fn parsers_never_panic_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = text_from_bytes(&b);
            let s = String::from_utf8_lossy(&b);
            let _ = parse_csv(&s);
            let _ = parse_ics(&s);
        }

        #[test]
        fn ics_parser_never_panics_on_icalendar_like_input(
            lines in proptest::collection::vec(ics_line(), 0..30),
            crlf in any::<bool>(),
        ) {
            let text = lines.join(if crlf { "\r\n" } else { "\n" });
            if let Ok(days) = parse_ics(&text) {
                // Whatever was accepted is a valid set of special days.
                let cal = Calendar::new(CalendarSpec { days, ..office_spec() });
                prop_assert!(cal.is_ok());
            }
        }

        #[test]
        fn csv_parser_never_panics_and_errors_point_at_lines(
            lines in proptest::collection::vec(csv_line(), 0..30),
        ) {
            let text = lines.join("\n");
            match parse_csv(&text) {
                Ok(days) => {
                    let cal = Calendar::new(CalendarSpec { days: days.clone(), ..office_spec() });
                    prop_assert!(cal.is_ok());
                    prop_assert_eq!(parse_csv(&to_csv(&days)).unwrap(), days);
                }
                Err(e) => {
                    prop_assert!(!e.0.is_empty());
                    let max_line = text.split('\n').count().max(1);
                    prop_assert!(e.0.iter().all(|x| (1..=max_line).contains(&x.line)));
                }
            }
        }
    }
}
