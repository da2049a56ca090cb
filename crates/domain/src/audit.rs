//! The audit log is append-only and hash-chained: each entry's hash covers its own content
//! and the previous entry's hash, so altering or removing any entry breaks every hash after
//! it, and `yunwei audit verify` names the first entry that does not match (R-X.audit).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed content of one entry. `before` and `after` are the exact JSON texts stored.
#[derive(Debug, Clone, Serialize)]
pub struct AuditContent<'a> {
    pub seq: i64,
    pub id: Uuid,
    pub at_micros: i64,
    pub actor_id: Option<Uuid>,
    pub actor_name: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<&'a str>,
    pub org_id: Option<Uuid>,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    pub ip: Option<&'a str>,
}

/// sha256(prev_hash ‖ '\n' ‖ canonical JSON of the content), hex-encoded.
pub fn entry_hash(prev_hash: &str, content: &AuditContent<'_>) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    // Field order is fixed by the struct, so the JSON text is canonical.
    h.update(serde_json::to_vec(content).expect("audit content serializes"));
    hex::encode(h.finalize())
}

/// Audit timestamps are kept to the microsecond, which both stores hold exactly.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).expect("in range")
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// The entry's stored hash does not match its content and predecessor.
    HashMismatch { seq: i64 },
    /// Sequence numbers jump: entries were removed before this one.
    Gap { expected: i64, found: i64 },
    /// The head record says more entries exist than are present (entries removed at the end).
    Truncated { expected_last: i64, found_last: i64 },
    /// The log holds entries past the head record (the head was altered).
    BeyondHead { head: i64, found_last: i64 },
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainFault::HashMismatch { seq } => {
                write!(f, "entry #{seq}: hash does not match its content (altered)")
            }
            ChainFault::Gap { expected, found } => write!(
                f,
                "entry #{expected}: missing (next present is #{found}; removed)"
            ),
            ChainFault::Truncated {
                expected_last,
                found_last,
            } => {
                write!(f, "entry #{}: missing (log ends at #{found_last}, head says #{expected_last}; removed)", found_last + 1)
            }
            ChainFault::BeyondHead { head, found_last } => {
                write!(f, "entry #{}: beyond the head record (head says #{head}, log ends at #{found_last}; head altered)", head + 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(seq: i64) -> AuditContent<'static> {
        AuditContent {
            seq,
            id: Uuid::nil(),
            at_micros: 1,
            actor_id: None,
            actor_name: "admin",
            action: "create",
            entity: "user",
            entity_id: Some("x"),
            org_id: None,
            before: None,
            after: Some("{\"a\":1}"),
            ip: Some("127.0.0.1"),
        }
    }

    #[test]
    fn hash_depends_on_previous_and_content() {
        let h1 = entry_hash(GENESIS, &content(1));
        assert_eq!(h1.len(), 64);
        assert_eq!(h1, entry_hash(GENESIS, &content(1)));
        assert_ne!(h1, entry_hash(&h1, &content(1)));
        let mut c = content(1);
        c.after = Some("{\"a\":2}");
        assert_ne!(h1, entry_hash(GENESIS, &c));
    }
}
