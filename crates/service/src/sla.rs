//! SLA on tickets (R-7.5.2c, R-10.6.3): business calendars, SLA policies, ticket deadlines and
//! their explanation.
//!
//! * A **calendar** says when the service desk works (see `yunwei_domain::calendar`); it is
//!   created from the China default, office hours or 24×7, and holidays come from the China
//!   data or from an imported CSV/iCalendar file (bad lines are reported with their numbers).
//! * A **policy** gives, per priority, the response and resolution targets in business minutes
//!   on its calendar. One policy is the default; new tickets get it. On first use the calendar
//!   「中国大陆工作日历」 and the policy 「标准 SLA」 (P1 15 min / 4 h, P2 30 min / 8 h,
//!   P3 2 h / 24 h, P4 4 h / 40 h) are created.
//! * **Deadlines** run from the ticket's creation. The response clock stops at the first
//!   response. The resolution clock pauses while the ticket is pending in a sub-status that
//!   stops it (seeded: waiting for the customer or a vendor, not waiting for a change; the flag
//!   is recorded on each status event, see [`pauses_from_events`]), and for the time a resolution waited for
//!   confirmation when the requester then rejected it. Until a ticket is prioritised the P4
//!   targets apply; triage recomputes everything from the creation time. Deadlines are
//!   recomputed and stored, in the changing transaction, whenever a ticket is created, moves
//!   through the flow or has its priority changed, and the worker's jobs (warning, breach,
//!   auto-confirmation) are scheduled in that same transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yunwei_domain::calendar::{
    self, Calendar, CalendarError, CalendarSpec, DayKind, ImportErrors, SpecialDay, WeeklyHours,
    WorkInterval,
};
use yunwei_domain::sla::{self as dsla, Pause, SkipKind, SlaError};
use yunwei_domain::ticket::Status;
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Lang};
use yunwei_store::sla::{self as ssla, CalendarRow, SlaPolicy};
use yunwei_store::tickets::{self, Event, Ticket};
use yunwei_store::{audit, jobs, orgs, settings, StoreError, Tx};

use crate::{snapshot, Actor, App, Error, Result};

/// The name of the calendar created on first use.
pub const DEFAULT_CALENDAR_NAME: &str = "中国大陆工作日历";
/// The name of the policy created on first use.
pub const DEFAULT_POLICY_NAME: &str = "标准 SLA";
/// The first-use policy's (response, resolution) targets in minutes, P1 … P4.
pub const DEFAULT_TARGETS: [(i64, i64); 4] = [(15, 240), (30, 480), (120, 1440), (240, 2400)];
/// Set once the first-use calendar and policy were created (so renaming them does not bring
/// them back).
const DEFAULTS_KEY: &str = "sla_defaults";
/// The longest target accepted: a year of minutes.
const MAX_TARGET_MINUTES: i64 = 366 * 24 * 60;

/// Job kinds of the worker.
pub const JOB_SLA_CHECK: &str = "sla_check";
pub const JOB_AUTO_CONFIRM: &str = "auto_confirm";

// ---------------------------------------------------------------------------------------------
// Views and inputs
// ---------------------------------------------------------------------------------------------

/// A business calendar without its list of special days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarSummary {
    pub id: Uuid,
    pub name: String,
    /// Local time = UTC + this many minutes (480 for China).
    pub utc_offset_minutes: i32,
    /// Working hours Monday first, seven lists of `HH:MM-HH:MM`.
    pub week: Vec<Vec<String>>,
    /// Whose hours make-up working days (调休上班) work: mon … sun.
    pub makeup_hours_from: String,
    /// How many holidays are listed.
    pub holidays: usize,
    /// How many make-up working days are listed.
    pub makeup_workdays: usize,
    /// The first and last year with listed days, if any: past the last one, deadlines know no
    /// holidays.
    pub first_year: Option<i32>,
    pub last_year: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A business calendar with its holidays and make-up working days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarDetail {
    #[serde(flatten)]
    pub summary: CalendarSummary,
    pub days: Vec<DayInput>,
}

/// A holiday or a make-up working day.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayInput {
    pub date: NaiveDate,
    /// `holiday` or `workday` (a make-up working day, 调休上班).
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// A file of holidays and make-up working days.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarImport {
    /// `csv` (a `date,kind,name` header, then lines like `2025-10-01,holiday,国庆节`; kinds
    /// holiday/workday or 休/班) or `ics` (iCalendar all-day events; 班 or 补班 in the summary
    /// marks a make-up working day).
    pub format: String,
    pub text: String,
    /// Drop the calendar's listed days first. Default: merge, the file winning on the dates it
    /// lists.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendar {
    pub name: String,
    /// Starting point: `china_default` (default: Monday–Friday 09:00–12:00 and 13:00–18:00 at
    /// UTC+8 with China's public holidays and make-up working days), `office` (the same hours,
    /// no holidays) or `always` (24×7 at UTC+8, no holidays).
    pub base: Option<String>,
    pub utc_offset_minutes: Option<i32>,
    /// Working hours Monday first: seven lists of `HH:MM-HH:MM`.
    pub week: Option<Vec<Vec<String>>>,
    /// mon … sun.
    pub makeup_hours_from: Option<String>,
    /// Holidays and make-up days to import onto the base.
    pub import: Option<CalendarImport>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarPatch {
    pub name: Option<String>,
    pub utc_offset_minutes: Option<i32>,
    pub week: Option<Vec<Vec<String>>>,
    pub makeup_hours_from: Option<String>,
    /// Replaces every listed holiday and make-up working day.
    pub days: Option<Vec<DayInput>>,
}

/// An imported file was refused, or something else went wrong.
#[derive(Debug)]
pub enum CalendarWriteError {
    /// Lines of the imported file are wrong (answer `import_failed` with them).
    Import(ImportErrors),
    Other(Error),
}

impl From<Error> for CalendarWriteError {
    fn from(e: Error) -> Self {
        CalendarWriteError::Other(e)
    }
}
impl From<DomainError> for CalendarWriteError {
    fn from(e: DomainError) -> Self {
        CalendarWriteError::Other(e.into())
    }
}
impl From<StoreError> for CalendarWriteError {
    fn from(e: StoreError) -> Self {
        CalendarWriteError::Other(e.into())
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSlaPolicy {
    pub name: String,
    /// Default: the default policy's calendar.
    pub calendar_id: Option<Uuid>,
    /// Minutes of business time, each 1 … 527040; response at most resolution.
    pub p1_response_minutes: i64,
    pub p1_resolution_minutes: i64,
    pub p2_response_minutes: i64,
    pub p2_resolution_minutes: i64,
    pub p3_response_minutes: i64,
    pub p3_resolution_minutes: i64,
    pub p4_response_minutes: i64,
    pub p4_resolution_minutes: i64,
    /// Make it the default for new tickets (the previous default stops being one).
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyPatch {
    pub name: Option<String>,
    pub calendar_id: Option<Uuid>,
    pub p1_response_minutes: Option<i64>,
    pub p1_resolution_minutes: Option<i64>,
    pub p2_response_minutes: Option<i64>,
    pub p2_resolution_minutes: Option<i64>,
    pub p3_response_minutes: Option<i64>,
    pub p3_resolution_minutes: Option<i64>,
    pub p4_response_minutes: Option<i64>,
    pub p4_resolution_minutes: Option<i64>,
    /// Only `true`: make another policy the default to stop this one being it.
    pub is_default: Option<bool>,
}

/// How a ticket's SLA stands and how its deadlines came about.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlaExplanation {
    pub number: String,
    pub policy_id: Uuid,
    pub policy_name: String,
    pub calendar_id: Uuid,
    pub calendar_name: String,
    /// The ticket's priority; absent until prioritised.
    pub priority: Option<i64>,
    /// The priority whose targets apply (4 until the ticket is prioritised).
    pub target_priority: i64,
    pub response: SlaClock,
    pub resolution: SlaClock,
    pub warned_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    /// A deadline lies past the last year whose holidays the calendar lists.
    pub holidays_outdated: bool,
    /// The instant the explanation was made for.
    pub now: DateTime<Utc>,
}

/// One SLA clock (response or resolution).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlaClock {
    /// running, paused, met, breached or stopped (cancelled before it was met).
    pub state: String,
    /// The target in seconds of business time.
    pub target_seconds: i64,
    pub started_at: DateTime<Utc>,
    /// Absent while the clock is paused (see `text_*` for the deadline if work resumed now).
    pub due_at: Option<DateTime<Utc>>,
    /// The first response, or the resolution.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Business time used until `stopped_at` or now.
    pub elapsed_seconds: i64,
    /// Target minus elapsed; negative when overdue.
    pub remaining_seconds: i64,
    /// Business time by which pauses pushed the deadline out.
    pub paused_business_seconds: i64,
    /// Wall-clock time inside pauses before the deadline.
    pub paused_wall_seconds: i64,
    pub pauses: Vec<PauseView>,
    /// Non-working days between start and deadline.
    pub skipped: Vec<SkippedView>,
    pub text_zh: String,
    pub text_en: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PauseView {
    pub from: DateTime<Utc>,
    /// Absent: still paused.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SkippedView {
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// holiday, weekend or day_off.
    pub kind: String,
    /// The holidays' names.
    pub names: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------------------------

const WEEKDAY_CODES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday_code(d: Weekday) -> &'static str {
    WEEKDAY_CODES[d.num_days_from_monday() as usize]
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    let i = WEEKDAY_CODES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(s.trim()))?;
    Some(
        [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ][i],
    )
}

fn office_hours() -> WeeklyHours {
    WeeklyHours::mon_to_fri(&[
        WorkInterval::hm(9, 0, 12, 0),
        WorkInterval::hm(13, 0, 18, 0),
    ])
}

fn parse_week(week: &[Vec<String>]) -> Result<WeeklyHours> {
    if week.len() != 7 {
        return Err(DomainError::invalid("week").into());
    }
    let mut w = WeeklyHours::none();
    for (day, ivs) in w.0.iter_mut().zip(week) {
        if ivs.len() > 24 {
            return Err(DomainError::invalid("week").into());
        }
        for s in ivs {
            day.push(WorkInterval::parse(s).ok_or_else(|| DomainError::invalid("week"))?);
        }
    }
    Ok(w)
}

fn parse_days(days: &[DayInput]) -> Result<Vec<SpecialDay>> {
    if days.len() > 20_000 {
        return Err(DomainError::invalid("days").into());
    }
    days.iter()
        .map(|d| {
            let kind = DayKind::parse(&d.kind).ok_or_else(|| DomainError::invalid("days"))?;
            let name = d.name.trim();
            if name.chars().count() > calendar::MAX_NAME_CHARS || name.chars().any(char::is_control)
            {
                return Err(DomainError::invalid("days").into());
            }
            Ok(SpecialDay {
                date: d.date,
                kind,
                name: name.to_string(),
            })
        })
        .collect()
}

/// Validate a spec into a calendar; errors name the field concerned.
fn build_calendar(spec: CalendarSpec) -> Result<Calendar> {
    let cal = Calendar::new(spec).map_err(|e| {
        DomainError::invalid(match e {
            CalendarError::UtcOffsetOutOfRange(_) => "utc_offset_minutes",
            CalendarError::BadInterval { .. } | CalendarError::Overlap { .. } => "week",
            CalendarError::ConflictingDay(_) => "days",
            CalendarError::MakeupWeekdayWithoutHours(_) => "makeup_hours_from",
        })
    })?;
    if !cal.has_working_time() {
        return Err(DomainError::invalid("week").into());
    }
    Ok(cal)
}

fn parse_import(imp: &CalendarImport) -> std::result::Result<Vec<SpecialDay>, CalendarWriteError> {
    let parsed = match imp.format.trim() {
        "csv" => calendar::parse_csv(&imp.text),
        "ics" => calendar::parse_ics(&imp.text),
        _ => return Err(DomainError::invalid("format").into()),
    };
    parsed.map_err(CalendarWriteError::Import)
}

/// Merge imported days into a spec: the file wins on the dates it lists.
fn merge_days(spec: &mut CalendarSpec, imported: Vec<SpecialDay>, replace: bool) {
    if replace {
        spec.days.clear();
    }
    let dates: std::collections::HashSet<NaiveDate> = imported.iter().map(|d| d.date).collect();
    spec.days.retain(|d| !dates.contains(&d.date));
    spec.days.extend(imported);
    spec.days.sort_by_key(|d| d.date);
}

fn spec_of(row: &CalendarRow) -> Result<CalendarSpec> {
    serde_json::from_str(&row.spec_json)
        .map_err(|e| Error::Internal(format!("calendar {}: bad spec: {e}", row.id)))
}

fn calendar_of(row: &CalendarRow) -> Result<Calendar> {
    Calendar::new(spec_of(row)?)
        .map_err(|e| Error::Internal(format!("calendar {}: invalid: {e}", row.id)))
}

fn summary(row: &CalendarRow, cal: &Calendar) -> CalendarSummary {
    let week = cal
        .weekly_hours()
        .0
        .iter()
        .map(|d| d.iter().map(|iv| iv.to_string()).collect())
        .collect();
    let years = cal
        .holidays()
        .map(|(d, _)| d)
        .chain(cal.makeup_workdays().map(|(d, _)| d));
    let (mut first, mut last) = (None::<i32>, None::<i32>);
    for d in years {
        use chrono::Datelike;
        first = Some(first.map_or(d.year(), |f| f.min(d.year())));
        last = Some(last.map_or(d.year(), |l| l.max(d.year())));
    }
    CalendarSummary {
        id: row.id,
        name: row.name.clone(),
        utc_offset_minutes: cal.utc_offset_minutes(),
        week,
        makeup_hours_from: weekday_code(cal.makeup_hours_from()).into(),
        holidays: cal.holidays().count(),
        makeup_workdays: cal.makeup_workdays().count(),
        first_year: first,
        last_year: last,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn detail(row: &CalendarRow, cal: &Calendar) -> CalendarDetail {
    CalendarDetail {
        summary: summary(row, cal),
        days: cal
            .spec()
            .days
            .into_iter()
            .map(|d| DayInput {
                date: d.date,
                kind: d.kind.as_str().into(),
                name: d.name,
            })
            .collect(),
    }
}

fn check_targets(p: &SlaPolicy) -> Result<()> {
    let pairs = [
        (
            p.p1_response_minutes,
            p.p1_resolution_minutes,
            "p1_response_minutes",
            "p1_resolution_minutes",
        ),
        (
            p.p2_response_minutes,
            p.p2_resolution_minutes,
            "p2_response_minutes",
            "p2_resolution_minutes",
        ),
        (
            p.p3_response_minutes,
            p.p3_resolution_minutes,
            "p3_response_minutes",
            "p3_resolution_minutes",
        ),
        (
            p.p4_response_minutes,
            p.p4_resolution_minutes,
            "p4_response_minutes",
            "p4_resolution_minutes",
        ),
    ];
    for (resp, res, fresp, fres) in pairs {
        if !(1..=MAX_TARGET_MINUTES).contains(&res) {
            return Err(DomainError::invalid(fres).into());
        }
        if !(1..=res).contains(&resp) {
            return Err(DomainError::invalid(fresp).into());
        }
    }
    Ok(())
}

/// Does the ticket wait in a state that stops the resolution clock? The rule of events
/// written before sub-statuses carried their own flag (see [`pauses_from_events`]).
fn pausing(status: &str, sub_status: Option<&str>) -> bool {
    status == Status::Pending.as_str()
        && matches!(sub_status, Some("waiting_customer" | "waiting_vendor"))
}

/// The resolution clock's pauses from a ticket's timeline (status changes carry
/// `{from, to, sub_status, pauses_sla}`): pending in a sub-status that stopped the clock when
/// the ticket entered it (`pauses_sla`, snapshotted from the administrators' sub-status
/// table, so later changes to the table do not rewrite history; events without the flag
/// follow the built-in rule: waiting for the customer or a vendor), and a resolution's wait
/// for confirmation when the requester rejected it. A pause still running is open-ended.
pub fn pauses_from_events(events: &[Event]) -> Vec<Pause> {
    let mut out = Vec::new();
    // (since, waiting-for-confirmation)
    let mut open: Option<(DateTime<Utc>, bool)> = None;
    for e in events {
        let Some(data) = e
            .data_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        else {
            continue;
        };
        let Some(to) = data
            .get("to")
            .and_then(|v| v.as_str())
            .filter(|s| Status::parse(s).is_some())
        else {
            continue;
        };
        let sub = data.get("sub_status").and_then(|v| v.as_str());
        if let Some((since, confirming)) = open.take() {
            // A wait for confirmation counts as a pause only when the resolution was rejected.
            if !confirming || to == Status::InProgress.as_str() {
                out.push(Pause::closed(since, e.at));
            }
        }
        let pauses = match data.get("pauses_sla").and_then(|v| v.as_bool()) {
            Some(flag) => flag && to == Status::Pending.as_str(),
            None => pausing(to, sub),
        };
        if pauses {
            open = Some((e.at, false));
        } else if to == Status::Resolved.as_str() {
            open = Some((e.at, true));
        }
    }
    if let Some((since, false)) = open {
        out.push(Pause::open(since));
    }
    out
}

/// The business time at which the warning is due: `percent` of the target, rounded up to
/// the millisecond.
pub fn warn_threshold(target: Duration, percent: u8) -> Duration {
    let ms = target.num_milliseconds().max(0);
    Duration::milliseconds((ms * i64::from(percent.min(100)) + 99) / 100)
}

/// When a resolved ticket is closed for a silent requester: at the end of the `days`-th
/// working day after the (local) day it was resolved. None when the calendar has no such day
/// within its horizon.
pub fn auto_confirm_at(
    cal: &Calendar,
    resolved_at: DateTime<Utc>,
    days: u32,
) -> Option<DateTime<Utc>> {
    if days == 0 {
        return Some(resolved_at);
    }
    let mut d = cal.local_date(resolved_at)?;
    let mut n = 0;
    for _ in 0..dsla::HORIZON_DAYS {
        d = d.succ_opt()?;
        if cal.is_working_day(d) {
            n += 1;
            if n == days {
                return cal.working_intervals_utc(d).last().map(|(_, end)| end);
            }
        }
    }
    None
}

/// Round up to the microsecond (what the stores keep), so a job never runs before its time.
fn ceil_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let down = yunwei_domain::audit::truncate_to_micros(t);
    if down < t {
        down + Duration::microseconds(1)
    } else {
        down
    }
}

/// A ticket's deadlines under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub response_due: Option<DateTime<Utc>>,
    /// None while the resolution clock is paused.
    pub resolution_due: Option<DateTime<Utc>>,
    /// When the warning share of the resolution target is used up.
    pub warn_at: Option<DateTime<Utc>>,
}

/// The priority whose targets apply.
pub fn target_priority(t: &Ticket) -> i64 {
    t.priority.filter(|p| (1..=4).contains(p)).unwrap_or(4)
}

pub fn targets(policy: &SlaPolicy, t: &Ticket) -> (Duration, Duration) {
    let (resp, res) = policy.targets(target_priority(t));
    (Duration::minutes(resp), Duration::minutes(res))
}

pub fn deadlines(
    cal: &Calendar,
    policy: &SlaPolicy,
    t: &Ticket,
    pauses: &[Pause],
    warn_percent: u8,
) -> Deadlines {
    let (resp, res) = targets(policy, t);
    let start = t.created_at;
    let at = |d: Duration, ps: &[Pause]| {
        dsla::add_business_duration(cal, start, d, ps)
            .ok()
            .map(ceil_micros)
    };
    Deadlines {
        response_due: at(resp, &[]),
        resolution_due: at(res, pauses),
        warn_at: at(warn_threshold(res, warn_percent), pauses),
    }
}

fn local(cal: &Calendar, t: DateTime<Utc>) -> String {
    cal.to_local(t)
        .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| t.to_rfc3339())
}

fn hms(d: Duration) -> (i64, i64, i64) {
    let s = d.num_seconds().max(0);
    (s / 3600, s % 3600 / 60, s % 60)
}

fn fmt_duration(d: Duration, lang: Lang) -> String {
    let (h, m, s) = hms(d);
    let (uh, um, us) = match lang {
        Lang::Zh => (" 小时", " 分钟", " 秒"),
        Lang::En => (" h", " min", " s"),
    };
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}{uh}"));
    }
    if m > 0 {
        parts.push(format!("{m}{um}"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s}{us}"));
    }
    parts.join(" ")
}

fn secs(d: Duration) -> i64 {
    d.num_seconds()
}

/// One clock explained, at `now`. `stopped_at`: when it was met (first response, resolution).
#[allow(clippy::too_many_arguments)]
fn explain_clock(
    cal: &Calendar,
    start: DateTime<Utc>,
    target: Duration,
    pauses: &[Pause],
    stopped_at: Option<DateTime<Utc>>,
    cancelled: bool,
    now: DateTime<Utc>,
    what: (&str, &str),
) -> SlaClock {
    let end = stopped_at.unwrap_or(now);
    let elapsed = dsla::business_elapsed(cal, start, end, pauses);
    let pause_views = pauses
        .iter()
        .map(|p| PauseView {
            from: p.from,
            to: p.to,
        })
        .collect();
    let mut clock = SlaClock {
        state: String::new(),
        target_seconds: secs(target),
        started_at: start,
        due_at: None,
        stopped_at,
        elapsed_seconds: secs(elapsed),
        remaining_seconds: secs(target - elapsed),
        paused_business_seconds: 0,
        paused_wall_seconds: 0,
        pauses: pause_views,
        skipped: vec![],
        text_zh: String::new(),
        text_en: String::new(),
    };
    let fill = |clock: &mut SlaClock, e: &dsla::Explanation| {
        clock.paused_business_seconds = secs(e.paused_business);
        clock.paused_wall_seconds = secs(e.paused_wall);
        clock.skipped = e
            .skipped
            .iter()
            .map(|r| SkippedView {
                first: r.first,
                last: r.last,
                kind: match r.kind {
                    SkipKind::Holiday => "holiday",
                    SkipKind::Weekend => "weekend",
                    SkipKind::DayOff => "day_off",
                }
                .into(),
                names: r.names.clone(),
            })
            .collect();
    };
    match dsla::explain(cal, start, target, pauses) {
        Ok(e) => {
            fill(&mut clock, &e);
            clock.due_at = Some(ceil_micros(e.deadline));
            clock.state = match stopped_at {
                Some(s) if s <= e.deadline => "met",
                Some(_) => "breached",
                None if cancelled => "stopped",
                None if now > e.deadline => "breached",
                None => "running",
            }
            .into();
            clock.text_zh = format!("{}：{}", what.0, e.render_zh());
            clock.text_en = format!("{}: {}", what.1, e.render_en());
        }
        Err(SlaError::Suspended { since, remaining }) => {
            // Paused now: show where the deadline would be if work resumed at this moment.
            let resumed: Vec<Pause> = pauses
                .iter()
                .map(|p| Pause {
                    from: p.from,
                    to: Some(p.to.unwrap_or(now.max(p.from))),
                })
                .collect();
            clock.state = if cancelled { "stopped" } else { "paused" }.into();
            let (zh_if, en_if) = match dsla::explain(cal, start, target, &resumed) {
                Ok(e) => {
                    fill(&mut clock, &e);
                    (
                        format!("；如现在恢复处理，{}", e.render_zh()),
                        format!("; if work resumed now, {}", e.render_en()),
                    )
                }
                Err(_) => (String::new(), String::new()),
            };
            clock.text_zh = format!(
                "{}：计时自 {} 起暂停，剩余 {}工作时间{zh_if}",
                what.0,
                local(cal, since),
                fmt_duration(remaining, Lang::Zh)
            );
            clock.text_en = format!(
                "{}: the clock is paused since {}, {} of business time remain{en_if}",
                what.1,
                local(cal, since),
                fmt_duration(remaining, Lang::En)
            );
        }
        Err(e) => {
            clock.state = "stopped".into();
            clock.text_zh = format!("{}：无法计算到期时间（{e}）", what.0);
            clock.text_en = format!("{}: no deadline can be given ({e})", what.1);
        }
    }
    clock
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// A policy with its calendar, ready for arithmetic.
pub(crate) struct Sla {
    pub policy: SlaPolicy,
    pub calendar: std::sync::Arc<Calendar>,
    pub calendar_name: String,
}

/// The policy `id` (or the default) with its calendar, read inside the transaction; creates
/// the first-use defaults when there are none yet.
pub(crate) async fn sla_in_tx(
    app: &App,
    tx: &mut Tx,
    id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<Sla>> {
    let mut policy = match id {
        Some(id) => ssla::get_policy(&mut *tx, id).await?,
        None => None,
    };
    if policy.is_none() {
        policy = ssla::default_policy(&mut *tx).await?;
    }
    if policy.is_none() && app.create_defaults(tx, now).await? {
        policy = ssla::default_policy(&mut *tx).await?;
    }
    let Some(policy) = policy else {
        return Ok(None);
    };
    let row = ssla::get_calendar(&mut *tx, policy.calendar_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("policy {} without calendar", policy.id)))?;
    Ok(Some(Sla {
        calendar: app.calendars.calendar(&row)?,
        calendar_name: row.name,
        policy,
    }))
}

/// The same, read from the pool (no transaction held); None without any policy.
pub(crate) async fn sla_in_db(app: &App, id: Option<Uuid>) -> Result<Option<Sla>> {
    let db = &app.db;
    let mut policy = match id {
        Some(id) => ssla::get_policy(db, id).await?,
        None => None,
    };
    if policy.is_none() {
        policy = ssla::default_policy(db).await?;
    }
    let Some(policy) = policy else {
        return Ok(None);
    };
    let row = ssla::get_calendar(db, policy.calendar_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("policy {} without calendar", policy.id)))?;
    Ok(Some(Sla {
        calendar: app.calendars.calendar(&row)?,
        calendar_name: row.name,
        policy,
    }))
}

/// The job payload naming a ticket.
pub(crate) fn ticket_payload(id: Uuid) -> String {
    serde_json::json!({ "ticket_id": id }).to_string()
}

fn name_taken(e: StoreError) -> Error {
    if matches!(e, StoreError::Unique(_)) {
        DomainError::field(ErrorCode::NameTaken, "name").into()
    } else {
        e.into()
    }
}

// ---------------------------------------------------------------------------------------------
// Use cases
// ---------------------------------------------------------------------------------------------

impl App {
    /// The system actor inside a transaction (provider organization, or none yet).
    pub(crate) async fn system_in_tx(&self, tx: &mut Tx) -> Result<Actor> {
        let org = orgs::provider_org(&mut *tx)
            .await?
            .map(|o| o.id)
            .unwrap_or_default();
        Ok(Actor::system(org))
    }

    /// Create the first-use calendar and policy unless that was done before; true when this
    /// call created them. Runs inside the caller's transaction.
    async fn create_defaults(&self, tx: &mut Tx, now: DateTime<Utc>) -> Result<bool> {
        if !settings::insert_if_absent(tx, DEFAULTS_KEY, &now.to_rfc3339()).await? {
            return Ok(false);
        }
        let sys = self.system_in_tx(tx).await?;
        let existing = ssla::list_calendars(&mut *tx).await?;
        let cal = match existing
            .into_iter()
            .find(|c| c.name == DEFAULT_CALENDAR_NAME)
        {
            Some(c) => c,
            None => {
                let c = CalendarRow {
                    id: yunwei_domain::ids::new_id(),
                    name: DEFAULT_CALENDAR_NAME.into(),
                    spec_json: serde_json::to_string(&Calendar::china_default().spec())
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    created_at: now,
                    updated_at: now,
                };
                ssla::insert_calendar(tx, &c).await?;
                let mut e = sys.entry("create", "calendar", c.id, None);
                e.after = Some(serde_json::json!({ "id": c.id, "name": c.name }));
                audit::append(tx, e, now).await?;
                c
            }
        };
        let policies = ssla::list_policies(&mut *tx).await?;
        if policies.iter().any(|p| p.is_default) {
            return Ok(true);
        }
        if let Some(p) = policies.into_iter().find(|p| p.name == DEFAULT_POLICY_NAME) {
            let mut p2 = p.clone();
            p2.is_default = true;
            p2.updated_at = now;
            ssla::update_policy(tx, &p2).await?;
            let mut e = sys.entry("update", "sla_policy", p.id, None);
            e.before = snapshot(&p);
            e.after = snapshot(&p2);
            audit::append(tx, e, now).await?;
            return Ok(true);
        }
        let [(r1, s1), (r2, s2), (r3, s3), (r4, s4)] = DEFAULT_TARGETS;
        let p = SlaPolicy {
            id: yunwei_domain::ids::new_id(),
            name: DEFAULT_POLICY_NAME.into(),
            calendar_id: cal.id,
            p1_response_minutes: r1,
            p1_resolution_minutes: s1,
            p2_response_minutes: r2,
            p2_resolution_minutes: s2,
            p3_response_minutes: r3,
            p3_resolution_minutes: s3,
            p4_response_minutes: r4,
            p4_resolution_minutes: s4,
            is_default: true,
            created_at: now,
            updated_at: now,
        };
        ssla::insert_policy(tx, &p).await?;
        let mut e = sys.entry("create", "sla_policy", p.id, None);
        e.after = snapshot(&p);
        audit::append(tx, e, now).await?;
        Ok(true)
    }

    /// Make sure the first-use calendar and policy exist (own transaction).
    pub async fn ensure_sla_defaults(&self) -> Result<()> {
        if settings::get(&self.db, DEFAULTS_KEY).await?.is_some() {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        self.create_defaults(&mut tx, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Recompute a ticket's deadlines from its timeline (read in the transaction), store them,
    /// and schedule the worker's jobs for it. Call after the change's timeline event is added.
    pub(crate) async fn refresh_sla(
        &self,
        tx: &mut Tx,
        t: &mut Ticket,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(sla) = sla_in_tx(self, tx, t.sla_policy_id, now).await? else {
            return Ok(());
        };
        let events = tickets::events(&mut *tx, t.id, false).await?;
        let pauses = pauses_from_events(&events);
        let d = deadlines(
            &sla.calendar,
            &sla.policy,
            t,
            &pauses,
            self.settings.sla_warn_percent,
        );
        t.sla_policy_id = Some(sla.policy.id);
        t.response_due_at = d.response_due;
        t.resolution_due_at = d.resolution_due;
        tickets::update(tx, t).await?;

        let payload = ticket_payload(t.id);
        jobs::cancel_pending(tx, JOB_SLA_CHECK, &payload).await?;
        jobs::cancel_pending(tx, JOB_AUTO_CONFIRM, &payload).await?;
        let status = Status::parse(&t.status);
        let working = status.is_some_and(|s| s.is_open() && s != Status::Resolved);
        if working && t.sla_breached_at.is_none() {
            if t.sla_warned_at.is_none() {
                if let Some(w) = d.warn_at {
                    jobs::enqueue(tx, JOB_SLA_CHECK, &payload, w, now).await?;
                }
            }
            if let Some(due) = d.resolution_due {
                jobs::enqueue(tx, JOB_SLA_CHECK, &payload, due, now).await?;
            }
        }
        if status == Some(Status::Resolved) {
            if let Some(at) = t.resolved_at.and_then(|r| {
                auto_confirm_at(&sla.calendar, r, self.settings.auto_confirm_business_days)
            }) {
                jobs::enqueue(tx, JOB_AUTO_CONFIRM, &payload, ceil_micros(at), now).await?;
            }
        }
        Ok(())
    }

    pub async fn list_calendars(&self, actor: &Actor) -> Result<Vec<CalendarSummary>> {
        actor.require(Action::SlaRead)?;
        self.ensure_sla_defaults().await?;
        ssla::list_calendars(&self.db)
            .await?
            .iter()
            .map(|r| Ok(summary(r, &calendar_of(r)?)))
            .collect()
    }

    pub async fn get_calendar(&self, actor: &Actor, id: Uuid) -> Result<CalendarDetail> {
        actor.require(Action::SlaRead)?;
        let row = ssla::get_calendar(&self.db, id)
            .await?
            .ok_or_else(DomainError::not_found)?;
        Ok(detail(&row, &calendar_of(&row)?))
    }

    pub async fn create_calendar(
        &self,
        actor: &Actor,
        input: NewCalendar,
    ) -> std::result::Result<CalendarDetail, CalendarWriteError> {
        actor.require(Action::SlaWrite)?;
        let name = validate::name("name", &input.name, 100)?;
        let mut spec = match input.base.as_deref().map(str::trim) {
            None | Some("") | Some("china_default") => Calendar::china_default().spec(),
            Some("office") => CalendarSpec {
                utc_offset_minutes: 480,
                week: office_hours(),
                ..CalendarSpec::default()
            },
            Some("always") => CalendarSpec {
                utc_offset_minutes: 480,
                week: WeeklyHours::always(),
                ..CalendarSpec::default()
            },
            Some(_) => return Err(DomainError::invalid("base").into()),
        };
        if let Some(o) = input.utc_offset_minutes {
            spec.utc_offset_minutes = o;
        }
        if let Some(w) = &input.week {
            spec.week = parse_week(w)?;
        }
        if let Some(m) = &input.makeup_hours_from {
            spec.makeup_hours_from =
                parse_weekday(m).ok_or_else(|| DomainError::invalid("makeup_hours_from"))?;
        }
        if let Some(imp) = &input.import {
            let days = parse_import(imp)?;
            merge_days(&mut spec, days, imp.replace);
        }
        let cal = build_calendar(spec)?;
        let now = self.now();
        let row = CalendarRow {
            id: yunwei_domain::ids::new_id(),
            name,
            spec_json: serde_json::to_string(&cal.spec())
                .map_err(|e| Error::Internal(e.to_string()))?,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        ssla::insert_calendar(&mut tx, &row)
            .await
            .map_err(name_taken)?;
        let mut e = actor.entry("create", "calendar", row.id, None);
        e.after = snapshot(&summary(&row, &cal));
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(detail(&row, &cal))
    }

    pub async fn update_calendar(
        &self,
        actor: &Actor,
        id: Uuid,
        input: CalendarPatch,
    ) -> Result<CalendarDetail> {
        actor.require(Action::SlaWrite)?;
        let name = input
            .name
            .as_deref()
            .map(|n| validate::name("name", n, 100))
            .transpose()?;
        let week = input.week.as_deref().map(parse_week).transpose()?;
        let makeup = input
            .makeup_hours_from
            .as_deref()
            .map(|m| parse_weekday(m).ok_or_else(|| DomainError::invalid("makeup_hours_from")))
            .transpose()?;
        let days = input.days.as_deref().map(parse_days).transpose()?;
        self.change_calendar(actor, id, "update", |row, spec| {
            if let Some(n) = name {
                row.name = n;
            }
            if let Some(o) = input.utc_offset_minutes {
                spec.utc_offset_minutes = o;
            }
            if let Some(w) = week {
                spec.week = w;
            }
            if let Some(m) = makeup {
                spec.makeup_hours_from = m;
            }
            if let Some(d) = days {
                spec.days = d;
            }
        })
        .await
    }

    /// Import holidays and make-up working days from a CSV or iCalendar file.
    pub async fn import_calendar(
        &self,
        actor: &Actor,
        id: Uuid,
        input: CalendarImport,
    ) -> std::result::Result<CalendarDetail, CalendarWriteError> {
        actor.require(Action::SlaWrite)?;
        let days = parse_import(&input)?;
        let replace = input.replace;
        Ok(self
            .change_calendar(actor, id, "import", move |_, spec| {
                merge_days(spec, days, replace)
            })
            .await?)
    }

    async fn change_calendar(
        &self,
        actor: &Actor,
        id: Uuid,
        action: &str,
        change: impl FnOnce(&mut CalendarRow, &mut CalendarSpec),
    ) -> Result<CalendarDetail> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = ssla::get_calendar(&mut tx, id)
            .await?
            .ok_or_else(DomainError::not_found)?;
        let before_cal = calendar_of(&before)?;
        let mut row = before.clone();
        let mut spec = spec_of(&row)?;
        change(&mut row, &mut spec);
        let cal = build_calendar(spec)?;
        row.spec_json =
            serde_json::to_string(&cal.spec()).map_err(|e| Error::Internal(e.to_string()))?;
        row.updated_at = now;
        ssla::update_calendar(&mut tx, &row)
            .await
            .map_err(name_taken)?;
        let mut e = actor.entry(action, "calendar", row.id, None);
        e.before = snapshot(&summary(&before, &before_cal));
        e.after = snapshot(&summary(&row, &cal));
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(detail(&row, &cal))
    }

    pub async fn list_sla_policies(&self, actor: &Actor) -> Result<Vec<SlaPolicy>> {
        actor.require(Action::SlaRead)?;
        self.ensure_sla_defaults().await?;
        Ok(ssla::list_policies(&self.db).await?)
    }

    pub async fn create_sla_policy(&self, actor: &Actor, input: NewSlaPolicy) -> Result<SlaPolicy> {
        actor.require(Action::SlaWrite)?;
        let name = validate::name("name", &input.name, 100)?;
        let now = self.now();
        self.ensure_sla_defaults().await?;
        let mut tx = self.db.begin_write().await?;
        let calendar_id = match input.calendar_id {
            Some(c) => c,
            None => ssla::default_policy(&mut tx)
                .await?
                .map(|p| p.calendar_id)
                .ok_or_else(|| DomainError::invalid("calendar_id"))?,
        };
        ssla::get_calendar(&mut tx, calendar_id)
            .await?
            .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "calendar_id"))?;
        let p = SlaPolicy {
            id: yunwei_domain::ids::new_id(),
            name,
            calendar_id,
            p1_response_minutes: input.p1_response_minutes,
            p1_resolution_minutes: input.p1_resolution_minutes,
            p2_response_minutes: input.p2_response_minutes,
            p2_resolution_minutes: input.p2_resolution_minutes,
            p3_response_minutes: input.p3_response_minutes,
            p3_resolution_minutes: input.p3_resolution_minutes,
            p4_response_minutes: input.p4_response_minutes,
            p4_resolution_minutes: input.p4_resolution_minutes,
            is_default: input.is_default,
            created_at: now,
            updated_at: now,
        };
        check_targets(&p)?;
        if p.is_default {
            ssla::clear_default(&mut tx, p.id).await?;
        }
        ssla::insert_policy(&mut tx, &p).await.map_err(name_taken)?;
        let mut e = actor.entry("create", "sla_policy", p.id, None);
        e.after = snapshot(&p);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn update_sla_policy(
        &self,
        actor: &Actor,
        id: Uuid,
        input: SlaPolicyPatch,
    ) -> Result<SlaPolicy> {
        actor.require(Action::SlaWrite)?;
        let name = input
            .name
            .as_deref()
            .map(|n| validate::name("name", n, 100))
            .transpose()?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = ssla::get_policy(&mut tx, id)
            .await?
            .ok_or_else(DomainError::not_found)?;
        let mut p = before.clone();
        if let Some(n) = name {
            p.name = n;
        }
        if let Some(c) = input.calendar_id {
            ssla::get_calendar(&mut tx, c)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "calendar_id"))?;
            p.calendar_id = c;
        }
        let set = |slot: &mut i64, v: Option<i64>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut p.p1_response_minutes, input.p1_response_minutes);
        set(&mut p.p1_resolution_minutes, input.p1_resolution_minutes);
        set(&mut p.p2_response_minutes, input.p2_response_minutes);
        set(&mut p.p2_resolution_minutes, input.p2_resolution_minutes);
        set(&mut p.p3_response_minutes, input.p3_response_minutes);
        set(&mut p.p3_resolution_minutes, input.p3_resolution_minutes);
        set(&mut p.p4_response_minutes, input.p4_response_minutes);
        set(&mut p.p4_resolution_minutes, input.p4_resolution_minutes);
        check_targets(&p)?;
        match input.is_default {
            Some(true) => p.is_default = true,
            // There is always a default: it changes by making another policy the default.
            Some(false) if before.is_default => {
                return Err(DomainError::invalid("is_default").into())
            }
            _ => {}
        }
        p.updated_at = now;
        if p.is_default && !before.is_default {
            ssla::clear_default(&mut tx, p.id).await?;
        }
        ssla::update_policy(&mut tx, &p).await.map_err(name_taken)?;
        let mut e = actor.entry("update", "sla_policy", p.id, None);
        e.before = snapshot(&before);
        e.after = snapshot(&p);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// How the ticket's SLA stands and how its deadlines came about (customers: their own
    /// organization's tickets, like the ticket itself).
    pub async fn explain_sla(&self, actor: &Actor, number: &str) -> Result<SlaExplanation> {
        actor.require(Action::TicketRead)?;
        let t = match tickets::get_by_number(&self.db, number.trim()).await? {
            Some(t) if actor.scope().allows(t.org_id) => t,
            _ => return Err(DomainError::not_found().into()),
        };
        let sla = match sla_in_db(self, t.sla_policy_id).await? {
            Some(s) => s,
            None => {
                self.ensure_sla_defaults().await?;
                sla_in_db(self, None)
                    .await?
                    .ok_or_else(|| Error::Internal("no SLA policy".into()))?
            }
        };
        let now = self.now();
        let events = tickets::events(&self.db, t.id, false).await?;
        let pauses = pauses_from_events(&events);
        let (resp, res) = targets(&sla.policy, &t);
        let status = Status::parse(&t.status);
        let cancelled = status == Some(Status::Cancelled);
        let resolved = matches!(status, Some(Status::Resolved | Status::Closed));
        let response = explain_clock(
            &sla.calendar,
            t.created_at,
            resp,
            &[],
            t.first_response_at,
            cancelled,
            now,
            ("首次响应", "First response"),
        );
        let resolution = explain_clock(
            &sla.calendar,
            t.created_at,
            res,
            &pauses,
            if resolved { t.resolved_at } else { None },
            cancelled,
            now,
            ("解决", "Resolution"),
        );
        let last_listed = sla
            .calendar
            .holidays()
            .map(|(d, _)| d)
            .chain(sla.calendar.makeup_workdays().map(|(d, _)| d))
            .max();
        let holidays_outdated = match last_listed {
            None => false,
            Some(last) => [response.due_at, resolution.due_at]
                .into_iter()
                .flatten()
                .filter_map(|d| sla.calendar.local_date(d))
                .any(|d| {
                    use chrono::Datelike;
                    d.year() > last.year()
                }),
        };
        Ok(SlaExplanation {
            number: t.number.clone(),
            policy_id: sla.policy.id,
            policy_name: sla.policy.name.clone(),
            calendar_id: sla.policy.calendar_id,
            calendar_name: sla.calendar_name.clone(),
            priority: t.priority,
            target_priority: target_priority(&t),
            response,
            resolution,
            warned_at: t.sla_warned_at,
            breached_at: t.sla_breached_at,
            holidays_outdated,
            now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
            .and_utc()
            - Duration::hours(8)
    }

    fn ev(at: DateTime<Utc>, from: &str, to: &str, sub: Option<&str>) -> Event {
        Event {
            id: Uuid::now_v7(),
            ticket_id: Uuid::nil(),
            org_id: Uuid::nil(),
            at,
            actor_id: None,
            actor_name: "x".into(),
            kind: "pend".into(),
            public: true,
            body: None,
            data_json: Some(
                serde_json::json!({ "from": from, "to": to, "sub_status": sub }).to_string(),
            ),
        }
    }

    #[test]
    fn pauses_follow_the_timeline() {
        let a = cst(2025, 12, 1, 10, 0);
        let b = cst(2025, 12, 1, 11, 0);
        let c = cst(2025, 12, 1, 14, 0);
        let d = cst(2025, 12, 1, 15, 0);
        let e = cst(2025, 12, 1, 16, 0);
        let events = vec![
            ev(a, "in_progress", "pending", Some("waiting_customer")),
            ev(b, "pending", "in_progress", None),
            // waiting for a change does not stop the clock
            ev(c, "in_progress", "pending", Some("waiting_change")),
            ev(d, "pending", "resolved", None),
            ev(e, "resolved", "in_progress", None),
            ev(
                e + Duration::hours(1),
                "in_progress",
                "pending",
                Some("waiting_vendor"),
            ),
        ];
        assert_eq!(
            pauses_from_events(&events),
            vec![
                Pause::closed(a, b),
                Pause::closed(d, e),
                Pause::open(e + Duration::hours(1))
            ]
        );
        // A resolution that is confirmed is no pause; a priority change is no status change.
        let mut p = ev(d, "", "", None);
        p.data_json = Some(r#"{"from":3,"to":2}"#.into());
        let events = vec![
            p,
            ev(d, "in_progress", "resolved", None),
            ev(e, "resolved", "closed", None),
        ];
        assert!(pauses_from_events(&events).is_empty());
    }

    #[test]
    fn the_pause_flag_recorded_on_the_event_wins() {
        let a = cst(2025, 12, 1, 10, 0);
        let b = cst(2025, 12, 1, 11, 0);
        let c = cst(2025, 12, 1, 14, 0);
        let d = cst(2025, 12, 1, 15, 0);
        let flagged = |at, from: &str, to: &str, sub: &str, pauses: bool| {
            let mut x = ev(at, from, to, Some(sub));
            x.data_json = Some(
                serde_json::json!({ "from": from, "to": to, "sub_status": sub, "pauses_sla": pauses })
                    .to_string(),
            );
            x
        };
        let events = vec![
            // An administrator's sub-status that stops the clock, under any code.
            flagged(a, "in_progress", "pending", "waiting_approval", true),
            ev(b, "pending", "in_progress", None),
            // waiting_customer recorded when it did not stop the clock: no pause.
            flagged(c, "in_progress", "pending", "waiting_customer", false),
            flagged(d, "pending", "in_progress", "", false),
        ];
        assert_eq!(pauses_from_events(&events), vec![Pause::closed(a, b)]);
        // The flag only counts in the pending phase.
        let events = vec![flagged(a, "new", "in_progress", "x", true)];
        assert!(pauses_from_events(&events).is_empty());
    }

    #[test]
    fn auto_confirm_counts_working_days() {
        let cal = Calendar::china_default();
        // Monday 12-01 → Tuesday, Wednesday, Thursday: Thursday 18:00.
        assert_eq!(
            auto_confirm_at(&cal, cst(2025, 12, 1, 10, 0), 3),
            Some(cst(2025, 12, 4, 18, 0))
        );
        // Over National Day: 10-09, 10-10 and the make-up Saturday 10-11.
        assert_eq!(
            auto_confirm_at(&cal, cst(2025, 9, 30, 10, 0), 3),
            Some(cst(2025, 10, 11, 18, 0))
        );
    }

    #[test]
    fn warning_threshold_rounds_up() {
        assert_eq!(warn_threshold(Duration::hours(4), 75), Duration::hours(3));
        assert_eq!(
            warn_threshold(Duration::milliseconds(1), 75),
            Duration::milliseconds(1)
        );
        assert_eq!(warn_threshold(Duration::hours(1), 200), Duration::hours(1));
    }
}

/// This node's parsed calendars: id → (the spec JSON it was parsed from, the calendar). A
/// calendar is parsed again only when its stored JSON differs (compared as text, far cheaper
/// than parsing and validating it on every ticket creation).
#[derive(Debug, Default)]
pub struct CalendarCache {
    map: std::sync::Mutex<std::collections::HashMap<Uuid, (String, std::sync::Arc<Calendar>)>>,
}

impl CalendarCache {
    /// The calendar of this stored row, parsed once per version.
    pub(crate) fn calendar(&self, row: &CalendarRow) -> Result<std::sync::Arc<Calendar>> {
        {
            let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((spec, cal)) = m.get(&row.id) {
                if *spec == row.spec_json {
                    return Ok(cal.clone());
                }
            }
        }
        let cal = std::sync::Arc::new(calendar_of(row)?);
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= 256 {
            m.clear();
        }
        m.insert(row.id, (row.spec_json.clone(), cal.clone()));
        Ok(cal)
    }
}

impl App {
    /// A new ticket's SLA, computed before it is inserted: sets its policy and due times and
    /// returns the jobs to schedule for it (kind, payload, run at). `created` is its first
    /// timeline event (a new ticket has no pauses and no jobs yet, so nothing to cancel).
    pub(crate) fn sla_for_new_ticket(
        &self,
        sla: &Sla,
        t: &mut Ticket,
        created: &Event,
    ) -> Vec<(&'static str, String, DateTime<Utc>)> {
        let pauses = pauses_from_events(std::slice::from_ref(created));
        let d = deadlines(
            &sla.calendar,
            &sla.policy,
            t,
            &pauses,
            self.settings.sla_warn_percent,
        );
        t.sla_policy_id = Some(sla.policy.id);
        t.response_due_at = d.response_due;
        t.resolution_due_at = d.resolution_due;
        let payload = ticket_payload(t.id);
        let status = Status::parse(&t.status);
        let working = status.is_some_and(|s| s.is_open() && s != Status::Resolved);
        let mut jobs = Vec::new();
        if working && t.sla_breached_at.is_none() {
            if t.sla_warned_at.is_none() {
                if let Some(w) = d.warn_at {
                    jobs.push((JOB_SLA_CHECK, payload.clone(), w));
                }
            }
            if let Some(due) = d.resolution_due {
                jobs.push((JOB_SLA_CHECK, payload, due));
            }
        }
        jobs
    }
}
