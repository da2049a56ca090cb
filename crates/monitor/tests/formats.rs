//! Each format with the documented sample payloads (../shared/reference/integrations.md §1),
//! and each format's refusals, naming the field.

use serde_json::json;
use yunwei_monitor::*;

fn p(f: Format, v: serde_json::Value) -> Result<Vec<AlertEvent>, ParseError> {
    parse(f, v.to_string().as_bytes())
}

/// The Alertmanager v4 sample of the `alertmanager-webhook-types` crate.
const AM_SAMPLE: &str = r#"{"receiver":"sms","status":"firing","version":"4",
 "groupKey":"{}/{severity=\"critical\"}:{alertname=\"ProbeFailure\"}","truncatedAlerts":0,
 "groupLabels":{"alertname":"ProbeFailure"},
 "commonLabels":{"alertname":"ProbeFailure","job":"http_checks","severity":"critical"},
 "commonAnnotations":{"summary":"BlackBox Probe Failure: https://server.example.org"},
 "externalURL":"http://prometheus.example.org:9093",
 "alerts":[{"status":"firing","labels":{"alertname":"ProbeFailure","instance":"https://server.example.org"},
   "annotations":{"summary":"..."},"startsAt":"2023-02-06T13:08:45.828Z",
   "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://...","fingerprint":"1a30ba71cca2921f"}]}"#;

#[test]
fn alertmanager_sample() {
    let v = parse(Format::Alertmanager, AM_SAMPLE.as_bytes()).unwrap();
    assert_eq!(v.len(), 1);
    let e = &v[0];
    assert_eq!(e.dedup_key, "1a30ba71cca2921f");
    assert_eq!(e.status, AlertStatus::Firing);
    // The alert has no severity label of its own: the group's common label applies.
    assert_eq!(e.severity, Severity::Critical);
    assert_eq!(e.summary, "...");
    assert_eq!(e.host.as_deref(), Some("https://server.example.org"));
    assert_eq!(e.labels["alertname"], "ProbeFailure");
    assert_eq!(
        e.starts_at.unwrap().to_rfc3339(),
        "2023-02-06T13:08:45.828+00:00"
    );
    assert!(within_bounds(e));
}

#[test]
fn alertmanager_without_fingerprint_hashes_the_sorted_labels() {
    let a = p(
        Format::Alertmanager,
        json!({"alerts": [{"status": "resolved", "labels": {"b": "2", "a": "1"}}]}),
    )
    .unwrap();
    let b = p(
        Format::Alertmanager,
        json!({"alerts": [{"status": "firing", "labels": {"a": "1", "b": "2"}}]}),
    )
    .unwrap();
    assert_eq!(a[0].dedup_key, b[0].dedup_key);
    assert!(a[0].dedup_key.starts_with("sha256:"));
    assert_eq!(a[0].dedup_key.len(), 7 + 64);
    assert_eq!(a[0].status, AlertStatus::Resolved);
    let c = p(
        Format::Alertmanager,
        json!({"alerts": [{"status": "firing", "labels": {"a": "1", "b": "3"}}]}),
    )
    .unwrap();
    assert_ne!(a[0].dedup_key, c[0].dedup_key);
    // No summary annotation: the alert name, else the key.
    assert_eq!(c[0].summary, c[0].dedup_key);
}

#[test]
fn grafana_webhook_is_the_same_envelope() {
    let body = json!({
        "receiver": "yunwei", "status": "firing", "orgId": 1, "version": "1",
        "groupKey": "{}:{}", "title": "[FIRING:1]  (blue)", "state": "alerting",
        "message": "**Firing**",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighCPU", "grafana_folder": "infra", "severity": "warning", "instance": "db01:9100"},
            "annotations": {"summary": "CPU 使用率超过 90%", "description": "db01 CPU 95%"},
            "startsAt": "2026-03-01T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "values": {"B": 95.1, "C": 1}, "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "http://grafana/alerting/silence/new", "dashboardURL": "", "panelURL": ""
        }]
    });
    let v = p(Format::Alertmanager, body).unwrap();
    assert_eq!(v[0].dedup_key, "c6eadffa33fcdf37");
    assert_eq!(v[0].severity, Severity::Warning);
    assert_eq!(v[0].summary, "CPU 使用率超过 90%");
    assert_eq!(v[0].description, "db01 CPU 95%");
    assert_eq!(v[0].host.as_deref(), Some("db01:9100"));
}

#[test]
fn alertmanager_refusals_name_the_field() {
    let cases = [
        (json!({}), ParseError::Missing("alerts".into())),
        (json!({"alerts": {}}), ParseError::Invalid("alerts".into())),
        (json!([]), ParseError::Invalid("body".into())),
        (
            json!({"alerts": [{"labels": {}}]}),
            ParseError::Missing("alerts[0].status".into()),
        ),
        (
            json!({"alerts": [{"status": "firing", "labels": {}}, {"status": "firing"}]}),
            ParseError::Missing("alerts[1].labels".into()),
        ),
        (
            json!({"alerts": [{"status": "burning", "labels": {}}]}),
            ParseError::Invalid("alerts[0].status".into()),
        ),
        (
            json!({"alerts": [{"status": "firing", "labels": {}, "fingerprint": "x".repeat(256)}]}),
            ParseError::TooLong {
                field: "alerts[0].fingerprint".into(),
                limit: 255,
            },
        ),
    ];
    for (body, want) in cases {
        assert_eq!(p(Format::Alertmanager, body.clone()), Err(want), "{body}");
    }
    let many: Vec<_> = (0..501)
        .map(|i| json!({"status": "firing", "labels": {"i": i.to_string()}}))
        .collect();
    assert_eq!(
        p(Format::Alertmanager, json!({ "alerts": many })),
        Err(ParseError::TooMany {
            field: "alerts".into(),
            limit: 500
        })
    );
}

/// Keep's Zabbix media type parameters, as the script posts them.
#[test]
fn zabbix_keep_style() {
    let problem = json!({
        "id": "12345", "triggerId": "23001", "lastReceived": "2026.03.01 08:00:00",
        "message": "Problem started at 08:00:00 on 2026.03.01\r\nProblem name: High CPU",
        "name": "High CPU utilization on web01", "service": "web01",
        "severity": "High", "status": "PROBLEM", "tags": "[{\"tag\":\"scope\",\"value\":\"performance\"}]",
        "description": "CPU > 90% for 5m", "time": "08:00:00", "value": "1",
        "host_ip": "10.0.0.21", "host_name": "web01.example.cn",
        "url": "https://zabbix.example.cn", "update_action": "", "event_ack": "No"
    });
    let v = p(Format::Zabbix, problem).unwrap();
    let e = &v[0];
    assert_eq!(e.dedup_key, "12345");
    assert_eq!(e.status, AlertStatus::Firing);
    assert_eq!(e.severity, Severity::Major);
    assert_eq!(e.summary, "High CPU utilization on web01");
    assert!(e.description.starts_with("Problem started"));
    assert!(!e.description.contains('\r'));
    assert_eq!(e.labels["host_ip"], "10.0.0.21");
    assert_eq!(e.labels["scope"], "performance");
    assert!(within_bounds(e));

    // Recovery: the same event id, status RESOLVED (or value 0).
    let v = p(
        Format::Zabbix,
        json!({"event_id": 12345, "status": "RESOLVED", "subject": "Resolved: High CPU"}),
    )
    .unwrap();
    assert_eq!(
        (v[0].dedup_key.as_str(), v[0].status),
        ("12345", AlertStatus::Resolved)
    );
    let v = p(
        Format::Zabbix,
        json!({"eventid": "9", "value": "0", "severity": "Disaster"}),
    )
    .unwrap();
    assert_eq!(v[0].status, AlertStatus::Resolved);
    assert_eq!(v[0].severity, Severity::Critical);
    // Acknowledgement update.
    let v = p(
        Format::Zabbix,
        json!({"event_id": "9", "status": "PROBLEM", "update_action": "acknowledged, commented"}),
    )
    .unwrap();
    assert_eq!(v[0].status, AlertStatus::Acknowledged);
}

/// Grafana OnCall's Zabbix script: alert_uid, title, state, message.
#[test]
fn zabbix_oncall_style_and_arrays() {
    let v = p(
        Format::Zabbix,
        json!([
            {"alert_uid": "77", "title": "Disk full", "state": "alerting", "message": "/ 98%", "severity": "Average"},
            {"alert_uid": "77", "title": "OK", "state": "ok"}
        ]),
    )
    .unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].severity, Severity::Minor);
    assert_eq!(v[1].status, AlertStatus::Resolved);
    assert_eq!(v[1].severity, Severity::Warning);
}

#[test]
fn zabbix_refusals_name_the_field() {
    assert_eq!(
        p(Format::Zabbix, json!({"status": "PROBLEM"})),
        Err(ParseError::Missing("event_id".into()))
    );
    assert_eq!(
        p(Format::Zabbix, json!({"event_id": "1"})),
        Err(ParseError::Missing("status".into()))
    );
    assert_eq!(
        p(Format::Zabbix, json!({"event_id": {"x": 1}, "value": 1})),
        Err(ParseError::Invalid("event_id".into()))
    );
    assert_eq!(
        p(Format::Zabbix, json!({"event_id": "1", "value": "7"})),
        Err(ParseError::Invalid("value".into()))
    );
    assert_eq!(
        p(
            Format::Zabbix,
            json!([{"event_id": "1", "value": 1}, {"value": 1}])
        ),
        Err(ParseError::Missing("[1].event_id".into()))
    );
    assert_eq!(
        p(Format::Zabbix, json!("text")),
        Err(ParseError::Invalid("body".into()))
    );
}

/// PagerDuty Events API v2.
#[test]
fn pagerduty_events_v2() {
    let trigger = json!({
        "routing_key": "R0UT1NGKEY0123456789ABCDEFGHIJKL",
        "event_action": "trigger",
        "dedup_key": "srv01/disk",
        "payload": {
            "summary": "Disk almost full on srv01", "source": "srv01.example.cn",
            "severity": "error", "timestamp": "2026-03-01T08:00:00.000+08:00",
            "component": "disk", "group": "storage", "class": "capacity",
            "custom_details": {"free": "2%", "mount": "/"}
        },
        "client": "Monitoring", "client_url": "https://mon.example.cn"
    });
    let v = p(Format::Pagerduty, trigger).unwrap();
    let e = &v[0];
    assert_eq!(e.dedup_key, "srv01/disk");
    assert_eq!(e.status, AlertStatus::Firing);
    assert_eq!(e.severity, Severity::Major);
    assert_eq!(e.host.as_deref(), Some("srv01.example.cn"));
    assert_eq!(e.labels["component"], "disk");
    assert_eq!(e.labels["mount"], "/");
    assert!(e.description.contains("free: 2%"));
    assert_eq!(
        e.starts_at.unwrap().to_rfc3339(),
        "2026-03-01T00:00:00+00:00"
    );

    let v = p(
        Format::Pagerduty,
        json!({"event_action": "acknowledge", "dedup_key": "srv01/disk"}),
    )
    .unwrap();
    assert_eq!(v[0].status, AlertStatus::Acknowledged);
    let v = p(
        Format::Pagerduty,
        json!({"event_action": "resolve", "dedup_key": "srv01/disk"}),
    )
    .unwrap();
    assert_eq!(v[0].status, AlertStatus::Resolved);

    // A trigger without a key: identical triggers get the same derived key.
    let t = json!({"event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "info"}});
    let a = p(Format::Pagerduty, t.clone()).unwrap();
    let b = p(Format::Pagerduty, t).unwrap();
    assert_eq!(a[0].dedup_key, b[0].dedup_key);
    assert!(a[0].dedup_key.starts_with("sha256:"));
}

#[test]
fn pagerduty_refusals_name_the_field() {
    let cases = [
        (json!({}), ParseError::Missing("event_action".into())),
        (
            json!({"event_action": "explode"}),
            ParseError::Invalid("event_action".into()),
        ),
        (
            json!({"event_action": "resolve"}),
            ParseError::Missing("dedup_key".into()),
        ),
        (
            json!({"event_action": "trigger"}),
            ParseError::Missing("payload".into()),
        ),
        (
            json!({"event_action": "trigger", "payload": {"source": "h", "severity": "info"}}),
            ParseError::Missing("payload.summary".into()),
        ),
        (
            json!({"event_action": "trigger", "payload": {"summary": "s", "severity": "info"}}),
            ParseError::Missing("payload.source".into()),
        ),
        (
            json!({"event_action": "trigger", "payload": {"summary": "s", "source": "h"}}),
            ParseError::Missing("payload.severity".into()),
        ),
        (
            json!({"event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "huge"}}),
            ParseError::Invalid("payload.severity".into()),
        ),
        (
            json!({"event_action": "resolve", "dedup_key": "k".repeat(256)}),
            ParseError::TooLong {
                field: "dedup_key".into(),
                limit: 255,
            },
        ),
    ];
    for (body, want) in cases {
        assert_eq!(p(Format::Pagerduty, body.clone()), Err(want), "{body}");
    }
}

#[test]
fn generic_format() {
    let v = p(
        Format::Generic,
        json!({
            "dedup_key": "db01-replication", "status": "firing", "severity": "critical",
            "summary": "主从复制中断", "description": "Seconds_Behind_Master = NULL",
            "host": "db01", "labels": {"env": "prod", "team": "dba"},
            "starts_at": "2026-03-01T08:00:00Z"
        }),
    )
    .unwrap();
    let e = &v[0];
    assert_eq!(e.dedup_key, "db01-replication");
    assert_eq!(e.severity, Severity::Critical);
    assert_eq!(e.summary, "主从复制中断");
    assert_eq!(e.host.as_deref(), Some("db01"));
    assert_eq!(e.labels.len(), 2);
    let v = p(
        Format::Generic,
        json!([{"dedup_key": "a", "status": "resolved", "summary": "x"}, {"dedup_key": "b", "status": "firing", "summary": "y"}]),
    )
    .unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].severity, Severity::Warning);
}

#[test]
fn generic_refusals_name_the_field() {
    let cases = [
        (
            json!({"status": "firing", "summary": "s"}),
            ParseError::Missing("dedup_key".into()),
        ),
        (
            json!({"dedup_key": "k", "summary": "s"}),
            ParseError::Missing("status".into()),
        ),
        (
            json!({"dedup_key": "k", "status": "firing"}),
            ParseError::Missing("summary".into()),
        ),
        (
            json!({"dedup_key": "k", "status": "maybe", "summary": "s"}),
            ParseError::Invalid("status".into()),
        ),
        (
            json!({"dedup_key": "k", "status": "firing", "summary": "s", "severity": "urgent"}),
            ParseError::Invalid("severity".into()),
        ),
        (
            json!({"dedup_key": "k", "status": "firing", "summary": "s", "labels": {"n": 1}}),
            ParseError::Invalid("labels.n".into()),
        ),
        (
            json!({"dedup_key": "a\u{0}b", "status": "firing", "summary": "s"}),
            ParseError::Invalid("dedup_key".into()),
        ),
        (
            json!({"dedup_key": 5, "status": "firing", "summary": "s"}),
            ParseError::Invalid("dedup_key".into()),
        ),
        (
            json!([{"dedup_key": "k", "status": "firing", "summary": "s"}, {"dedup_key": "k", "status": "firing"}]),
            ParseError::Missing("[1].summary".into()),
        ),
    ];
    for (body, want) in cases {
        assert_eq!(p(Format::Generic, body.clone()), Err(want), "{body}");
    }
}

#[test]
fn body_and_text_bounds() {
    assert_eq!(
        parse(Format::Generic, &vec![b' '; MAX_BODY_BYTES + 1]),
        Err(ParseError::TooLarge {
            limit: MAX_BODY_BYTES
        })
    );
    assert_eq!(
        parse(Format::Generic, b"{not json"),
        Err(ParseError::InvalidJson)
    );
    assert_eq!(
        parse(Format::Generic, &[0xff, 0xfe]),
        Err(ParseError::InvalidJson)
    );
    let long = "长".repeat(20_000);
    let label_value = "v".repeat(2_000);
    let labels: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|i| (format!("l{i:03}"), json!(label_value.clone())))
        .collect();
    let v = p(
        Format::Generic,
        json!({"dedup_key": "k", "status": "firing", "summary": format!("a\nb{long}"), "description": long, "host": long, "labels": labels}),
    )
    .unwrap();
    let e = &v[0];
    assert!(within_bounds(e));
    assert_eq!(e.summary.chars().count(), MAX_SUMMARY);
    assert!(e.summary.starts_with("a b") && e.summary.ends_with('…'));
    assert_eq!(e.description.chars().count(), MAX_DESCRIPTION);
    assert_eq!(e.labels.len(), MAX_LABELS);
    assert!(e.labels.contains_key("l000") && !e.labels.contains_key("l099"));
    // Nesting deeper than serde_json allows is refused, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        parse(Format::Alertmanager, deep.as_bytes()),
        Err(ParseError::InvalidJson)
    );
}
