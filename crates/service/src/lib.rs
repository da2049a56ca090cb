//! yunwei-service: the use cases. Every read and every write of a record goes through a
//! function here that takes the calling [`Actor`], checks the permission table and the
//! organization scope (yunwei_domain::authz), does the work in one transaction, and appends
//! the audit entry in that same transaction. Handlers (web, CLI) stay thin.

pub mod alerts;
pub mod announcements;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod catalog;
pub mod ci_search;
pub mod cmdb;
pub mod cmdb_graph;
pub mod cmdb_import;
pub mod error;
pub mod evaluation;
pub mod notify;
pub mod orgs;
pub mod search;
pub mod sla;
pub mod staff;
pub mod substatus;
pub mod teams;
pub mod tickets;
pub mod users;
pub mod views;
pub mod watchers;
pub mod worker;

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;
use yunwei_domain::clock::{Clock, SystemClock};
use yunwei_domain::{authz, Action, DomainError, Role};
use yunwei_store::audit::NewEntry;
use yunwei_store::Db;

pub use error::{Error, Result};

/// Settings the services need (from configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Idle session lifetime.
    pub session_idle: chrono::Duration,
    /// Failed sign-ins per username within `throttle_window` before sign-in is refused.
    pub max_failures_per_user: i64,
    /// Failed sign-ins per address within `throttle_window`.
    pub max_failures_per_ip: i64,
    pub throttle_window: chrono::Duration,
    /// Share of the resolution target, in percent, at which the SLA warning is raised.
    pub sla_warn_percent: u8,
    /// Working days a resolved ticket waits for its requester before it is closed
    /// automatically.
    pub auto_confirm_business_days: u32,
    /// How often the background worker looks for due jobs.
    pub worker_interval: std::time::Duration,
    /// How long a node holds a claimed job before another node may take it over.
    pub job_lease: chrono::Duration,
    /// The largest attachment accepted, in bytes.
    pub attachment_max_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_idle: chrono::Duration::hours(12),
            max_failures_per_user: 5,
            max_failures_per_ip: 50,
            throttle_window: chrono::Duration::minutes(15),
            sla_warn_percent: 75,
            auto_confirm_business_days: 3,
            worker_interval: std::time::Duration::from_secs(5),
            job_lease: chrono::Duration::minutes(2),
            attachment_max_bytes: 20 * 1024 * 1024,
        }
    }
}

/// The services over one database.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// This node's full-text index of tickets, when it has one (see [`search`]).
    pub search: Option<Arc<search::Search>>,
    /// This node's full-text index of configuration items, when it has one (see [`ci_search`]).
    pub ci_search: Option<Arc<ci_search::CiSearch>>,
    /// This node's in-memory CMDB relation graph (see [`cmdb_graph`]).
    pub cmdb_graph: Arc<cmdb_graph::GraphCache>,
    /// This node's short-lived cache of resolved tokens and sessions (see [`auth::AuthCache`]).
    pub auth_cache: Arc<auth::AuthCache>,
    /// This node's parsed SLA calendars, keyed by id and last change (see [`sla`]).
    pub calendars: Arc<sla::CalendarCache>,
    /// This node's copy of the CMDB class schema (see [`cmdb::SchemaCache`]).
    pub cmdb_schema_cache: Arc<cmdb::SchemaCache>,
    /// This node's alert-source rate limits (token buckets) and nonce pruning clock (see
    /// [`alerts`]).
    pub alert_gate: Arc<alerts::AlertGate>,
}

impl App {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
            settings: Settings::default(),
            search: None,
            ci_search: None,
            cmdb_graph: Default::default(),
            auth_cache: Default::default(),
            calendars: Default::default(),
            cmdb_schema_cache: Default::default(),
            alert_gate: Default::default(),
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        yunwei_domain::audit::truncate_to_micros(self.clock.now())
    }
}

/// Who is calling: a signed-in user (by session or token), or the system itself (CLI, jobs).
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub username: String,
    pub role: Role,
    pub org_id: Uuid,
    pub ip: Option<String>,
}

impl Actor {
    /// The installation acting on its own behalf (command line, bootstrap): full rights.
    pub fn system(provider_org: Uuid) -> Actor {
        Actor {
            user_id: None,
            username: "system".into(),
            role: Role::Admin,
            org_id: provider_org,
            ip: None,
        }
    }

    /// Refuse unless the role may perform the action.
    pub fn require(&self, action: Action) -> Result<()> {
        if authz::permits(self.role, action) {
            Ok(())
        } else {
            Err(DomainError::forbidden().into())
        }
    }

    pub fn scope(&self) -> authz::Scope {
        self.role.scope(self.org_id)
    }

    /// An audit entry by this actor.
    pub fn entry(
        &self,
        action: &str,
        entity: &str,
        entity_id: impl ToString,
        org_id: Option<Uuid>,
    ) -> NewEntry {
        NewEntry {
            actor_id: self.user_id,
            actor_name: self.username.clone(),
            action: action.into(),
            entity: entity.into(),
            entity_id: Some(entity_id.to_string()),
            org_id,
            before: None,
            after: None,
            ip: self.ip.clone(),
        }
    }
}

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Page size: default 50, at most 200.
pub fn page_limit(requested: Option<i64>) -> Result<i64> {
    match requested {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(DomainError::invalid("limit").into()),
    }
}

/// JSON of a record for the audit log.
pub fn snapshot<T: Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}
