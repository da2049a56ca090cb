//! Property-based fuzzing of the parsers: arbitrary bytes, arbitrary JSON, and JSON shaped
//! near each format (right field names, arbitrary values). The parsers never panic, and every
//! `Ok` result respects every bound of the crate documentation. Each target runs for the
//! time budget of `yunwei_fuzzkit` (30 s in CI; `YUNWEI_FUZZ_SECS` for longer runs).

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use yunwei_fuzzkit::fuzz;
use yunwei_monitor::*;

fn check(format: Format, body: &[u8]) {
    match parse(format, body) {
        Ok(events) => {
            assert!(events.len() <= MAX_ALERTS, "{} events", events.len());
            for e in &events {
                assert!(within_bounds(e), "out of bounds: {e:?}");
            }
        }
        Err(e) => {
            // Errors name a field unless the body as a whole is at fault.
            match &e {
                ParseError::TooLarge { .. } | ParseError::InvalidJson => {}
                other => assert!(other.field().is_some_and(|f| !f.is_empty())),
            }
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        // Long strings and strings with control characters.
        (0usize..2000, any::<char>()).prop_map(|(n, c)| Value::String(c.to_string().repeat(n))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names the parsers look at, so generated objects hit the real paths.
const NAMES: &[&str] = &[
    "alerts",
    "status",
    "labels",
    "annotations",
    "fingerprint",
    "startsAt",
    "commonLabels",
    "commonAnnotations",
    "summary",
    "description",
    "severity",
    "instance",
    "alertname",
    "generatorURL",
    "event_id",
    "eventid",
    "id",
    "alert_uid",
    "value",
    "state",
    "update_action",
    "host",
    "host_name",
    "host_ip",
    "service",
    "subject",
    "name",
    "title",
    "message",
    "tags",
    "tag",
    "timestamp",
    "event_action",
    "dedup_key",
    "payload",
    "source",
    "component",
    "group",
    "class",
    "custom_details",
    "client",
    "starts_at",
];

fn arb_value_for_field() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => arb_json(),
        2 => prop::sample::select(vec![
            "firing", "resolved", "acknowledged", "PROBLEM", "RESOLVED", "OK", "ok", "alerting",
            "trigger", "acknowledge", "resolve", "critical", "error", "warning", "info",
            "Disaster", "High", "Average", "0", "1", "2026-03-01T08:00:00Z",
            "0001-01-01T00:00:00Z", "acknowledged, commented", "",
        ])
        .prop_map(|s| Value::String(s.into())),
        1 => (1usize..400).prop_map(|n| Value::String("k".repeat(n))),
    ]
}

fn arb_shaped_object(depth: u32) -> BoxedStrategy<Value> {
    let field = (prop::sample::select(NAMES.to_vec()), arb_value_for_field());
    let flat = prop::collection::vec(field, 0..12).prop_map(|fs| {
        let mut m = Map::new();
        for (k, v) in fs {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    });
    if depth == 0 {
        return flat.boxed();
    }
    (
        flat,
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "alerts",
                    "labels",
                    "annotations",
                    "payload",
                    "commonLabels",
                    "custom_details",
                    "tags",
                ]),
                prop_oneof![
                    arb_shaped_object(depth - 1),
                    prop::collection::vec(arb_shaped_object(depth - 1), 0..6)
                        .prop_map(Value::Array),
                ],
            ),
            0..4,
        ),
    )
        .prop_map(|(mut base, nested)| {
            if let Value::Object(m) = &mut base {
                for (k, v) in nested {
                    m.insert(k.to_string(), v);
                }
            }
            base
        })
        .boxed()
}

fn arb_format() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

#[test]
fn arbitrary_bytes_never_panic() {
    fuzz(
        "alerts: arbitrary bytes",
        (arb_format(), prop::collection::vec(any::<u8>(), 0..512)),
        |(format, body)| {
            check(format, &body);
            Ok(())
        },
    );
}

#[test]
fn arbitrary_json_never_panics() {
    fuzz(
        "alerts: arbitrary JSON",
        (arb_format(), arb_json()),
        |(format, v)| {
            check(format, v.to_string().as_bytes());
            Ok(())
        },
    );
}

#[test]
fn json_shaped_near_each_format_stays_in_bounds() {
    fuzz(
        "alerts: JSON shaped like each format",
        (arb_format(), arb_shaped_object(2), any::<bool>()),
        |(format, v, wrap)| {
            check(format, v.to_string().as_bytes());
            // Arrays of such objects too (Zabbix and generic accept them).
            if wrap {
                check(
                    format,
                    Value::Array(vec![v.clone(), v]).to_string().as_bytes(),
                );
            }
            Ok(())
        },
    );
}

#[test]
fn valid_generic_events_round_trip_in_bounds() {
    let strategy = (
        "[ -~]{1,300}",
        ".{0,800}",
        prop::sample::select(vec!["critical", "major", "minor", "warning", "info"]),
        prop::collection::btree_map(".{1,200}", ".{0,1500}", 0..80),
    );
    fuzz(
        "alerts: valid generic events",
        strategy,
        |(key, summary, sev, labels)| {
            let body = json!({"dedup_key": key, "status": "firing", "severity": sev, "summary": summary, "labels": labels});
            match parse(Format::Generic, body.to_string().as_bytes()) {
                Ok(v) => {
                    prop_assert_eq!(v.len(), 1);
                    prop_assert!(within_bounds(&v[0]));
                    prop_assert_eq!(v[0].dedup_key.as_str(), key.trim());
                }
                Err(e) => {
                    // Only the key (too long, or blank) or a blank summary may be refused.
                    let k = key.trim();
                    prop_assert!(
                        k.is_empty() || k.chars().count() > MAX_KEY || summary.trim().is_empty(),
                        "{e:?}"
                    );
                }
            }
            Ok(())
        },
    );
}

#[test]
fn many_alerts_up_to_the_limit_are_accepted() {
    let alerts: Vec<Value> = (0..MAX_ALERTS)
        .map(|i| json!({"status": "firing", "labels": {"n": i.to_string()}}))
        .collect();
    let body = json!({ "alerts": alerts }).to_string();
    let v = parse(Format::Alertmanager, body.as_bytes()).unwrap();
    assert_eq!(v.len(), MAX_ALERTS);
    let keys: std::collections::HashSet<_> = v.iter().map(|e| &e.dedup_key).collect();
    assert_eq!(keys.len(), MAX_ALERTS);
}
