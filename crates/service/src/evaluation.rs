//! The service desk evaluation: availability (response, handling), staff quality
//! (人员素质), technical capability and user satisfaction, over the tickets created in a
//! period.
//!
//! The figures are computed in memory from the period's tickets, fetched with one bounded
//! query (at most [`yunwei_store::tickets::EVALUATION_MAX_TICKETS`] tickets; a larger period
//! is refused with a validation error on `to`, asking for a narrower one). That is fine for
//! tens of thousands of tickets.
//!
//! Definitions (all over the tickets *created* in `[from, to)`, days in China Standard Time):
//! - **response time**: `first_response_at − created_at`; **resolution time**:
//!   `resolved_at − created_at` (the latest resolution). Median (mean of the two middle values
//!   for an even count) and p90 (nearest rank: the ⌈0.9·n⌉-th smallest), in minutes.
//! - **SLA attainment** per priority: resolution — among tickets resolved and with a
//!   resolution due time, the share with `resolved_at ≤ resolution_due_at`; response — among
//!   tickets responded to and with a response due time, the share with
//!   `first_response_at ≤ response_due_at`.
//! - **first-contact resolution** (一次解决率): among resolved tickets (`resolved_at` set),
//!   the share never sent back by the requester (`reopen_count = 0`, no `reject` event) and
//!   never put on hold (no `pend` event) — resolved in one pass by the desk.
//! - **reopen rate**: among tickets resolved at least once, the share rejected at least once.
//! - **escalation rate**: among all tickets, the share with an `sla_breach` event (the worker
//!   escalated it) or a manual priority override (`priority` event).
//! - **auto-confirmation share**: among closed tickets, the share closed by the timer.
//! - **satisfaction**: average and distribution of the 1–5 ratings; response rate = rated /
//!   closed.
//! - **staff quality**: per enabled staff member (every role but customer and auditor; with a
//!   team filter, that team's members): skills count and average level; certifications valid
//!   on the period's last day (`obtained_on ≤ day ≤ expires_on`, no expiry = valid); training
//!   hours completed in the period.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yunwei_domain::{Action, DomainError, ErrorCode};
use yunwei_store::staff::{Certification, Skill, Training};
use yunwei_store::teams::Team;
use yunwei_store::tickets::{self, Ticket};
use yunwei_store::users::User;
use yunwei_store::{orgs, staff, teams};

use crate::{Actor, App, Result};

/// The period and filters of an evaluation.
#[derive(Debug, Clone, Deserialize)]
pub struct EvaluationQuery {
    /// First day (China Standard Time), inclusive.
    pub from: NaiveDate,
    /// Day after the last (exclusive).
    pub to: NaiveDate,
    pub org_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
}

impl EvaluationQuery {
    /// From request text: dates as `YYYY-MM-DD` (both required), organization and team as
    /// ids (empty = all). Bad input is a validation error naming the field.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        org: Option<&str>,
        team: Option<&str>,
    ) -> Result<EvaluationQuery> {
        let date = |field: &str, v: Option<&str>| -> Result<NaiveDate> {
            v.map(str::trim)
                .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
                .ok_or_else(|| DomainError::invalid(field).into())
        };
        let id = |field: &str, v: Option<&str>| -> Result<Option<Uuid>> {
            match v.map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| DomainError::invalid(field).into()),
            }
        };
        Ok(EvaluationQuery {
            from: date("from", from)?,
            to: date("to", to)?,
            org_id: id("organization", org)?,
            team_id: id("team", team)?,
        })
    }
}

/// A number of tickets under a key (kind, status).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

/// Median and p90 of durations in minutes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Durations {
    pub count: i64,
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
}

/// `count` of `base`, and the share (0…1; absent when the base is empty).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Share {
    pub count: i64,
    pub base: i64,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlaRow {
    /// 1 … 4; absent for the row over all priorities.
    pub priority: Option<i64>,
    pub tickets: i64,
    pub response: Share,
    pub resolution: Share,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Satisfaction {
    pub rated: i64,
    pub closed: i64,
    /// rated / closed.
    pub response_rate: Option<f64>,
    pub average: Option<f64>,
    /// Ratings 1, 2, 3, 4, 5.
    pub distribution: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Feedback {
    pub complaint: i64,
    pub opinion: i64,
    pub suggestion: i64,
}

/// One assignee's figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentRow {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    /// Tickets of the period assigned to them.
    pub assigned: i64,
    pub resolved: i64,
    pub median_resolution_minutes: Option<f64>,
    pub rated: i64,
    pub satisfaction_average: Option<f64>,
}

/// One staff member's quality record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StaffRow {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub skills: i64,
    pub average_level: Option<f64>,
    pub valid_certifications: i64,
    pub training_hours: i64,
}

/// One team's ticket figures and its members' quality aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TeamRow {
    pub team_id: Uuid,
    pub name: String,
    pub tickets: i64,
    pub resolved: i64,
    pub median_resolution_minutes: Option<f64>,
    pub rated: i64,
    pub satisfaction_average: Option<f64>,
    pub members: i64,
    /// Skills of all members.
    pub skills: i64,
    /// Average level over all members' skills.
    pub average_level: Option<f64>,
    pub valid_certifications: i64,
    pub training_hours: i64,
}

/// The evaluation of the service desk over a period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeskEvaluation {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub org_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub tickets: i64,
    /// incident, request, complaint, opinion, suggestion.
    pub by_kind: Vec<Count>,
    /// new, assigned, in_progress, pending, resolved, closed, cancelled.
    pub by_status: Vec<Count>,
    pub response: Durations,
    pub resolution: Durations,
    /// Priorities 1 … 4, then all together.
    pub sla: Vec<SlaRow>,
    pub first_contact_resolution: Share,
    pub reopen: Share,
    pub escalation: Share,
    pub auto_confirmation: Share,
    pub satisfaction: Satisfaction,
    pub feedback: Feedback,
    pub agents: Vec<AgentRow>,
    pub teams: Vec<TeamRow>,
    pub staff: Vec<StaffRow>,
}

const KINDS: [&str; 5] = ["incident", "request", "complaint", "opinion", "suggestion"];
const STATUSES: [&str; 7] = [
    "new",
    "assigned",
    "in_progress",
    "pending",
    "resolved",
    "closed",
    "cancelled",
];

/// Midnight China Standard Time of a day, in UTC.
pub fn cst_midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc() - Duration::hours(8)
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn minutes(d: Duration) -> f64 {
    d.num_microseconds()
        .map(|us| us as f64 / 60_000_000.0)
        .unwrap_or(d.num_seconds() as f64 / 60.0)
}

/// Median: the middle value, or the mean of the two middle values.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

/// Nearest-rank percentile: the ⌈p·n⌉-th smallest value.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    Some(sorted[rank - 1])
}

fn durations(mut v: Vec<f64>) -> Durations {
    v.sort_by(|a, b| a.total_cmp(b));
    Durations {
        count: v.len() as i64,
        median_minutes: median(&v).map(|x| round(x, 2)),
        p90_minutes: percentile(&v, 0.9).map(|x| round(x, 2)),
    }
}

fn share(count: i64, base: i64) -> Share {
    Share {
        count,
        base,
        rate: (base > 0).then(|| round(count as f64 / base as f64, 4)),
    }
}

fn average(v: &[i64]) -> Option<f64> {
    (!v.is_empty()).then(|| round(v.iter().sum::<i64>() as f64 / v.len() as f64, 2))
}

fn resolution_minutes(t: &Ticket) -> Option<f64> {
    t.resolved_at.map(|r| minutes(r - t.created_at))
}

/// Everything the figures are computed from.
pub struct Inputs<'a> {
    pub query: &'a EvaluationQuery,
    pub tickets: &'a [Ticket],
    /// (ticket id, event kind) for the kinds in `EVALUATION_EVENT_KINDS`.
    pub events: &'a [(Uuid, String)],
    pub staff: &'a [User],
    pub teams: &'a [Team],
    /// (team id, user id).
    pub memberships: &'a [(Uuid, Uuid)],
    pub skills: &'a [Skill],
    pub certifications: &'a [Certification],
    pub trainings: &'a [Training],
}

struct Quality {
    skills: Vec<i64>,
    valid_certifications: i64,
    training_hours: i64,
}

/// The figures, from rows already fetched (pure; unit-tested).
pub fn compute(i: &Inputs) -> DeskEvaluation {
    let q = i.query;
    let ts = i.tickets;
    let events: HashSet<(Uuid, &str)> = i.events.iter().map(|(t, k)| (*t, k.as_str())).collect();
    let ev = |id: Uuid, kind: &str| events.contains(&(id, kind));

    let count_by = |keys: &[&str], f: &dyn Fn(&Ticket) -> &str| {
        keys.iter()
            .map(|k| Count {
                key: k.to_string(),
                count: ts.iter().filter(|t| f(t) == *k).count() as i64,
            })
            .collect::<Vec<_>>()
    };
    let by_kind = count_by(&KINDS, &|t| t.kind.as_str());
    let by_status = count_by(&STATUSES, &|t| t.status.as_str());

    let response = durations(
        ts.iter()
            .filter_map(|t| t.first_response_at.map(|r| minutes(r - t.created_at)))
            .collect(),
    );
    let resolution = durations(ts.iter().filter_map(resolution_minutes).collect());

    let sla_row = |p: Option<i64>| {
        let of: Vec<&Ticket> = ts
            .iter()
            .filter(|t| p.is_none() || t.priority == p)
            .collect();
        let resp: Vec<bool> = of
            .iter()
            .filter_map(|t| match (t.first_response_at, t.response_due_at) {
                (Some(a), Some(d)) => Some(a <= d),
                _ => None,
            })
            .collect();
        let res: Vec<bool> = of
            .iter()
            .filter_map(|t| match (t.resolved_at, t.resolution_due_at) {
                (Some(a), Some(d)) => Some(a <= d),
                _ => None,
            })
            .collect();
        SlaRow {
            priority: p,
            tickets: of.len() as i64,
            response: share(
                resp.iter().filter(|m| **m).count() as i64,
                resp.len() as i64,
            ),
            resolution: share(res.iter().filter(|m| **m).count() as i64, res.len() as i64),
        }
    };
    let mut sla: Vec<SlaRow> = (1..=4).map(|p| sla_row(Some(p))).collect();
    sla.push(sla_row(None));

    let resolved: Vec<&Ticket> = ts.iter().filter(|t| t.resolved_at.is_some()).collect();
    let fcr = resolved
        .iter()
        .filter(|t| t.reopen_count == 0 && !ev(t.id, "reject") && !ev(t.id, "pend"))
        .count() as i64;
    let ever_resolved = ts
        .iter()
        .filter(|t| t.resolved_at.is_some() || t.reopen_count > 0 || ev(t.id, "reject"))
        .count() as i64;
    let reopened = ts
        .iter()
        .filter(|t| t.reopen_count > 0 || ev(t.id, "reject"))
        .count() as i64;
    let escalated = ts
        .iter()
        .filter(|t| ev(t.id, "sla_breach") || ev(t.id, "priority"))
        .count() as i64;
    let closed: Vec<&Ticket> = ts.iter().filter(|t| t.status == "closed").collect();
    let auto = closed.iter().filter(|t| t.auto_confirmed).count() as i64;

    let ratings: Vec<i64> = ts.iter().filter_map(|t| t.satisfaction).collect();
    let satisfaction = Satisfaction {
        rated: ratings.len() as i64,
        closed: closed.len() as i64,
        response_rate: share(ratings.len() as i64, closed.len() as i64).rate,
        average: average(&ratings),
        distribution: (1..=5)
            .map(|s| ratings.iter().filter(|r| **r == s).count() as i64)
            .collect(),
    };
    let kind_count = |k: &str| ts.iter().filter(|t| t.kind == k).count() as i64;
    let feedback = Feedback {
        complaint: kind_count("complaint"),
        opinion: kind_count("opinion"),
        suggestion: kind_count("suggestion"),
    };

    // Staff quality.
    let last_day = q.to.pred_opt().unwrap_or(q.to);
    let mut quality: HashMap<Uuid, Quality> = HashMap::new();
    for u in i.staff {
        quality.insert(
            u.id,
            Quality {
                skills: i
                    .skills
                    .iter()
                    .filter(|s| s.user_id == u.id)
                    .map(|s| s.level)
                    .collect(),
                valid_certifications: i
                    .certifications
                    .iter()
                    .filter(|c| {
                        c.user_id == u.id
                            && c.obtained_on <= last_day
                            && c.expires_on.is_none_or(|e| e >= last_day)
                    })
                    .count() as i64,
                training_hours: i
                    .trainings
                    .iter()
                    .filter(|t| {
                        t.user_id == u.id && t.completed_on >= q.from && t.completed_on < q.to
                    })
                    .map(|t| t.hours)
                    .sum(),
            },
        );
    }
    let in_team = |team: Uuid, user: Uuid| i.memberships.contains(&(team, user));
    let staff: Vec<StaffRow> = i
        .staff
        .iter()
        .filter(|u| !u.disabled)
        .filter(|u| q.team_id.is_none_or(|team| in_team(team, u.id)))
        .map(|u| {
            let qa = &quality[&u.id];
            StaffRow {
                user_id: u.id,
                username: u.username.clone(),
                display_name: u.display_name.clone(),
                role: u.role.clone(),
                skills: qa.skills.len() as i64,
                average_level: average(&qa.skills),
                valid_certifications: qa.valid_certifications,
                training_hours: qa.training_hours,
            }
        })
        .collect();

    // Per agent.
    let names: HashMap<Uuid, &User> = i.staff.iter().map(|u| (u.id, u)).collect();
    let mut by_agent: BTreeMap<Uuid, Vec<&Ticket>> = BTreeMap::new();
    for t in ts {
        if let Some(a) = t.assignee_id {
            by_agent.entry(a).or_default().push(t);
        }
    }
    let group = |v: &[&Ticket]| {
        let mut res: Vec<f64> = v.iter().filter_map(|t| resolution_minutes(t)).collect();
        res.sort_by(|a, b| a.total_cmp(b));
        let rated: Vec<i64> = v.iter().filter_map(|t| t.satisfaction).collect();
        (
            res.len() as i64,
            median(&res).map(|x| round(x, 2)),
            rated.len() as i64,
            average(&rated),
        )
    };
    let mut agents: Vec<AgentRow> = by_agent
        .iter()
        .map(|(id, v)| {
            let (resolved, med, rated, avg) = group(v);
            let u = names.get(id);
            AgentRow {
                user_id: *id,
                username: u.map(|u| u.username.clone()).unwrap_or_default(),
                display_name: u.map(|u| u.display_name.clone()).unwrap_or_default(),
                assigned: v.len() as i64,
                resolved,
                median_resolution_minutes: med,
                rated,
                satisfaction_average: avg,
            }
        })
        .collect();
    agents.sort_by(|a, b| {
        b.resolved
            .cmp(&a.resolved)
            .then(a.username.cmp(&b.username))
    });

    // Per team.
    let mut teams = Vec::new();
    for team in i.teams {
        if q.team_id.is_some_and(|t| t != team.id) {
            continue;
        }
        let of: Vec<&Ticket> = ts.iter().filter(|t| t.team_id == Some(team.id)).collect();
        let members: Vec<&Quality> = i
            .staff
            .iter()
            .filter(|u| !u.disabled && in_team(team.id, u.id))
            .filter_map(|u| quality.get(&u.id))
            .collect();
        if of.is_empty() && members.is_empty() {
            continue;
        }
        let (resolved, med, rated, avg) = group(&of);
        let levels: Vec<i64> = members
            .iter()
            .flat_map(|m| m.skills.iter().copied())
            .collect();
        teams.push(TeamRow {
            team_id: team.id,
            name: team.name.clone(),
            tickets: of.len() as i64,
            resolved,
            median_resolution_minutes: med,
            rated,
            satisfaction_average: avg,
            members: members.len() as i64,
            skills: levels.len() as i64,
            average_level: average(&levels),
            valid_certifications: members.iter().map(|m| m.valid_certifications).sum(),
            training_hours: members.iter().map(|m| m.training_hours).sum(),
        });
    }

    DeskEvaluation {
        from: q.from,
        to: q.to,
        org_id: q.org_id,
        team_id: q.team_id,
        tickets: ts.len() as i64,
        by_kind,
        by_status,
        response,
        resolution,
        sla,
        first_contact_resolution: share(fcr, resolved.len() as i64),
        reopen: share(reopened, ever_resolved),
        escalation: share(escalated, ts.len() as i64),
        auto_confirmation: share(auto, closed.len() as i64),
        satisfaction,
        feedback,
        agents,
        teams,
        staff,
    }
}

impl App {
    /// The service desk evaluation of over the tickets created in `[from, to)`.
    /// Managers, administrators and auditors (`EvaluationRead`); customers may not.
    pub async fn desk_evaluation(
        &self,
        actor: &Actor,
        query: EvaluationQuery,
    ) -> Result<DeskEvaluation> {
        actor.require(Action::EvaluationRead)?;
        if query.to <= query.from {
            return Err(DomainError::invalid("to").into());
        }
        if let Some(o) = query.org_id {
            orgs::get_org(&self.db, o)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "organization"))?;
        }
        if let Some(t) = query.team_id {
            teams::get(&self.db, t)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "team"))?;
        }
        let (from, to) = (cst_midnight(query.from), cst_midnight(query.to));
        let max = tickets::EVALUATION_MAX_TICKETS;
        let rows =
            tickets::created_between(&self.db, from, to, query.org_id, query.team_id, max + 1)
                .await?;
        if rows.len() as i64 > max {
            return Err(DomainError::invalid("to").into());
        }
        let events =
            tickets::event_kinds_created_between(&self.db, from, to, query.org_id, query.team_id)
                .await?;
        let staff_users = staff::staff_users(&self.db).await?;
        let all_teams = teams::list(&self.db).await?;
        let memberships = staff::team_memberships(&self.db).await?;
        let skills = staff::skills(&self.db, None).await?;
        let certifications = staff::certifications(&self.db, None).await?;
        let trainings = staff::trainings(&self.db, None).await?;
        Ok(compute(&Inputs {
            query: &query,
            tickets: &rows,
            events: &events,
            staff: &staff_users,
            teams: &all_teams,
            memberships: &memberships,
            skills: &skills,
            certifications: &certifications,
            trainings: &trainings,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_nearest_rank_p90() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), Some(3.0));
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.9), Some(9.0));
        assert_eq!(percentile(&[5.0, 7.0], 0.9), Some(7.0));
        assert_eq!(percentile(&[5.0], 0.9), Some(5.0));
    }

    #[test]
    fn shares_round_and_skip_empty_bases() {
        assert_eq!(share(0, 0).rate, None);
        assert_eq!(share(2, 3).rate, Some(0.6667));
        assert_eq!(average(&[4, 5]), Some(4.5));
    }

    #[test]
    fn cst_days_start_at_16_utc() {
        let d = NaiveDate::from_ymd_opt(2025, 9, 16).unwrap();
        assert_eq!(cst_midnight(d).to_rfc3339(), "2025-09-15T16:00:00+00:00");
    }
}
