//! Tickets of the service desk (R-7.1 … ): kinds, the fixed phases of the flow and
//! who may move a ticket between them, and the impact × urgency priority matrix.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorCode};

/// What a ticket is. Feedback comes in the three kinds the standard names (R-7.2e, §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Incident,
    Request,
    Complaint,
    Opinion,
    Suggestion,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Incident,
        Kind::Request,
        Kind::Complaint,
        Kind::Opinion,
        Kind::Suggestion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Incident => "incident",
            Kind::Request => "request",
            Kind::Complaint => "complaint",
            Kind::Opinion => "opinion",
            Kind::Suggestion => "suggestion",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The prefix of human-readable numbers, e.g. `INC-2026-000123`.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Incident => "INC",
            Kind::Request => "REQ",
            Kind::Complaint => "CMP",
            Kind::Opinion => "OPN",
            Kind::Suggestion => "SUG",
        }
    }

    pub fn is_feedback(self) -> bool {
        matches!(self, Kind::Complaint | Kind::Opinion | Kind::Suggestion)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Kind::Incident => "事件",
            Kind::Request => "服务请求",
            Kind::Complaint => "投诉",
            Kind::Opinion => "意见",
            Kind::Suggestion => "建议",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Kind::Incident => "Incident",
            Kind::Request => "Service request",
            Kind::Complaint => "Complaint",
            Kind::Opinion => "Opinion",
            Kind::Suggestion => "Suggestion",
        }
    }
}

/// `PREFIX-YEAR-NNNNNN` (at least six digits).
pub fn format_number(kind: Kind, year: i32, seq: i64) -> String {
    format!("{}-{year}-{seq:06}", kind.prefix())
}

/// Does the text look like a ticket number (`^[A-Z]{2,5}-\d{4}-\d{6,}$`)?
pub fn is_number(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(p), Some(y), Some(n), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    (2..=5).contains(&p.len())
        && p.chars().all(|c| c.is_ascii_uppercase())
        && y.len() == 4
        && y.chars().all(|c| c.is_ascii_digit())
        && n.len() >= 6
        && n.chars().all(|c| c.is_ascii_digit())
}

/// A ticket number as people type it — any letter case, surrounding spaces, the sequence
/// without its leading zeros (`inc-2026-42`) — in its canonical form (`INC-2026-000042`);
/// `None` when it is not a ticket number at all.
pub fn normalize_number(s: &str) -> Option<String> {
    let mut parts = s.trim().split('-');
    let (Some(p), Some(y), Some(n), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if !(2..=5).contains(&p.len())
        || !p.chars().all(|c| c.is_ascii_alphabetic())
        || y.len() != 4
        || !y.chars().all(|c| c.is_ascii_digit())
        || n.is_empty()
        || n.len() > 18
        || !n.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let seq: i64 = n.parse().ok()?;
    let canonical = format!("{}-{y}-{seq:06}", p.to_ascii_uppercase());
    is_number(&canonical).then_some(canonical)
}

/// The fixed phases of the flow. Administrators add sub-statuses inside a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Submitted; not yet classified and prioritised.
    New,
    /// Classified, prioritised and assigned (R-7.3a–c).
    Assigned,
    /// Being worked on.
    InProgress,
    /// Waiting (for the customer, a vendor, …); the sub-status says whether the SLA clock stops.
    Pending,
    /// Resolved; waiting for the user to confirm (R-7.3e).
    Resolved,
    /// Confirmed by the user (or auto-confirmed after the configured silence).
    Closed,
    /// Withdrawn before resolution.
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::New,
        Status::Assigned,
        Status::InProgress,
        Status::Pending,
        Status::Resolved,
        Status::Closed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        !matches!(self, Status::Closed | Status::Cancelled)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Status::New => "新建",
            Status::Assigned => "已分派",
            Status::InProgress => "处理中",
            Status::Pending => "挂起",
            Status::Resolved => "待确认",
            Status::Closed => "已关闭",
            Status::Cancelled => "已取消",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Status::New => "New",
            Status::Assigned => "Assigned",
            Status::InProgress => "In progress",
            Status::Pending => "Pending",
            Status::Resolved => "Awaiting confirmation",
            Status::Closed => "Closed",
            Status::Cancelled => "Cancelled",
        }
    }
}

/// A step of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Classify, prioritise and assign (new → assigned).
    Triage,
    /// Start work (assigned → in_progress).
    Start,
    /// Wait for somebody (assigned/in_progress → pending).
    Pend,
    /// Work again (pending → in_progress).
    Resume,
    /// Resolved, ask the user to confirm (assigned/in_progress/pending → resolved).
    Resolve,
    /// The user confirms the result (resolved → closed).
    Confirm,
    /// The user rejects the result: reopened (resolved → in_progress).
    Reject,
    /// The system confirms after the configured silence (resolved → closed, marked).
    AutoConfirm,
    /// Withdraw (new/assigned → cancelled).
    Cancel,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Triage => "triage",
            Transition::Start => "start",
            Transition::Pend => "pend",
            Transition::Resume => "resume",
            Transition::Resolve => "resolve",
            Transition::Confirm => "confirm",
            Transition::Reject => "reject",
            Transition::AutoConfirm => "auto_confirm",
            Transition::Cancel => "cancel",
        }
    }

    pub fn parse(s: &str) -> Option<Transition> {
        [
            Transition::Triage,
            Transition::Start,
            Transition::Pend,
            Transition::Resume,
            Transition::Resolve,
            Transition::Confirm,
            Transition::Reject,
            Transition::AutoConfirm,
            Transition::Cancel,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// Who is asking to move the ticket, relative to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Provider staff who may work tickets (agent, engineer, manager, admin).
    Staff,
    /// The requester (or, for confirmation, a user of the requester's organization).
    Requester,
    /// The installation itself (timers).
    System,
}

fn step(from: Status, t: Transition, who: Party) -> Option<Status> {
    use Party::*;
    use Status::*;
    use Transition as T;
    Some(match (from, t, who) {
        (New, T::Triage, Staff) => Assigned,
        (Assigned, T::Start, Staff) => InProgress,
        (Assigned | InProgress, T::Pend, Staff) => Pending,
        (Pending, T::Resume, Staff) => InProgress,
        (Assigned | InProgress | Pending, T::Resolve, Staff) => Resolved,
        (Resolved, T::Confirm, Requester) => Closed,
        (Resolved, T::Reject, Requester) => InProgress,
        (Resolved, T::AutoConfirm, System) => Closed,
        (New | Assigned, T::Cancel, Staff | Requester) => Cancelled,
        _ => return None,
    })
}

/// Where a transition leads from a status, if this party may take it. A step that is valid
/// for someone else is `forbidden`; a step invalid in this status is `invalid_transition`.
pub fn next_status(from: Status, t: Transition, who: Party) -> Result<Status, DomainError> {
    if let Some(to) = step(from, t, who) {
        return Ok(to);
    }
    let someone_may = [Party::Staff, Party::Requester, Party::System]
        .into_iter()
        .any(|p| step(from, t, p).is_some());
    let code = if someone_may {
        ErrorCode::Forbidden
    } else {
        ErrorCode::InvalidTransition
    };
    Err(DomainError::field(code, "transition"))
}

/// Business criticality of what is affected (R-7.5.1, first dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    General,
    Critical,
}

/// How widely it is felt (R-7.5.1, second dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Breadth {
    OneDepartment,
    SeveralDepartments,
    WholeOrganization,
}

/// How fast business must recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    High,
    Medium,
    Low,
}

/// Impact level from the two dimensions: high, medium or low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    High,
    Medium,
    Low,
}

pub fn impact(c: Criticality, b: Breadth) -> Impact {
    match (c, b) {
        (Criticality::Critical, Breadth::SeveralDepartments | Breadth::WholeOrganization) => {
            Impact::High
        }
        (Criticality::General, Breadth::WholeOrganization) => Impact::High,
        (Criticality::Critical, Breadth::OneDepartment) => Impact::Medium,
        (Criticality::General, Breadth::SeveralDepartments) => Impact::Medium,
        (Criticality::General, Breadth::OneDepartment) => Impact::Low,
    }
}

/// Impact × urgency → P1 (most urgent) … P4. Configurable; `Default` is the usual matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityMatrix {
    /// rows: impact high, medium, low; columns: urgency high, medium, low; values 1–4.
    pub cells: [[u8; 3]; 3],
}

impl Default for PriorityMatrix {
    fn default() -> Self {
        Self {
            cells: [[1, 2, 3], [2, 3, 4], [3, 4, 4]],
        }
    }
}

impl PriorityMatrix {
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.cells.iter().flatten().any(|p| !(1..=4).contains(p)) {
            return Err(DomainError::invalid("cells"));
        }
        Ok(())
    }

    pub fn priority(&self, i: Impact, u: Urgency) -> u8 {
        let r = match i {
            Impact::High => 0,
            Impact::Medium => 1,
            Impact::Low => 2,
        };
        let c = match u {
            Urgency::High => 0,
            Urgency::Medium => 1,
            Urgency::Low => 2,
        };
        self.cells[r][c]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(format_number(Kind::Incident, 2026, 123), "INC-2026-000123");
        assert_eq!(
            format_number(Kind::Request, 2026, 1_234_567),
            "REQ-2026-1234567"
        );
        assert!(is_number("INC-2026-000123"));
        assert!(!is_number("INC-26-000123"));
        assert!(!is_number("inc-2026-000123"));
        assert!(!is_number("INC-2026-00012"));
        assert!(!is_number("INC-2026-000123-1"));
        for (typed, canonical) in [
            ("INC-2026-000123", Some("INC-2026-000123")),
            (" inc-2026-123 ", Some("INC-2026-000123")),
            ("Req-2026-0001234567", Some("REQ-2026-1234567")),
            ("INC-2026-0", Some("INC-2026-000000")),
            ("INC-26-123", None),
            ("INC-2026-", None),
            ("INC-2026-12a", None),
            ("INC-2026-+12", None),
            ("I-2026-12", None),
            ("事件-2026-12", None),
            ("INC-2026-123-4", None),
        ] {
            assert_eq!(normalize_number(typed).as_deref(), canonical, "{typed}");
        }
    }

    #[test]
    fn the_flow_of_r_7_3_is_enforced() {
        use Party::*;
        use Status::*;
        use Transition as T;
        assert_eq!(next_status(New, T::Triage, Staff), Ok(Assigned));
        assert_eq!(next_status(Assigned, T::Start, Staff), Ok(InProgress));
        assert_eq!(next_status(InProgress, T::Resolve, Staff), Ok(Resolved));
        assert_eq!(next_status(Resolved, T::Confirm, Requester), Ok(Closed));
        assert_eq!(next_status(Resolved, T::Reject, Requester), Ok(InProgress));
        assert_eq!(next_status(Resolved, T::AutoConfirm, System), Ok(Closed));
        // Skipping classification is refused; staff cannot confirm for the user.
        assert_eq!(
            next_status(New, T::Resolve, Staff).unwrap_err().code,
            ErrorCode::InvalidTransition
        );
        assert_eq!(
            next_status(Resolved, T::Confirm, Staff).unwrap_err().code,
            ErrorCode::Forbidden
        );
        assert_eq!(
            next_status(InProgress, T::Start, Requester)
                .unwrap_err()
                .code,
            ErrorCode::InvalidTransition
        );
        assert_eq!(
            next_status(Closed, T::Reject, Requester).unwrap_err().code,
            ErrorCode::InvalidTransition
        );
        // Nothing leaves closed or cancelled.
        for t in [
            T::Triage,
            T::Start,
            T::Pend,
            T::Resume,
            T::Resolve,
            T::Confirm,
            T::Reject,
            T::AutoConfirm,
            T::Cancel,
        ] {
            for p in [Staff, Requester, System] {
                assert!(next_status(Closed, t, p).is_err());
                assert!(next_status(Cancelled, t, p).is_err());
            }
        }
    }

    #[test]
    fn impact_and_priority() {
        let m = PriorityMatrix::default();
        assert_eq!(
            m.priority(
                impact(Criticality::Critical, Breadth::WholeOrganization),
                Urgency::High
            ),
            1
        );
        assert_eq!(
            m.priority(
                impact(Criticality::General, Breadth::OneDepartment),
                Urgency::Low
            ),
            4
        );
        assert_eq!(
            m.priority(
                impact(Criticality::Critical, Breadth::OneDepartment),
                Urgency::Medium
            ),
            3
        );
        assert!(PriorityMatrix {
            cells: [[0, 1, 1], [1, 1, 1], [1, 1, 1]]
        }
        .validate()
        .is_err());
    }
}
