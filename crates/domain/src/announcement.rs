//! Announcements (R-7.2c, publishing service-related information): planned maintenance,
//! outages and notices, with a time window, the services they affect and their audience.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What an announcement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 计划维护
    Maintenance,
    /// 服务中断
    Outage,
    /// 通知
    Notice,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Maintenance, Kind::Outage, Kind::Notice];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Maintenance => "maintenance",
            Kind::Outage => "outage",
            Kind::Notice => "notice",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How far ahead an announcement counts as upcoming (and so as current).
pub const UPCOMING_DAYS: i64 = 7;

/// Title length limit, in characters.
pub const TITLE_MAX: usize = 200;
/// Body length limit, in characters.
pub const BODY_MAX: usize = 20_000;

/// The latest start an announcement may have and still count as current at `now`.
pub fn upcoming_horizon(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(UPCOMING_DAYS)
}

/// Is the announcement in force at `now` (within `[starts_at, ends_at]`, open-ended without
/// an end), or does it start within the next [`UPCOMING_DAYS`] days?
pub fn is_current(
    now: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
) -> bool {
    starts_at <= upcoming_horizon(now) && ends_at.is_none_or(|e| e >= now)
}

/// The window is valid when it does not end before it starts.
pub fn window_ok(starts_at: DateTime<Utc>, ends_at: Option<DateTime<Utc>>) -> bool {
    ends_at.is_none_or(|e| e >= starts_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, d, h, 0, 0).unwrap()
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("party"), None);
    }

    #[test]
    fn current_means_in_force_or_starting_within_a_week() {
        let now = at(10, 12);
        // In force.
        assert!(is_current(now, at(10, 8), Some(at(10, 18))));
        assert!(is_current(now, at(1, 0), None));
        assert!(is_current(now, at(10, 12), Some(at(10, 12))));
        // Over.
        assert!(!is_current(now, at(9, 8), Some(at(10, 11))));
        // Upcoming within seven days, and not beyond.
        assert!(is_current(now, at(17, 12), Some(at(18, 0))));
        assert!(!is_current(now, at(17, 13), None));
    }

    #[test]
    fn windows_do_not_end_before_they_start() {
        assert!(window_ok(at(1, 0), None));
        assert!(window_ok(at(1, 0), Some(at(1, 0))));
        assert!(!window_ok(at(2, 0), Some(at(1, 23))));
    }
}
