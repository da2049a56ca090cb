//! Announcements (R-7.2c, publishing service-related information): planned maintenance,
//! outages and notices with a time window, the catalog items they affect and their audience.
//!
//! Staff (admin, manager, agent) write and publish them. Everybody may read (the `CatalogRead`
//! permission): customers only published announcements addressed to all organizations or to
//! their own; an announcement they may not see answers exactly like a missing one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yunwei_domain::announcement::{self as rules, Kind};
use yunwei_domain::{validate, Action, DomainError, ErrorCode};
use yunwei_store::announcements::{self as store, Announcement, Filter};
use yunwei_store::{audit, catalog, orgs, Tx};

use crate::{snapshot, Actor, App, Page, Result};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAnnouncement {
    /// maintenance, outage or notice.
    pub kind: String,
    /// 1–200 characters.
    pub title: String,
    /// At most 20 000 characters.
    #[serde(default)]
    pub body: String,
    pub starts_at: DateTime<Utc>,
    /// Absent: open-ended. Not before `starts_at`.
    pub ends_at: Option<DateTime<Utc>>,
    /// Catalog items affected.
    #[serde(default)]
    pub items: Vec<Uuid>,
    /// Address every organization (the default when `orgs` is absent).
    pub all_orgs: Option<bool>,
    /// The organizations addressed (then `all_orgs` is false).
    pub orgs: Option<Vec<Uuid>>,
    /// Publish at once (default: a draft).
    #[serde(default)]
    pub published: bool,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementPatch {
    pub kind: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Make the announcement open-ended.
    #[serde(default)]
    pub clear_ends_at: bool,
    pub items: Option<Vec<Uuid>>,
    pub all_orgs: Option<bool>,
    pub orgs: Option<Vec<Uuid>>,
    pub published: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct AnnouncementQuery {
    /// Only announcements in force now or starting within 7 days.
    pub current: Option<bool>,
    /// maintenance, outage or notice.
    pub kind: Option<String>,
    pub cursor: Option<Uuid>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnnouncementDetail {
    #[serde(flatten)]
    pub announcement: Announcement,
    /// Catalog items affected.
    pub items: Vec<Uuid>,
    /// Organizations addressed when `all_orgs` is false (customers see only their own).
    pub orgs: Vec<Uuid>,
    /// In force now or starting within 7 days.
    pub current: bool,
}

fn kind(s: &str) -> Result<String> {
    Kind::parse(s.trim())
        .map(|k| k.as_str().to_string())
        .ok_or_else(|| DomainError::invalid("kind").into())
}

fn body(s: &str) -> Result<String> {
    Ok(validate::opt_text("body", Some(s), rules::BODY_MAX)?.unwrap_or_default())
}

fn window(a: &Announcement) -> Result<()> {
    if rules::window_ok(a.starts_at, a.ends_at) {
        Ok(())
    } else {
        Err(DomainError::invalid("ends_at").into())
    }
}

/// The audience: (all organizations?, the listed ones).
fn audience(all: bool, list: Vec<Uuid>) -> Result<(bool, Vec<Uuid>)> {
    match (all, list.is_empty()) {
        (true, true) => Ok((true, vec![])),
        (false, false) => Ok((false, list)),
        _ => Err(DomainError::invalid("orgs").into()),
    }
}

async fn check_refs(tx: &mut Tx, items: &[Uuid], org_ids: &[Uuid]) -> Result<()> {
    for i in items {
        catalog::get(&mut *tx, *i)
            .await?
            .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "items"))?;
    }
    for o in org_ids {
        orgs::get_org(&mut *tx, *o)
            .await?
            .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "orgs"))?;
    }
    Ok(())
}

fn dedup(mut v: Vec<Uuid>) -> Vec<Uuid> {
    v.sort();
    v.dedup();
    v
}

impl App {
    /// Announcements the caller may read, newest first.
    pub async fn list_announcements(
        &self,
        actor: &Actor,
        q: AnnouncementQuery,
    ) -> Result<Page<AnnouncementDetail>> {
        actor.require(Action::CatalogRead)?;
        let limit = crate::page_limit(q.limit)?;
        let kind = match q.kind.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(k) => Some(kind(k)?),
        };
        let now = self.now();
        let audience = actor.scope().org_filter();
        let f = Filter {
            published_only: audience.is_some(),
            audience,
            current: q
                .current
                .unwrap_or(false)
                .then(|| (now, rules::upcoming_horizon(now))),
            kind,
            before: q.cursor,
            limit: limit + 1,
        };
        let mut rows = store::list(&self.db, &f).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|a| a.id.to_string())
        } else {
            None
        };
        let mut items = Vec::with_capacity(rows.len());
        for a in rows {
            items.push(self.announcement_detail(actor, a).await?);
        }
        Ok(Page { items, next_cursor })
    }

    pub async fn get_announcement(&self, actor: &Actor, id: Uuid) -> Result<AnnouncementDetail> {
        actor.require(Action::CatalogRead)?;
        let a = store::get(&self.db, id)
            .await?
            .ok_or(DomainError::not_found())?;
        if let Some(own) = actor.scope().org_filter() {
            let addressed = a.all_orgs || store::orgs(&self.db, a.id).await?.contains(&own);
            if !a.published || !addressed {
                return Err(DomainError::not_found().into());
            }
        }
        self.announcement_detail(actor, a).await
    }

    async fn announcement_detail(
        &self,
        actor: &Actor,
        a: Announcement,
    ) -> Result<AnnouncementDetail> {
        let items = store::items(&self.db, a.id).await?;
        let mut org_ids = store::orgs(&self.db, a.id).await?;
        if let Some(own) = actor.scope().org_filter() {
            org_ids.retain(|o| *o == own);
        }
        Ok(AnnouncementDetail {
            current: rules::is_current(self.now(), a.starts_at, a.ends_at),
            announcement: a,
            items,
            orgs: org_ids,
        })
    }

    pub async fn create_announcement(
        &self,
        actor: &Actor,
        input: NewAnnouncement,
    ) -> Result<AnnouncementDetail> {
        actor.require(Action::AnnouncementWrite)?;
        let now = self.now();
        let a = Announcement {
            id: yunwei_domain::ids::new_id(),
            kind: kind(&input.kind)?,
            title: validate::name("title", &input.title, rules::TITLE_MAX)?,
            body: body(&input.body)?,
            starts_at: yunwei_domain::audit::truncate_to_micros(input.starts_at),
            ends_at: input.ends_at.map(yunwei_domain::audit::truncate_to_micros),
            all_orgs: true,
            published: input.published,
            created_by: actor.user_id,
            created_at: now,
            updated_at: now,
        };
        window(&a)?;
        let all = input.all_orgs.unwrap_or(input.orgs.is_none());
        let (all, org_ids) = audience(all, dedup(input.orgs.unwrap_or_default()))?;
        let a = Announcement { all_orgs: all, ..a };
        let items = dedup(input.items);
        let mut tx = self.db.begin_write().await?;
        check_refs(&mut tx, &items, &org_ids).await?;
        store::insert(&mut tx, &a).await?;
        store::set_items(&mut tx, a.id, &items).await?;
        store::set_orgs(&mut tx, a.id, &org_ids).await?;
        let detail = AnnouncementDetail {
            current: rules::is_current(now, a.starts_at, a.ends_at),
            announcement: a,
            items,
            orgs: org_ids,
        };
        let mut e = actor.entry("create", "announcement", detail.announcement.id, None);
        e.after = snapshot(&detail);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(detail)
    }

    pub async fn update_announcement(
        &self,
        actor: &Actor,
        id: Uuid,
        p: AnnouncementPatch,
    ) -> Result<AnnouncementDetail> {
        actor.require(Action::AnnouncementWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = store::get(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let before_items = store::items(&mut tx, id).await?;
        let before_orgs = store::orgs(&mut tx, id).await?;
        let mut a = before.clone();
        if let Some(k) = &p.kind {
            a.kind = kind(k)?;
        }
        if let Some(t) = &p.title {
            a.title = validate::name("title", t, rules::TITLE_MAX)?;
        }
        if let Some(b) = &p.body {
            a.body = body(b)?;
        }
        if let Some(s) = p.starts_at {
            a.starts_at = yunwei_domain::audit::truncate_to_micros(s);
        }
        if p.clear_ends_at {
            a.ends_at = None;
        } else if let Some(e) = p.ends_at {
            a.ends_at = Some(yunwei_domain::audit::truncate_to_micros(e));
        }
        window(&a)?;
        if let Some(pb) = p.published {
            a.published = pb;
        }
        let all = p.all_orgs.unwrap_or(if p.orgs.is_some() {
            false
        } else {
            before.all_orgs
        });
        let list = match p.orgs {
            Some(o) => dedup(o),
            None if all => vec![],
            None => before_orgs.clone(),
        };
        let (all, org_ids) = audience(all, list)?;
        a.all_orgs = all;
        let items = p.items.map(dedup).unwrap_or_else(|| before_items.clone());
        check_refs(&mut tx, &items, &org_ids).await?;
        a.updated_at = now;
        store::update(&mut tx, &a).await?;
        store::set_items(&mut tx, id, &items).await?;
        store::set_orgs(&mut tx, id, &org_ids).await?;
        let detail = AnnouncementDetail {
            current: rules::is_current(now, a.starts_at, a.ends_at),
            announcement: a,
            items,
            orgs: org_ids,
        };
        let mut e = actor.entry("update", "announcement", id, None);
        e.before = snapshot(&AnnouncementDetail {
            current: rules::is_current(now, before.starts_at, before.ends_at),
            announcement: before,
            items: before_items,
            orgs: before_orgs,
        });
        e.after = snapshot(&detail);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// Make an announcement visible to its audience.
    pub async fn publish_announcement(&self, actor: &Actor, id: Uuid) -> Result<Announcement> {
        self.set_published(actor, id, true).await
    }

    /// Withdraw an announcement from customers (it stays visible to staff).
    pub async fn unpublish_announcement(&self, actor: &Actor, id: Uuid) -> Result<Announcement> {
        self.set_published(actor, id, false).await
    }

    async fn set_published(
        &self,
        actor: &Actor,
        id: Uuid,
        published: bool,
    ) -> Result<Announcement> {
        actor.require(Action::AnnouncementWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = store::get(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        if before.published == published {
            return Ok(before);
        }
        let a = Announcement {
            published,
            updated_at: now,
            ..before.clone()
        };
        store::update(&mut tx, &a).await?;
        let action = if published { "publish" } else { "unpublish" };
        let mut e = actor.entry(action, "announcement", id, None);
        e.before = Some(serde_json::json!({ "published": before.published }));
        e.after = Some(serde_json::json!({ "published": published }));
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(a)
    }
}
