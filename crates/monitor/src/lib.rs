//! yunwei-monitor: inbound monitoring alerts, parsed into bounded, normalized events.
//!
//! Pure (no I/O): a raw request body of one of the supported [`Format`]s becomes a
//! `Vec<`[`AlertEvent`]`>`, or a [`ParseError`] naming the field at fault. The service layer
//! authenticates the sender before calling [`parse`] and turns the events into alerts and
//! incident tickets.
//!
//! # Formats
//!
//! - **`alertmanager`** — Prometheus Alertmanager's webhook receiver (`version: "4"`) and
//!   Grafana Alerting's webhook contact point (same envelope, `version: "1"`). Required:
//!   `alerts` (array); per alert `status` (`firing` | `resolved`) and `labels` (object).
//!   Dedup key: `fingerprint`, else `sha256:` + SHA-256 of the sorted `name=value` lines of
//!   the labels. Summary: `annotations.summary`, else `annotations.description`/`message`,
//!   else `labels.alertname`. Severity: `labels.severity` (else `commonLabels.severity`).
//!   Host: `labels.instance` / `host` / `hostname` / `node`. Start: `startsAt`.
//!   `version` is not checked (custom templates may change it); the shape is.
//! - **`zabbix`** — the JSON a webhook media-type script sends (Keep's / Grafana OnCall's
//!   templates). One object, or an array of them. Required: the event id (`event_id`,
//!   `eventid`, `id` or `alert_uid`: string or number; the dedup key — use `{EVENT.ID}`, which
//!   stays the problem's id in the recovery message) and one of `status` (`PROBLEM`,
//!   `RESOLVED` / `OK` / `RECOVERY`), `value` (`{EVENT.VALUE}`: `1` problem, `0` recovery) or
//!   `state` (`alerting` / `ok`). `update_action` (`{EVENT.UPDATE.ACTION}`) containing
//!   `acknowledged` marks an acknowledgement. Optional: `severity` (Disaster, High, Average,
//!   Warning, Information, Not classified), `host` / `host_name` / `service`, `host_ip`,
//!   `subject` / `name` / `title`, `message` / `description`, `trigger_id`, `url`,
//!   `tags` (`{EVENT.TAGSJSON}`: an array of `{tag, value}`, or that array as a string).
//! - **`pagerduty`** — PagerDuty Events API v2 (`/v2/enqueue` body), one event per request.
//!   Required: `event_action` (`trigger` | `acknowledge` | `resolve`); `dedup_key` for
//!   acknowledge and resolve; for trigger `payload.summary`, `payload.source`,
//!   `payload.severity` (`critical` | `error` | `warning` | `info`). A trigger without
//!   `dedup_key` gets `sha256:` + SHA-256 of summary, source, component, group and class, so a
//!   repeated identical trigger deduplicates. `routing_key` is ignored (the alert source's own
//!   credentials authenticate the request).
//! - **`generic`** — yunwei's own JSON: one object or an array of them, each
//!   `{"dedup_key", "status": "firing"|"resolved"|"acknowledged", "severity":
//!   "critical"|"major"|"minor"|"warning"|"info", "summary", "description", "host",
//!   "labels": {"name": "value"}, "starts_at": RFC 3339}`; `dedup_key`, `status` and `summary`
//!   are required, `severity` defaults to `warning`, the others are optional. Unknown fields
//!   are ignored.
//!
//! # Bounds (every `Ok` result respects all of them)
//!
//! - body at most [`MAX_BODY_BYTES`] (1 MiB): else [`ParseError::TooLarge`];
//! - at most [`MAX_ALERTS`] (500) alerts per body: else [`ParseError::TooMany`];
//! - **identifiers are refused, texts are truncated**: a dedup key must be 1..=255 characters
//!   without control characters ([`ParseError::TooLong`] / [`ParseError::Invalid`] naming
//!   the field); summary ([`MAX_SUMMARY`]), description ([`MAX_DESCRIPTION`]), host
//!   ([`MAX_HOST`]), label names ([`MAX_LABEL_KEY`]) and values ([`MAX_LABEL_VALUE`]) are cut to
//!   their limit with `…` (single-line fields have control characters replaced by spaces);
//!   at most [`MAX_LABELS`] labels are kept (the first by name). A summary is never empty (it
//!   falls back to the dedup key).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most alerts one body may carry.
pub const MAX_ALERTS: usize = 500;
/// The longest dedup key, in characters.
pub const MAX_KEY: usize = 255;
/// Summary length limit, in characters.
pub const MAX_SUMMARY: usize = 500;
/// Description length limit, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Host length limit, in characters.
pub const MAX_HOST: usize = 255;
/// How many labels are kept.
pub const MAX_LABELS: usize = 64;
/// Label name length limit, in characters.
pub const MAX_LABEL_KEY: usize = 128;
/// Label value length limit, in characters.
pub const MAX_LABEL_VALUE: usize = 1024;

/// The inbound formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Prometheus Alertmanager webhook (v4) and Grafana Alerting webhook (v1).
    Alertmanager,
    Zabbix,
    Pagerduty,
    Generic,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Alertmanager,
        Format::Zabbix,
        Format::Pagerduty,
        Format::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Alertmanager => "alertmanager",
            Format::Zabbix => "zabbix",
            Format::Pagerduty => "pagerduty",
            Format::Generic => "generic",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// What an event says about its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        match s {
            "firing" => Some(AlertStatus::Firing),
            "acknowledged" => Some(AlertStatus::Acknowledged),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// Normalized severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Major,
    Minor,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::Major,
        Severity::Minor,
        Severity::Warning,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Exactly one of our five names.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The many names monitoring systems use (case-insensitive): Alertmanager labels,
    /// Zabbix (Disaster, High, Average, Warning, Information, Not classified), PagerDuty
    /// (critical, error, warning, info), P1–P5. None for a name we do not know.
    pub fn from_loose(s: &str) -> Option<Severity> {
        let s = s.trim().to_ascii_lowercase();
        Some(match s.as_str() {
            "critical" | "crit" | "disaster" | "emergency" | "emerg" | "fatal" | "alert" | "p1"
            | "sev1" | "5" => Severity::Critical,
            "major" | "high" | "error" | "err" | "severe" | "p2" | "sev2" | "4" => Severity::Major,
            "minor" | "average" | "medium" | "moderate" | "p3" | "sev3" | "3" => Severity::Minor,
            "warning" | "warn" | "p4" | "sev4" | "2" => Severity::Warning,
            "info" | "information" | "informational" | "notice" | "low" | "none" | "ok"
            | "debug" | "not classified" | "not_classified" | "p5" | "sev5" | "1" | "0" => {
                Severity::Info
            }
            _ => return None,
        })
    }

    /// The urgency of the incident an alert of this severity opens (high, medium, low).
    pub fn urgency(self) -> &'static str {
        match self {
            Severity::Critical | Severity::Major => "high",
            Severity::Minor => "medium",
            Severity::Warning | Severity::Info => "low",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Critical => "严重",
            Severity::Major => "重要",
            Severity::Minor => "次要",
            Severity::Warning => "警告",
            Severity::Info => "信息",
        }
    }
}

/// One normalized alert event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertEvent {
    /// Identifies the alert at its source: 1..=255 characters, no control characters.
    pub dedup_key: String,
    pub status: AlertStatus,
    pub severity: Severity,
    /// One line, 1..=500 characters.
    pub summary: String,
    /// At most 10,000 characters (may be empty).
    pub description: String,
    /// One line, at most 255 characters.
    pub host: Option<String>,
    /// At most 64 labels; names ≤ 128, values ≤ 1024 characters.
    pub labels: BTreeMap<String, String>,
    pub starts_at: Option<DateTime<Utc>>,
}

/// Why a body was refused. Each variant but the first two names the field (a JSON path such
/// as `alerts[3].labels` or `payload.summary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Larger than [`MAX_BODY_BYTES`].
    TooLarge { limit: usize },
    /// Not JSON (or not UTF-8, or nested too deeply).
    InvalidJson,
    /// A required field is absent (or null).
    Missing(String),
    /// A field has the wrong type or an unknown value.
    Invalid(String),
    /// An identifier is longer than its limit.
    TooLong { field: String, limit: usize },
    /// More alerts than [`MAX_ALERTS`].
    TooMany { field: String, limit: usize },
}

impl ParseError {
    /// The field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ParseError::TooLarge { .. } | ParseError::InvalidJson => None,
            ParseError::Missing(f)
            | ParseError::Invalid(f)
            | ParseError::TooLong { field: f, .. }
            | ParseError::TooMany { field: f, .. } => Some(f),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::TooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            ParseError::InvalidJson => write!(f, "body is not valid JSON"),
            ParseError::Missing(x) => write!(f, "missing field {x}"),
            ParseError::Invalid(x) => write!(f, "invalid field {x}"),
            ParseError::TooLong { field, limit } => {
                write!(f, "field {field} longer than {limit} characters")
            }
            ParseError::TooMany { field, limit } => {
                write!(f, "more than {limit} entries in {field}")
            }
        }
    }
}

impl std::error::Error for ParseError {}

type R<T> = Result<T, ParseError>;

/// Parse a raw body of the given format.
pub fn parse(format: Format, body: &[u8]) -> R<Vec<AlertEvent>> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ParseError::TooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    // serde_json refuses nesting deeper than 128 levels, so no input can exhaust the stack.
    let v: Value = serde_json::from_slice(body).map_err(|_| ParseError::InvalidJson)?;
    parse_value(format, &v)
}

/// Parse an already decoded JSON value of the given format (no body size check).
pub fn parse_value(format: Format, v: &Value) -> R<Vec<AlertEvent>> {
    let out = match format {
        Format::Alertmanager => alertmanager(v)?,
        Format::Zabbix => each(v, "", zabbix)?,
        Format::Pagerduty => vec![pagerduty(v)?],
        Format::Generic => each(v, "", generic)?,
    };
    Ok(out)
}

// ------------------------------------------------------------------------------ helpers

/// At most `max` characters; cut ones end in `…` (within the limit).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One line: control characters become spaces, trimmed, then truncated.
fn one_line(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(cleaned.trim(), max)
}

/// Multi-line text: control characters other than line breaks and tabs dropped, truncated.
fn text(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    truncate(cleaned.trim(), max)
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// A scalar as text: strings as they are, numbers and booleans printed; None for null,
/// objects and arrays.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first present, non-empty scalar among `names`.
fn first_str(o: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| o.get(*n))
        .filter_map(scalar)
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}

fn obj<'a>(v: &'a Value, path: &str) -> R<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        ParseError::Invalid(if path.is_empty() {
            "body".into()
        } else {
            path.into()
        })
    })
}

/// A dedup key: trimmed, 1..=255 characters, no control characters.
fn key(raw: &str, field: &str) -> R<String> {
    let k = raw.trim();
    if k.is_empty() {
        return Err(ParseError::Missing(field.into()));
    }
    if k.chars().count() > MAX_KEY {
        return Err(ParseError::TooLong {
            field: field.into(),
            limit: MAX_KEY,
        });
    }
    if k.chars().any(char::is_control) {
        return Err(ParseError::Invalid(field.into()));
    }
    Ok(k.to_string())
}

fn hash_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut s = String::from("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Labels from an object: scalar values only (others skipped), names and values bounded,
/// at most MAX_LABELS (the first by name).
fn labels_from(o: Option<&Map<String, Value>>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(o) = o else { return out };
    let mut all: Vec<(String, String)> = o
        .iter()
        .filter_map(|(k, v)| {
            let k = one_line(k, MAX_LABEL_KEY);
            let v = scalar(v)?;
            (!k.is_empty()).then(|| (k, one_line(&v, MAX_LABEL_VALUE)))
        })
        .collect();
    all.sort();
    for (k, v) in all {
        if out.len() >= MAX_LABELS {
            break;
        }
        out.entry(k).or_insert(v);
    }
    out
}

fn add_label(labels: &mut BTreeMap<String, String>, k: &str, v: &str) {
    let k = one_line(k, MAX_LABEL_KEY);
    if k.is_empty() || (labels.len() >= MAX_LABELS && !labels.contains_key(&k)) {
        return;
    }
    labels.insert(k, one_line(v, MAX_LABEL_VALUE));
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc))
            // Alertmanager's "zero" time, and anything before 1970, means "not set".
            .filter(|t| t.timestamp() > 0),
        Value::Number(n) => n
            .as_i64()
            .filter(|s| (1..=253_402_300_799).contains(s))
            .and_then(|s| DateTime::from_timestamp(s, 0)),
        _ => None,
    }
}

fn summary_or_key(s: Option<String>, key: &str) -> String {
    let s = s.map(|s| one_line(&s, MAX_SUMMARY)).unwrap_or_default();
    if s.is_empty() {
        one_line(key, MAX_SUMMARY)
    } else {
        s
    }
}

fn host(s: Option<String>) -> Option<String> {
    s.map(|h| one_line(&h, MAX_HOST)).filter(|h| !h.is_empty())
}

/// One object or an array of objects, each parsed by `f`.
fn each(v: &Value, path: &str, f: fn(&Value, &str) -> R<AlertEvent>) -> R<Vec<AlertEvent>> {
    match v {
        Value::Array(items) => {
            let field = if path.is_empty() { "body" } else { path };
            if items.len() > MAX_ALERTS {
                return Err(ParseError::TooMany {
                    field: field.into(),
                    limit: MAX_ALERTS,
                });
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| f(item, &format!("[{i}]")))
                .collect()
        }
        Value::Object(_) => Ok(vec![f(v, path)?]),
        _ => Err(ParseError::Invalid("body".into())),
    }
}

// ------------------------------------------------------------------------- alertmanager

fn alertmanager(v: &Value) -> R<Vec<AlertEvent>> {
    let top = obj(v, "")?;
    let alerts = match top.get("alerts") {
        None | Some(Value::Null) => return Err(ParseError::Missing("alerts".into())),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ParseError::Invalid("alerts".into())),
    };
    if alerts.len() > MAX_ALERTS {
        return Err(ParseError::TooMany {
            field: "alerts".into(),
            limit: MAX_ALERTS,
        });
    }
    let common_labels = top.get("commonLabels").and_then(Value::as_object);
    let common_ann = top.get("commonAnnotations").and_then(Value::as_object);
    let mut out = Vec::with_capacity(alerts.len());
    for (i, a) in alerts.iter().enumerate() {
        let p = format!("alerts[{i}]");
        let a = obj(a, &p)?;
        let status = match a.get("status") {
            None | Some(Value::Null) => return Err(ParseError::Missing(join(&p, "status"))),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "firing" | "alerting" => AlertStatus::Firing,
                "resolved" | "ok" => AlertStatus::Resolved,
                _ => return Err(ParseError::Invalid(join(&p, "status"))),
            },
            Some(_) => return Err(ParseError::Invalid(join(&p, "status"))),
        };
        let raw_labels = match a.get("labels") {
            None | Some(Value::Null) => return Err(ParseError::Missing(join(&p, "labels"))),
            Some(Value::Object(o)) => o,
            Some(_) => return Err(ParseError::Invalid(join(&p, "labels"))),
        };
        let ann = a.get("annotations").and_then(Value::as_object);
        let dedup_key = match a.get("fingerprint").and_then(scalar) {
            Some(f) if !f.trim().is_empty() => key(&f, &join(&p, "fingerprint"))?,
            _ => {
                // Hash of the whole label set, sorted (what Alertmanager's fingerprint is).
                let mut lines: Vec<String> = raw_labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", scalar(v).unwrap_or_default()))
                    .collect();
                lines.sort();
                let parts: Vec<&str> = lines.iter().map(String::as_str).collect();
                hash_key(&parts)
            }
        };
        let mut labels = labels_from(Some(raw_labels));
        let sev = first_str(raw_labels, &["severity", "priority"])
            .or_else(|| common_labels.and_then(|c| first_str(c, &["severity"])));
        let severity = sev
            .as_deref()
            .and_then(Severity::from_loose)
            .unwrap_or(Severity::Warning);
        let summary = ann
            .and_then(|o| first_str(o, &["summary", "title"]))
            .or_else(|| common_ann.and_then(|o| first_str(o, &["summary"])))
            .or_else(|| ann.and_then(|o| first_str(o, &["description", "message"])))
            .or_else(|| first_str(raw_labels, &["alertname"]));
        let description = ann
            .and_then(|o| first_str(o, &["description", "message"]))
            .or_else(|| common_ann.and_then(|o| first_str(o, &["description"])))
            .unwrap_or_default();
        if let Some(url) = a.get("generatorURL").and_then(scalar) {
            if !url.trim().is_empty() && !labels.contains_key("generatorURL") {
                add_label(&mut labels, "generatorURL", &url);
            }
        }
        out.push(AlertEvent {
            summary: summary_or_key(summary, &dedup_key),
            description: text(&description, MAX_DESCRIPTION),
            host: host(first_str(
                raw_labels,
                &["instance", "host", "hostname", "node"],
            )),
            labels,
            starts_at: time(a.get("startsAt")),
            dedup_key,
            status,
            severity,
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------------------- zabbix

fn zabbix(v: &Value, path: &str) -> R<AlertEvent> {
    let o = obj(v, path)?;
    let id_field = ["event_id", "eventid", "id", "alert_uid"]
        .into_iter()
        .find(|f| o.get(*f).is_some_and(|v| !v.is_null()));
    let Some(id_field) = id_field else {
        return Err(ParseError::Missing(join(path, "event_id")));
    };
    let raw_id = scalar(&o[id_field]).ok_or_else(|| ParseError::Invalid(join(path, id_field)))?;
    let dedup_key = key(&raw_id, &join(path, id_field))?;

    let recovery_words = ["resolved", "ok", "recovery", "recovered", "resolve"];
    let status = if let Some(s) = o.get("status").filter(|v| !v.is_null()) {
        let s = scalar(s).ok_or_else(|| ParseError::Invalid(join(path, "status")))?;
        let s = s.trim().to_ascii_lowercase();
        if recovery_words.contains(&s.as_str()) {
            AlertStatus::Resolved
        } else if ["problem", "firing", "alerting", "update", "1"].contains(&s.as_str()) {
            AlertStatus::Firing
        } else if s == "0" {
            AlertStatus::Resolved
        } else {
            return Err(ParseError::Invalid(join(path, "status")));
        }
    } else if let Some(val) = o.get("value").filter(|v| !v.is_null()) {
        match scalar(val).as_deref().map(str::trim) {
            Some("1") => AlertStatus::Firing,
            Some("0") => AlertStatus::Resolved,
            _ => return Err(ParseError::Invalid(join(path, "value"))),
        }
    } else if let Some(st) = o.get("state").filter(|v| !v.is_null()) {
        let s = scalar(st).ok_or_else(|| ParseError::Invalid(join(path, "state")))?;
        match s.trim().to_ascii_lowercase().as_str() {
            "ok" | "resolved" => AlertStatus::Resolved,
            "alerting" | "problem" | "firing" => AlertStatus::Firing,
            _ => return Err(ParseError::Invalid(join(path, "state"))),
        }
    } else {
        return Err(ParseError::Missing(join(path, "status")));
    };
    let acked = first_str(o, &["update_action"])
        .is_some_and(|a| a.to_ascii_lowercase().contains("acknowledged"))
        && status == AlertStatus::Firing;
    let status = if acked {
        AlertStatus::Acknowledged
    } else {
        status
    };
    let severity = first_str(o, &["severity"])
        .as_deref()
        .and_then(Severity::from_loose)
        .unwrap_or(Severity::Warning);
    let mut labels = BTreeMap::new();
    for f in [
        "host_ip",
        "trigger_id",
        "triggerId",
        "url",
        "event_ack",
        "update_action",
        "service",
    ] {
        if let Some(val) = first_str(o, &[f]) {
            add_label(&mut labels, f, &val);
        }
    }
    let tags = match o.get("tags") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
        Some(v @ Value::Array(_)) => Some(v.clone()),
        _ => None,
    };
    if let Some(Value::Array(tags)) = tags {
        for t in tags.iter().filter_map(Value::as_object) {
            if let Some(name) = first_str(t, &["tag", "name"]) {
                let value = first_str(t, &["value"]).unwrap_or_default();
                add_label(&mut labels, &name, &value);
            }
        }
    }
    Ok(AlertEvent {
        summary: summary_or_key(first_str(o, &["subject", "name", "title"]), &dedup_key),
        description: text(
            &first_str(o, &["message", "description"]).unwrap_or_default(),
            MAX_DESCRIPTION,
        ),
        host: host(first_str(
            o,
            &["host", "host_name", "hostname", "service", "host_ip"],
        )),
        labels,
        starts_at: time(o.get("timestamp")),
        dedup_key,
        status,
        severity,
    })
}

// ---------------------------------------------------------------------------- pagerduty

fn pagerduty(v: &Value) -> R<AlertEvent> {
    let o = obj(v, "")?;
    let action = match o.get("event_action") {
        None | Some(Value::Null) => return Err(ParseError::Missing("event_action".into())),
        Some(Value::String(s)) => match s.trim() {
            "trigger" => AlertStatus::Firing,
            "acknowledge" => AlertStatus::Acknowledged,
            "resolve" => AlertStatus::Resolved,
            _ => return Err(ParseError::Invalid("event_action".into())),
        },
        Some(_) => return Err(ParseError::Invalid("event_action".into())),
    };
    let given_key = match o.get("dedup_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(key(s, "dedup_key")?),
        Some(_) => return Err(ParseError::Invalid("dedup_key".into())),
    };
    let payload = match o.get("payload") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => return Err(ParseError::Invalid("payload".into())),
    };
    let field = |name: &str| -> R<Option<String>> {
        match payload.and_then(|p| p.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ParseError::Invalid(format!("payload.{name}"))),
        }
    };
    let summary = field("summary")?;
    let source = field("source")?;
    let sev_raw = field("severity")?;
    let severity = match sev_raw.as_deref().map(str::trim) {
        None => None,
        Some("critical") => Some(Severity::Critical),
        Some("error") => Some(Severity::Major),
        Some("warning") => Some(Severity::Warning),
        Some("info") => Some(Severity::Info),
        Some(_) => return Err(ParseError::Invalid("payload.severity".into())),
    };
    let (component, group, class) = (field("component")?, field("group")?, field("class")?);
    if action == AlertStatus::Firing {
        if payload.is_none() {
            return Err(ParseError::Missing("payload".into()));
        }
        for (name, v) in [
            ("summary", &summary),
            ("source", &source),
            ("severity", &sev_raw),
        ] {
            if v.is_none() {
                return Err(ParseError::Missing(format!("payload.{name}")));
            }
        }
    }
    let dedup_key = match given_key {
        Some(k) => k,
        None if action == AlertStatus::Firing => {
            let parts = [
                summary.as_deref().unwrap_or(""),
                source.as_deref().unwrap_or(""),
                component.as_deref().unwrap_or(""),
                group.as_deref().unwrap_or(""),
                class.as_deref().unwrap_or(""),
            ];
            hash_key(&parts)
        }
        None => return Err(ParseError::Missing("dedup_key".into())),
    };
    let mut labels = BTreeMap::new();
    for (k, v) in [
        ("component", &component),
        ("group", &group),
        ("class", &class),
    ] {
        if let Some(v) = v {
            add_label(&mut labels, k, v);
        }
    }
    if let Some(c) = first_str(o, &["client", "client_url"]) {
        add_label(&mut labels, "client", &c);
    }
    let mut description = String::new();
    if let Some(details) = payload.and_then(|p| p.get("custom_details")) {
        match details {
            Value::Object(d) => {
                for (k, v) in d {
                    let v = scalar(v).unwrap_or_else(|| v.to_string());
                    description.push_str(&format!("{k}: {v}\n"));
                    if description.len() > MAX_DESCRIPTION * 4 {
                        break;
                    }
                }
                for (k, v) in d {
                    if let Some(s) = scalar(v) {
                        add_label(&mut labels, k, &s);
                    }
                }
            }
            Value::Null => {}
            other => {
                let s = scalar(other).unwrap_or_else(|| other.to_string());
                description.push_str(&s);
            }
        }
    }
    Ok(AlertEvent {
        summary: summary_or_key(summary, &dedup_key),
        description: text(&description, MAX_DESCRIPTION),
        host: host(source),
        labels,
        starts_at: time(payload.and_then(|p| p.get("timestamp"))),
        dedup_key,
        status: action,
        severity: severity.unwrap_or(Severity::Warning),
    })
}

// ------------------------------------------------------------------------------ generic

fn generic(v: &Value, path: &str) -> R<AlertEvent> {
    let o = obj(v, path)?;
    let string = |name: &str, required: bool| -> R<Option<String>> {
        match o.get(name) {
            None | Some(Value::Null) if required => Err(ParseError::Missing(join(path, name))),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if required && s.trim().is_empty() => {
                Err(ParseError::Missing(join(path, name)))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ParseError::Invalid(join(path, name))),
        }
    };
    let dedup_key = key(
        &string("dedup_key", true)?.unwrap_or_default(),
        &join(path, "dedup_key"),
    )?;
    let status = AlertStatus::parse(string("status", true)?.unwrap_or_default().trim())
        .ok_or_else(|| ParseError::Invalid(join(path, "status")))?;
    let severity = match string("severity", false)? {
        None => Severity::Warning,
        Some(s) => {
            Severity::parse(s.trim()).ok_or_else(|| ParseError::Invalid(join(path, "severity")))?
        }
    };
    let summary = string("summary", true)?;
    let description = string("description", false)?.unwrap_or_default();
    let labels = match o.get("labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(l)) => {
            if let Some((k, _)) = l.iter().find(|(_, v)| !v.is_string()) {
                return Err(ParseError::Invalid(format!(
                    "{}.{}",
                    join(path, "labels"),
                    one_line(k, 64)
                )));
            }
            labels_from(Some(l))
        }
        Some(_) => return Err(ParseError::Invalid(join(path, "labels"))),
    };
    let starts_at = match o.get("starts_at") {
        None | Some(Value::Null) => None,
        Some(t) => Some(time(Some(t)).ok_or_else(|| ParseError::Invalid(join(path, "starts_at")))?),
    };
    Ok(AlertEvent {
        summary: summary_or_key(summary, &dedup_key),
        description: text(&description, MAX_DESCRIPTION),
        host: host(string("host", false)?),
        labels,
        starts_at,
        dedup_key,
        status,
        severity,
    })
}

/// Check every bound of the module documentation (used by the tests; cheap enough to call
/// anywhere).
pub fn within_bounds(e: &AlertEvent) -> bool {
    let n = |s: &str| s.chars().count();
    let key_ok = (1..=MAX_KEY).contains(&n(&e.dedup_key))
        && !e.dedup_key.chars().any(char::is_control)
        && e.dedup_key.trim() == e.dedup_key;
    let summary_ok =
        (1..=MAX_SUMMARY).contains(&n(&e.summary)) && !e.summary.chars().any(char::is_control);
    let host_ok = e
        .host
        .as_deref()
        .is_none_or(|h| (1..=MAX_HOST).contains(&n(h)) && !h.chars().any(char::is_control));
    let labels_ok = e.labels.len() <= MAX_LABELS
        && e.labels.iter().all(|(k, v)| {
            (1..=MAX_LABEL_KEY).contains(&n(k))
                && n(v) <= MAX_LABEL_VALUE
                && !k.chars().any(char::is_control)
                && !v.chars().any(char::is_control)
        });
    key_ok
        && summary_ok
        && n(&e.description) <= MAX_DESCRIPTION
        && e.description
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        && host_ok
        && labels_ok
}
