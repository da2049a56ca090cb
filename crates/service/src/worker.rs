//! The background worker: every few seconds each node claims due jobs (with a lease, see
//! `yunwei_store::jobs`) and runs them. A job does its work and marks itself done in one
//! transaction, and only while its node still holds it, so a job is done once even when a
//! node stalls past its lease and another takes over. Handlers re-read the ticket and act on
//! its current state, so a job that is no longer needed does nothing.
//!
//! Jobs:
//! * `sla_check` — at the warning share of the resolution target (`Settings::sla_warn_percent`,
//!   75 % by default) the ticket gets `sla_warned_at` and an internal `sla_warning` event; at
//!   the deadline `sla_breached_at`, an internal `sla_breach` event and an escalation: the
//!   priority rises one level (not above P1), audited as the system.
//! * `auto_confirm` — a resolved ticket whose requester did not answer within
//!   `Settings::auto_confirm_business_days` working days (3 by default) is closed,
//!   `auto_confirmed`, with an `auto_confirm` event and an audit entry by the system.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use yunwei_domain::sla as dsla;
use yunwei_domain::ticket::{self, Party, Status, Transition};
use yunwei_store::jobs::{self, Job};
use yunwei_store::tickets::{self, Event, Ticket};
use yunwei_store::{audit, Tx};

use crate::sla::{
    auto_confirm_at, pauses_from_events, sla_in_tx, targets, warn_threshold, JOB_AUTO_CONFIRM,
    JOB_SLA_CHECK,
};
use crate::{snapshot, Actor, App, Error, Result};

/// Jobs claimed per round.
const BATCH: i64 = 20;

/// The priority reason recorded when a breach escalates a ticket.
pub const ESCALATION_REASON: &str = "SLA 超时自动升级 / escalated on SLA breach";

/// A node id unique among the running nodes: host name, process id and a random part.
pub fn default_node_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

fn ticket_id_of(job: &Job) -> Result<Uuid> {
    serde_json::from_str::<serde_json::Value>(&job.payload)
        .ok()
        .and_then(|v| v.get("ticket_id")?.as_str()?.parse().ok())
        .ok_or_else(|| Error::Internal(format!("job {}: bad payload", job.id)))
}

fn system_event(t: &Ticket, kind: &str, public: bool, at: DateTime<Utc>) -> Event {
    Event {
        id: yunwei_domain::ids::new_id(),
        ticket_id: t.id,
        org_id: t.org_id,
        at,
        actor_id: None,
        actor_name: "system".into(),
        kind: kind.into(),
        public,
        body: None,
        data_json: None,
    }
}

impl App {
    /// Run jobs until `shutdown` resolves: one round every `Settings::worker_interval`.
    pub async fn run_worker(&self, node_id: String, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        tracing::info!(node = %node_id, "background worker started");
        let mut last_purge: Option<DateTime<Utc>> = None;
        loop {
            if let Err(e) = self.work_once(&node_id).await {
                tracing::warn!(node = %node_id, "worker round failed: {e}");
            }
            let now = self.now();
            if last_purge.is_none_or(|p| now - p > Duration::hours(1)) {
                last_purge = Some(now);
                if let Err(e) = self.purge_jobs(now - Duration::days(7)).await {
                    tracing::warn!("purging finished jobs failed: {e}");
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.settings.worker_interval) => {}
            }
        }
        tracing::info!(node = %node_id, "background worker stopped");
    }

    async fn purge_jobs(&self, before: DateTime<Utc>) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        jobs::purge_done(&mut tx, before).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One round: claim the due jobs and run them. Returns how many were done.
    pub async fn work_once(&self, node_id: &str) -> Result<usize> {
        let now = self.now();
        let claimed = jobs::claim(&self.db, node_id, now, self.settings.job_lease, BATCH).await?;
        let mut done = 0;
        for job in claimed {
            let r = match job.kind.as_str() {
                JOB_SLA_CHECK => self.job_sla_check(&job, node_id).await,
                JOB_AUTO_CONFIRM => self.job_auto_confirm(&job, node_id).await,
                other => Err(Error::Internal(format!("unknown job kind {other}"))),
            };
            match r {
                Ok(true) => done += 1,
                Ok(false) => {
                    tracing::warn!(job = %job.id, node = node_id, "job lost its lease; its work was rolled back")
                }
                Err(e) => {
                    tracing::warn!(job = %job.id, kind = %job.kind, "job failed: {e}");
                    jobs::fail(&self.db, &job, node_id, self.now(), &e.to_string()).await?;
                }
            }
        }
        Ok(done)
    }

    /// Mark the job done in the transaction and commit; false (and roll back) when the node
    /// no longer holds it.
    async fn finish(
        &self,
        mut tx: Tx,
        job: &Job,
        node_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if !jobs::complete(&mut tx, job.id, node_id, now).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn job_sla_check(&self, job: &Job, node_id: &str) -> Result<bool> {
        let id = ticket_id_of(job)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let Some(before) = tickets::get(&mut tx, id).await? else {
            return self.finish(tx, job, node_id, now).await;
        };
        let working =
            Status::parse(&before.status).is_some_and(|s| s.is_open() && s != Status::Resolved);
        if !working || before.sla_breached_at.is_some() {
            return self.finish(tx, job, node_id, now).await;
        }
        let Some(sla) = sla_in_tx(self, &mut tx, before.sla_policy_id, now).await? else {
            return self.finish(tx, job, node_id, now).await;
        };
        let events = tickets::events(&mut tx, id, false).await?;
        let pauses = pauses_from_events(&events);
        let (_, target) = targets(&sla.policy, &before);
        let warn = warn_threshold(target, self.settings.sla_warn_percent);
        let elapsed = dsla::business_elapsed(&sla.calendar, before.created_at, now, &pauses);
        let sys = self.system_in_tx(&mut tx).await?;
        let mut t = before.clone();
        let facts = |t: &Ticket| {
            serde_json::json!({
                "elapsed_seconds": elapsed.num_seconds(),
                "target_seconds": target.num_seconds(),
                "due_at": t.resolution_due_at,
                "warn_percent": self.settings.sla_warn_percent,
            })
        };
        let mut changed = false;
        let mut breached = false;
        if elapsed >= warn && t.sla_warned_at.is_none() {
            t.sla_warned_at = Some(now);
            let mut ev = system_event(&t, "sla_warning", false, now);
            ev.data_json = Some(facts(&t).to_string());
            tickets::add_event(&mut tx, &ev).await?;
            self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
            let mut e = sys.entry("sla_warning", "ticket", &t.number, Some(t.org_id));
            e.after = Some(facts(&t));
            audit::append(&mut tx, e, now).await?;
            changed = true;
        }
        if elapsed >= target {
            let from = t.priority;
            let to = (crate::sla::target_priority(&t) - 1).max(1);
            t.sla_breached_at = Some(now);
            if from != Some(to) {
                t.priority = Some(to);
                t.priority_reason = Some(ESCALATION_REASON.into());
            }
            let mut data = facts(&t);
            data["priority_from"] = serde_json::json!(from);
            data["priority_to"] = serde_json::json!(to);
            let mut ev = system_event(&t, "sla_breach", false, now);
            ev.data_json = Some(data.to_string());
            tickets::add_event(&mut tx, &ev).await?;
            self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
            changed = true;
            breached = true;
        }
        if changed {
            t.updated_at = now;
        }
        // Store the marks and fresh deadlines (a new priority has new targets; the calendar
        // or policy may have changed since the job was scheduled) and schedule what remains.
        self.refresh_sla(&mut tx, &mut t, now).await?;
        if breached {
            let mut e = sys.entry("sla_breach", "ticket", &t.number, Some(t.org_id));
            e.before = snapshot(&before);
            e.after = snapshot(&t);
            audit::append(&mut tx, e, now).await?;
        }
        self.finish(tx, job, node_id, now).await
    }

    async fn job_auto_confirm(&self, job: &Job, node_id: &str) -> Result<bool> {
        let id = ticket_id_of(job)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let Some(before) = tickets::get(&mut tx, id).await? else {
            return self.finish(tx, job, node_id, now).await;
        };
        let (Some(Status::Resolved), Some(resolved_at)) =
            (Status::parse(&before.status), before.resolved_at)
        else {
            return self.finish(tx, job, node_id, now).await;
        };
        let Some(sla) = sla_in_tx(self, &mut tx, before.sla_policy_id, now).await? else {
            return self.finish(tx, job, node_id, now).await;
        };
        let due = auto_confirm_at(
            &sla.calendar,
            resolved_at,
            self.settings.auto_confirm_business_days,
        );
        if due.is_none_or(|d| now < d) {
            // Not yet (the ticket was resolved again since): its own job comes later.
            return self.finish(tx, job, node_id, now).await;
        }
        let to = ticket::next_status(Status::Resolved, Transition::AutoConfirm, Party::System)?;
        let sys: Actor = self.system_in_tx(&mut tx).await?;
        let mut t = before.clone();
        t.status = to.as_str().into();
        t.sub_status = None;
        t.closed_at = Some(now);
        t.auto_confirmed = true;
        t.updated_at = now;
        tickets::update(&mut tx, &t).await?;
        let mut ev = system_event(&t, Transition::AutoConfirm.as_str(), true, now);
        ev.data_json = Some(
            serde_json::json!({
                "from": before.status,
                "to": t.status,
                "sub_status": t.sub_status,
                "business_days": self.settings.auto_confirm_business_days,
            })
            .to_string(),
        );
        tickets::add_event(&mut tx, &ev).await?;
        self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
        self.refresh_sla(&mut tx, &mut t, now).await?;
        let mut e = sys.entry(
            Transition::AutoConfirm.as_str(),
            "ticket",
            &t.number,
            Some(t.org_id),
        );
        e.before = snapshot(&before);
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        self.finish(tx, job, node_id, now).await
    }
}
