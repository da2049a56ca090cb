//! `migrate-store`: copy a whole installation from one store to another (SQLite → PostgreSQL
//! to grow past one machine, or back as a logical export), then verify row counts and the
//! audit chain on the target.
//!
//! The source is read inside one transaction (a consistent snapshot); the target is written
//! in one transaction, so a failed copy leaves the target as it was. The target must be a
//! fresh installation (migrated, no users).

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{on_db, on_tx, Db, Result, StoreError};

#[derive(Clone, Copy, Debug)]
enum Ty {
    Id,
    Text,
    Int,
    Bool,
    Time,
    Date,
    Bytes,
}

#[derive(Debug, Clone)]
enum Val {
    Id(Option<Uuid>),
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
    Date(Option<chrono::NaiveDate>),
    Bytes(Option<Vec<u8>>),
}

struct Table {
    name: &'static str,
    cols: &'static [(&'static str, Ty)],
    /// Self-references written in a second pass (rows may point at later rows).
    deferred: &'static [&'static str],
    order_by: &'static str,
}

use Ty::*;

/// Every table, parents before children. A test checks this covers the schema.
const TABLES: &[Table] = &[
    Table {
        name: "organizations",
        cols: &[
            ("id", Id),
            ("name", Text),
            ("kind", Text),
            ("code", Text),
            ("contact", Text),
            ("disabled", Bool),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "departments",
        cols: &[
            ("id", Id),
            ("org_id", Id),
            ("parent_id", Id),
            ("name", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &["parent_id"],
        order_by: "id",
    },
    Table {
        name: "users",
        cols: &[
            ("id", Id),
            ("org_id", Id),
            ("department_id", Id),
            ("username", Text),
            ("display_name", Text),
            ("email", Text),
            ("phone", Text),
            ("role", Text),
            ("password_hash", Text),
            ("disabled", Bool),
            ("lang", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "teams",
        cols: &[
            ("id", Id),
            ("name", Text),
            ("description", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "team_members",
        cols: &[("team_id", Id), ("user_id", Id)],
        deferred: &[],
        order_by: "team_id, user_id",
    },
    Table {
        name: "sessions",
        cols: &[
            ("id_hash", Text),
            ("user_id", Id),
            ("csrf_token", Text),
            ("ip", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("last_seen_at", Time),
        ],
        deferred: &[],
        order_by: "id_hash",
    },
    Table {
        name: "api_tokens",
        cols: &[
            ("id", Id),
            ("user_id", Id),
            ("name", Text),
            ("token_hash", Text),
            ("prefix", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("revoked_at", Time),
            ("last_used_at", Time),
            ("last_used_ip", Text),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "login_failures",
        cols: &[("key", Text), ("window_start", Time), ("failures", Int)],
        deferred: &[],
        order_by: "key",
    },
    Table {
        name: "audit_log",
        cols: &[
            ("seq", Int),
            ("id", Id),
            ("at", Time),
            ("actor_id", Id),
            ("actor_name", Text),
            ("action", Text),
            ("entity", Text),
            ("entity_id", Text),
            ("org_id", Id),
            ("before_json", Text),
            ("after_json", Text),
            ("ip", Text),
            ("prev_hash", Text),
            ("hash", Text),
        ],
        deferred: &[],
        order_by: "seq",
    },
    Table {
        name: "audit_head",
        cols: &[("id", Int), ("last_seq", Int), ("last_hash", Text)],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "ticket_counters",
        cols: &[("prefix", Text), ("year", Int), ("value", Int)],
        deferred: &[],
        order_by: "prefix, year",
    },
    Table {
        name: "calendars",
        cols: &[
            ("id", Id),
            ("name", Text),
            ("spec_json", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "sla_policies",
        cols: &[
            ("id", Id),
            ("name", Text),
            ("calendar_id", Id),
            ("p1_response_minutes", Int),
            ("p1_resolution_minutes", Int),
            ("p2_response_minutes", Int),
            ("p2_resolution_minutes", Int),
            ("p3_response_minutes", Int),
            ("p3_resolution_minutes", Int),
            ("p4_response_minutes", Int),
            ("p4_resolution_minutes", Int),
            ("is_default", Bool),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "tickets",
        cols: &[
            ("id", Id),
            ("number", Text),
            ("kind", Text),
            ("status", Text),
            ("sub_status", Text),
            ("subject", Text),
            ("description", Text),
            ("org_id", Id),
            ("department_id", Id),
            ("requester_id", Id),
            ("created_by", Id),
            ("channel", Text),
            ("category", Text),
            ("criticality", Text),
            ("breadth", Text),
            ("urgency", Text),
            ("priority", Int),
            ("priority_reason", Text),
            ("team_id", Id),
            ("assignee_id", Id),
            ("parent_id", Id),
            ("resolution", Text),
            ("reopen_count", Int),
            ("first_response_at", Time),
            ("resolved_at", Time),
            ("closed_at", Time),
            ("auto_confirmed", Bool),
            ("satisfaction", Int),
            ("satisfaction_comment", Text),
            ("rated_at", Time),
            ("outage_start", Time),
            ("outage_end", Time),
            ("created_at", Time),
            ("updated_at", Time),
            ("sla_policy_id", Id),
            ("response_due_at", Time),
            ("resolution_due_at", Time),
            ("sla_warned_at", Time),
            ("sla_breached_at", Time),
            ("catalog_item_id", Id),
        ],
        deferred: &["parent_id", "catalog_item_id"],
        order_by: "id",
    },
    Table {
        name: "ticket_events",
        cols: &[
            ("id", Id),
            ("ticket_id", Id),
            ("org_id", Id),
            ("at", Time),
            ("actor_id", Id),
            ("actor_name", Text),
            ("kind", Text),
            ("public", Bool),
            ("body", Text),
            ("data_json", Text),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "ticket_attachments",
        cols: &[
            ("id", Id),
            ("ticket_id", Id),
            ("org_id", Id),
            ("event_id", Id),
            ("internal", Bool),
            ("file_name", Text),
            ("content_type", Text),
            ("size", Int),
            ("sha256", Text),
            ("content", Bytes),
            ("uploaded_by", Id),
            ("uploaded_by_name", Text),
            ("created_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "ticket_watchers",
        cols: &[
            ("ticket_id", Id),
            ("user_id", Id),
            ("added_by", Id),
            ("created_at", Time),
        ],
        deferred: &[],
        order_by: "ticket_id, user_id",
    },
    Table {
        name: "ticket_sub_statuses",
        cols: &[
            ("id", Id),
            ("phase", Text),
            ("code", Text),
            ("name_zh", Text),
            ("name_en", Text),
            ("pauses_sla", Bool),
            ("active", Bool),
            ("sort", Int),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "catalog_items",
        cols: &[
            ("id", Id),
            ("code", Text),
            ("clause", Text),
            ("class", Text),
            ("name_zh", Text),
            ("name_en", Text),
            ("description", Text),
            ("owner_team_id", Id),
            ("sla_policy_id", Id),
            ("active", Bool),
            ("seeded", Bool),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "agreements",
        cols: &[
            ("id", Id),
            ("org_id", Id),
            ("name", Text),
            ("contract_no", Text),
            ("starts_on", Date),
            ("ends_on", Date),
            ("sla_policy_id", Id),
            ("notes", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "agreement_items",
        cols: &[("agreement_id", Id), ("item_id", Id)],
        deferred: &[],
        order_by: "agreement_id, item_id",
    },
    Table {
        name: "notification_channels",
        cols: &[
            ("id", Id),
            ("kind", Text),
            ("name", Text),
            ("config", Text),
            ("org_id", Id),
            ("enabled", Bool),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "notification_prefs",
        cols: &[("user_id", Id), ("event_kind", Text), ("channels", Text)],
        deferred: &[],
        order_by: "user_id, event_kind",
    },
    Table {
        name: "outbox",
        cols: &[
            ("id", Id),
            ("channel_id", Id),
            ("recipient_user_id", Id),
            ("kind", Text),
            ("payload", Text),
            ("status", Text),
            ("attempts", Int),
            ("next_attempt_at", Time),
            ("locked_by", Text),
            ("locked_until", Time),
            ("last_error", Text),
            ("created_at", Time),
            ("sent_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "inbox",
        cols: &[
            ("id", Id),
            ("user_id", Id),
            ("org_id", Id),
            ("ticket_number", Text),
            ("title", Text),
            ("body", Text),
            ("read_at", Time),
            ("created_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "announcements",
        cols: &[
            ("id", Id),
            ("kind", Text),
            ("title", Text),
            ("body", Text),
            ("starts_at", Time),
            ("ends_at", Time),
            ("all_orgs", Bool),
            ("published", Bool),
            ("created_by", Id),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "announcement_items",
        cols: &[("announcement_id", Id), ("item_id", Id)],
        deferred: &[],
        order_by: "announcement_id, item_id",
    },
    Table {
        name: "announcement_orgs",
        cols: &[("announcement_id", Id), ("org_id", Id)],
        deferred: &[],
        order_by: "announcement_id, org_id",
    },
    Table {
        name: "staff_skills",
        cols: &[
            ("id", Id),
            ("user_id", Id),
            ("skill", Text),
            ("level", Int),
            ("created_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "staff_certifications",
        cols: &[
            ("id", Id),
            ("user_id", Id),
            ("name", Text),
            ("issuer", Text),
            ("obtained_on", Date),
            ("expires_on", Date),
            ("created_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "staff_trainings",
        cols: &[
            ("id", Id),
            ("user_id", Id),
            ("course", Text),
            ("hours", Int),
            ("completed_on", Date),
            ("created_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "settings",
        cols: &[("key", Text), ("value", Text)],
        deferred: &[],
        order_by: "key",
    },
    Table {
        name: "jobs",
        cols: &[
            ("id", Id),
            ("kind", Text),
            ("payload", Text),
            ("run_at", Time),
            ("attempts", Int),
            ("locked_by", Text),
            ("locked_until", Time),
            ("last_error", Text),
            ("created_at", Time),
            ("done_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "ci_classes",
        cols: &[
            ("id", Id),
            ("code", Text),
            ("name_zh", Text),
            ("name_en", Text),
            ("category", Text),
            ("has_security_level", Bool),
            ("has_data_level", Bool),
            ("builtin", Bool),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "ci_attributes",
        cols: &[
            ("id", Id),
            ("class_id", Id),
            ("code", Text),
            ("name_zh", Text),
            ("name_en", Text),
            ("kind", Text),
            ("required", Bool),
            ("options_json", Text),
            ("position", Int),
            ("builtin", Bool),
            ("created_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "cis",
        cols: &[
            ("id", Id),
            ("org_id", Id),
            ("department_id", Id),
            ("class_id", Id),
            ("external_key", Text),
            ("name", Text),
            ("status", Text),
            ("criticality", Text),
            ("location", Text),
            ("vendor", Text),
            ("contract_no", Text),
            ("contract_end", Date),
            ("warranty_end", Date),
            ("purchased_on", Date),
            ("purchase_cost", Int),
            ("annual_cost", Int),
            ("security_level", Int),
            ("data_level", Text),
            ("calendar_id", Id),
            ("attributes_json", Text),
            ("version", Int),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "ci_versions",
        cols: &[
            ("id", Id),
            ("ci_id", Id),
            ("version", Int),
            ("valid_from", Time),
            ("action", Text),
            ("actor_name", Text),
            ("snapshot_json", Text),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "ci_relations",
        cols: &[
            ("id", Id),
            ("source_id", Id),
            ("kind", Text),
            ("target_id", Id),
            ("created_at", Time),
            ("created_by", Id),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "cmdb_epoch",
        cols: &[("id", Int), ("epoch", Int)],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "cmdb_graph_log",
        cols: &[("epoch", Int), ("ci_id", Id)],
        deferred: &[],
        order_by: "epoch, ci_id",
    },
    Table {
        name: "ci_patches",
        cols: &[
            ("id", Id),
            ("ci_id", Id),
            ("patch_code", Text),
            ("title", Text),
            ("severity", Text),
            ("applied_at", Time),
            ("applied_by_name", Text),
            ("notes", Text),
            ("created_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "ticket_cis",
        cols: &[
            ("ticket_id", Id),
            ("ci_id", Id),
            ("created_at", Time),
            ("created_by", Id),
        ],
        deferred: &[],
        order_by: "ticket_id, ci_id",
    },
    Table {
        name: "saved_views",
        cols: &[
            ("id", Id),
            ("user_id", Id),
            ("team_id", Id),
            ("name", Text),
            ("filters", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "alert_sources",
        cols: &[
            ("id", Id),
            ("org_id", Id),
            ("name", Text),
            ("format", Text),
            ("auth_mode", Text),
            ("hmac_secret", Text),
            ("token_hash", Text),
            ("ticket_kind", Text),
            ("criticality", Text),
            ("breadth", Text),
            ("urgency", Text),
            ("team_id", Id),
            ("rate_per_sec", Int),
            ("burst", Int),
            ("enabled", Bool),
            ("created_by", Id),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "alerts",
        cols: &[
            ("id", Id),
            ("source_id", Id),
            ("org_id", Id),
            ("dedup_key", Text),
            ("status", Text),
            ("severity", Text),
            ("summary", Text),
            ("description", Text),
            ("host", Text),
            ("labels_json", Text),
            ("starts_at", Time),
            ("first_seen", Time),
            ("last_seen", Time),
            ("occurrences", Int),
            ("ticket_id", Id),
            ("ci_id", Id),
            ("acknowledged_at", Time),
            ("resolved_at", Time),
        ],
        deferred: &[],
        order_by: "id",
    },
    Table {
        name: "alert_nonces",
        cols: &[("source_id", Id), ("nonce", Text), ("seen_at", Time)],
        deferred: &[],
        order_by: "source_id, nonce",
    },
];

/// The tables copied, in order.
pub fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}

fn select_sql(t: &Table) -> String {
    let cols: Vec<&str> = t.cols.iter().map(|c| c.0).collect();
    let mut s = String::from("SELECT ");
    s.push_str(&cols.join(", "));
    s.push_str(" FROM ");
    s.push_str(t.name);
    s.push_str(" ORDER BY ");
    s.push_str(t.order_by);
    s
}

fn insert_sql(t: &Table) -> String {
    let cols: Vec<&str> = t.cols.iter().map(|c| c.0).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let mut s = String::from("INSERT INTO ");
    s.push_str(t.name);
    s.push_str(" (");
    s.push_str(&cols.join(", "));
    s.push_str(") VALUES (");
    s.push_str(&params.join(", "));
    s.push(')');
    s
}

macro_rules! read_rows {
    ($c:expr, $t:expr) => {{
        let rows = sqlx::query(&select_sql($t)).fetch_all($c).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut vals = Vec::with_capacity($t.cols.len());
            for (i, (_, ty)) in $t.cols.iter().enumerate() {
                vals.push(match ty {
                    Ty::Id => Val::Id(r.try_get(i)?),
                    Ty::Text => Val::Text(r.try_get(i)?),
                    Ty::Int => Val::Int(r.try_get(i)?),
                    Ty::Bool => Val::Bool(r.try_get(i)?),
                    Ty::Time => Val::Time(r.try_get(i)?),
                    Ty::Date => Val::Date(r.try_get(i)?),
                    Ty::Bytes => Val::Bytes(r.try_get(i)?),
                });
            }
            out.push(vals);
        }
        Ok::<_, StoreError>(out)
    }};
}

macro_rules! bind_vals {
    ($q:expr, $vals:expr) => {{
        let mut q = $q;
        for v in $vals {
            q = match v {
                Val::Id(x) => q.bind(*x),
                Val::Text(x) => q.bind(x.clone()),
                Val::Int(x) => q.bind(*x),
                Val::Bool(x) => q.bind(*x),
                Val::Time(x) => q.bind(*x),
                Val::Date(x) => q.bind(*x),
                Val::Bytes(x) => q.bind(x.clone()),
            };
        }
        q
    }};
}

/// Per-table row counts of a store.
pub async fn counts(db: &Db) -> Result<Vec<(&'static str, i64)>> {
    let mut out = Vec::new();
    for t in TABLES {
        let mut sql = String::from("SELECT COUNT(*) FROM ");
        sql.push_str(t.name);
        let n: i64 = on_db!(db, |p| sqlx::query_scalar(&sql).fetch_one(p).await)?;
        out.push((t.name, n));
    }
    Ok(out)
}

/// Copy everything from `from` to `to` (both migrated); returns the verified counts.
pub async fn copy_all(from: &Db, to: &Db) -> Result<Vec<(&'static str, i64)>> {
    if crate::users::count(from).await? == 0 {
        return Err(StoreError::Other(
            "the source holds no installation (no users); check the --from URL".into(),
        ));
    }
    if crate::users::count(to).await? > 0 {
        return Err(StoreError::Other(
            "the target already holds an installation (it has users); use an empty database".into(),
        ));
    }
    // Read a consistent snapshot of the source.
    let mut data = Vec::new();
    match from {
        Db::Sqlite(p) => {
            let mut tx = p.begin().await?;
            for t in TABLES {
                data.push(read_rows!(&mut *tx, t)?);
            }
            tx.commit().await?;
        }
        Db::Pg(p) => {
            let mut tx = p.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
            for t in TABLES {
                data.push(read_rows!(&mut *tx, t)?);
            }
            tx.commit().await?;
        }
    }
    let mut tx = to.begin_write().await?;
    // The fresh target's own audit head and settings give way to the source's.
    on_tx!(&mut tx, |c| sqlx::query("DELETE FROM audit_head")
        .execute(c)
        .await
        .map(|_| ()))?;
    on_tx!(&mut tx, |c| sqlx::query("DELETE FROM settings")
        .execute(c)
        .await
        .map(|_| ()))?;
    on_tx!(&mut tx, |c| sqlx::query("DELETE FROM login_failures")
        .execute(c)
        .await
        .map(|_| ()))?;
    // The fresh target's seeded sub-statuses give way to the source's.
    on_tx!(&mut tx, |c| sqlx::query("DELETE FROM ticket_sub_statuses")
        .execute(c)
        .await
        .map(|_| ()))?;
    for (t, rows) in TABLES.iter().zip(&data) {
        let ins = insert_sql(t);
        for row in rows {
            let vals: Vec<Val> = row
                .iter()
                .zip(t.cols)
                .map(|(v, (name, _))| {
                    if t.deferred.contains(name) {
                        Val::Id(None)
                    } else {
                        v.clone()
                    }
                })
                .collect();
            on_tx!(&mut tx, |c| bind_vals!(sqlx::query(&ins), &vals)
                .execute(c)
                .await
                .map(|_| ()))?;
        }
        for col in t.deferred {
            let idx = t
                .cols
                .iter()
                .position(|(n, _)| n == col)
                .expect("deferred column listed");
            let mut upd = String::from("UPDATE ");
            upd.push_str(t.name);
            upd.push_str(" SET ");
            upd.push_str(col);
            upd.push_str(" = $1 WHERE id = $2");
            for row in rows {
                if let (Val::Id(Some(v)), Val::Id(Some(id))) = (&row[idx], &row[0]) {
                    on_tx!(&mut tx, |c| sqlx::query(&upd)
                        .bind(*v)
                        .bind(*id)
                        .execute(c)
                        .await
                        .map(|_| ()))?;
                }
            }
        }
    }
    tx.commit().await?;

    let want: Vec<i64> = data.iter().map(|d| d.len() as i64).collect();
    let got = counts(to).await?;
    for ((name, n), w) in got.iter().zip(want) {
        if *n != w {
            return Err(StoreError::Other(format!(
                "verification failed: table {name} has {n} rows on the target, {w} on the source"
            )));
        }
    }
    let v = crate::audit::verify(to).await?;
    if let Some(f) = v.fault {
        return Err(StoreError::Other(format!(
            "verification failed: audit chain on the target: {f}"
        )));
    }
    Ok(got)
}

/// Tables in the live schema that [`copy_all`] does not know (must be empty: a test).
pub async fn unknown_tables(db: &Db) -> Result<Vec<String>> {
    let names: Vec<String> = match db {
        Db::Sqlite(p) => sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'").fetch_all(p).await?,
        Db::Pg(p) => sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations'").fetch_all(p).await?,
    };
    let known = table_names();
    Ok(names
        .into_iter()
        .filter(|n| !known.contains(&n.as_str()))
        .collect())
}
