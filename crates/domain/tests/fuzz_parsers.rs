//! Fuzzing of the parsers of outside data that live in the domain crate (issue 5, item 7):
//! the special-days CSV and iCalendar imports, their byte decoding, and working-hour
//! intervals. cargo-fuzz needs a nightly toolchain these machines cannot fetch, so this uses
//! proptest's generators in a time-bounded loop: random bytes, random Unicode, and inputs
//! built from each format's own vocabulary (which reach far deeper than random text).
//!
//! Each target runs for `YUNWEI_FUZZ_SECS` seconds (default 30 under `CI=true`, 3 otherwise);
//! the long mode in docs/reliability.md sets it to 600. A failure is shrunk to a minimal input
//! and printed.
//!
//! Properties: no input panics; every error names a line that exists; whatever parses gives
//! sorted, unique dates with names within the limit, and builds a valid calendar; the CSV
//! writer's output parses back to the same days.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use yunwei_domain::calendar::{
    parse_csv, parse_ics, text_from_bytes, to_csv, Calendar, CalendarSpec, DayKind, ImportErrors,
    SpecialDay, WeeklyHours, WorkInterval, MAX_NAME_CHARS,
};
use yunwei_fuzzkit::fuzz;

fn lines_in(text: &str) -> usize {
    text.split('\n').count().max(1)
}

/// Errors must point at a line of the input.
fn check_errors(text: &str, e: &ImportErrors) -> Result<(), TestCaseError> {
    prop_assert!(!e.0.is_empty(), "an Err without errors");
    for err in &e.0 {
        prop_assert!(
            err.line >= 1 && err.line <= lines_in(text),
            "error on line {} of {} lines: {:?}",
            err.line,
            lines_in(text),
            err
        );
        // The messages render in both languages without panicking.
        let _ = err.message(yunwei_domain::Lang::Zh);
        let _ = err.message(yunwei_domain::Lang::En);
    }
    Ok(())
}

/// What a successful import must look like.
fn check_days(days: &[SpecialDay]) -> Result<(), TestCaseError> {
    for w in days.windows(2) {
        prop_assert!(w[0].date < w[1].date, "days not sorted/unique: {:?}", w);
    }
    for d in days {
        prop_assert!(d.name.chars().count() <= MAX_NAME_CHARS);
    }
    // Office hours, so that make-up working days have hours to work.
    let spec = CalendarSpec {
        week: WeeklyHours::mon_to_fri(&[WorkInterval::hm(9, 0, 17, 0)]),
        days: days.to_vec(),
        ..CalendarSpec::default()
    };
    prop_assert!(
        Calendar::new(spec).is_ok(),
        "parsed days do not make a calendar"
    );
    Ok(())
}

fn check_csv(text: &str) -> Result<(), TestCaseError> {
    match parse_csv(text) {
        Ok(days) => {
            check_days(&days)?;
            let again = parse_csv(&to_csv(&days));
            prop_assert_eq!(
                again.as_ref().ok(),
                Some(&days),
                "to_csv does not round-trip"
            );
            Ok(())
        }
        Err(e) => check_errors(text, &e),
    }
}

fn check_ics(text: &str) -> Result<(), TestCaseError> {
    match parse_ics(text) {
        Ok(days) => check_days(&days),
        Err(e) => check_errors(text, &e),
    }
}

/// Text assembled from a format's vocabulary, joined with the line ends real files use.
fn from_vocabulary(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(words).prop_map(str::to_string),
        1 => "[0-9]{1,9}",
        1 => "\\PC{0,12}",
    ];
    let line = prop::collection::vec(piece, 0..6).prop_map(|p| p.concat());
    let end = prop::sample::select(&["\n", "\r\n", "\r", "\n ", "\n\t"][..]);
    prop::collection::vec((line, end), 0..40).prop_map(|ls| {
        ls.into_iter()
            .map(|(l, e)| format!("{l}{e}"))
            .collect::<String>()
    })
}

const CSV_WORDS: &[&str] = &[
    "date,kind,name",
    "\u{feff}date,kind,name",
    "2025-10-01",
    "2026-02-29",
    "2024-02-29",
    "9999-12-31",
    "0000-01-01",
    "-",
    ",",
    ",,",
    "\"",
    "\"\"",
    "\"国庆节,调休\"",
    "holiday",
    "workday",
    "HOLIDAY",
    "休",
    "班",
    "补班",
    "国庆节",
    "#",
    " ",
    "2025-09-28,班,国庆节调休",
    "2025-10-01,holiday,国庆节",
];

const ICS_WORDS: &[&str] = &[
    "BEGIN:VCALENDAR",
    "END:VCALENDAR",
    "BEGIN:VEVENT",
    "END:VEVENT",
    "BEGIN:VALARM",
    "END:VALARM",
    "VERSION:2.0",
    "DTSTART;VALUE=DATE:",
    "DTSTART:",
    "DTEND;VALUE=DATE:",
    "DTEND:",
    "DURATION:P",
    "D",
    "W",
    "T",
    "H",
    "20251001",
    "20251008",
    "20260229",
    "20240229",
    "T000000Z",
    "SUMMARY:",
    "SUMMARY:国庆节",
    "SUMMARY:国庆节(班)",
    "SUMMARY:workday",
    "STATUS:CANCELLED",
    "RRULE:FREQ=YEARLY",
    "RDATE:20251001",
    ";",
    ":",
    "=",
    "\\,",
];

#[test]
fn fuzz_calendar_csv() {
    fuzz(
        "csv",
        prop_oneof!["\\PC{0,300}", from_vocabulary(CSV_WORDS)],
        |t| check_csv(&t),
    );
}

#[test]
fn fuzz_calendar_ics() {
    fuzz(
        "ics",
        prop_oneof![
            "\\PC{0,300}",
            from_vocabulary(ICS_WORDS).prop_map(|t| format!("BEGIN:VCALENDAR\r\n{t}")),
        ],
        |t| check_ics(&t),
    );
}

#[test]
fn fuzz_bytes_decoding_then_both_parsers() {
    fuzz(
        "bytes",
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            "[0-9:\\-~ ]{0,16}".prop_map(String::into_bytes),
        ],
        |bytes| {
            match text_from_bytes(&bytes) {
                Ok(text) => {
                    check_csv(text)?;
                    check_ics(text)?;
                    for line in text.lines() {
                        if let Some(iv) = WorkInterval::parse(line) {
                            prop_assert!(iv.minutes() > 0 && iv.minutes() <= 24 * 60, "{:?}", iv);
                        }
                    }
                }
                Err(e) => prop_assert!(!e.0.is_empty()),
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_csv_round_trip_of_generated_days() {
    let day = (
        (2000i32..2100, 1u32..=12, 1u32..=31),
        prop::bool::ANY,
        "\\PC{0,30}",
    )
        .prop_filter_map("a real date", |((y, m, d), holiday, name)| {
            Some(SpecialDay {
                date: chrono::NaiveDate::from_ymd_opt(y, m, d)?,
                kind: if holiday {
                    DayKind::Holiday
                } else {
                    DayKind::Workday
                },
                name: name.trim().to_string(),
            })
        });
    fuzz(
        "csv/round-trip",
        prop::collection::vec(day, 0..30),
        |mut days| {
            days.sort_by_key(|d| d.date);
            days.dedup_by_key(|d| d.date);
            let text = to_csv(&days);
            let back = parse_csv(&text);
            prop_assert_eq!(back.as_ref().ok(), Some(&days), "{}", text);
            Ok(())
        },
    );
}
