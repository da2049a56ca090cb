//! The service catalog (seeded from §5–§6 of the standard, editable) and the service
//! agreements that name which catalog items a customer organization receives.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yunwei_domain::catalog::{Class, SEED};
use yunwei_domain::{validate, Action, DomainError, ErrorCode};
use yunwei_store::catalog::{self, Agreement, Item};
use yunwei_store::{audit, orgs, teams, StoreError};

use crate::{snapshot, Actor, App, Result};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub code: String,
    /// basic, performance, value_added, new_concept or new_technology.
    pub class: String,
    pub name_zh: String,
    pub name_en: String,
    pub clause: Option<String>,
    pub description: Option<String>,
    pub owner_team_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    pub class: Option<String>,
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub description: Option<String>,
    pub owner_team_id: Option<Uuid>,
    /// The SLA policy tickets for this item follow (overrides the default).
    pub sla_policy_id: Option<Uuid>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementInput {
    pub name: Option<String>,
    pub contract_no: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub sla_policy_id: Option<Uuid>,
    pub notes: Option<String>,
    /// Catalog items the customer receives.
    pub items: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgreementDetail {
    #[serde(flatten)]
    pub agreement: Agreement,
    pub items: Vec<Uuid>,
}

fn class(s: &str) -> Result<String> {
    Class::parse(s.trim())
        .map(|c| c.as_str().to_string())
        .ok_or_else(|| DomainError::invalid("class").into())
}

impl App {
    /// Add the standard's catalog items that are missing (every start; idempotent).
    pub async fn seed_catalog(&self) -> Result<usize> {
        let existing: Vec<String> = catalog::list(&self.db, false)
            .await?
            .into_iter()
            .map(|i| i.code)
            .collect();
        if SEED.iter().all(|s| existing.iter().any(|e| e == s.code)) {
            return Ok(0);
        }
        let now = self.now();
        let sys = self.system_actor().await?;
        let mut tx = self.db.begin_write().await?;
        let mut added = Vec::new();
        for s in SEED {
            let item = Item {
                id: yunwei_domain::ids::new_id(),
                code: s.code.into(),
                clause: Some(s.clause.into()),
                class: s.class.as_str().into(),
                name_zh: s.name_zh.into(),
                name_en: s.name_en.into(),
                description: None,
                owner_team_id: None,
                sla_policy_id: None,
                active: true,
                seeded: true,
                created_at: now,
                updated_at: now,
            };
            if catalog::insert_if_absent(&mut tx, &item).await? {
                added.push(s.code);
            }
        }
        if !added.is_empty() {
            let mut e = sys.entry("seed", "catalog", "standard", None);
            e.after = Some(serde_json::json!({ "codes": added }));
            audit::append(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        Ok(added.len())
    }

    pub async fn list_catalog(&self, actor: &Actor, include_inactive: bool) -> Result<Vec<Item>> {
        actor.require(Action::CatalogRead)?;
        let all = include_inactive && actor.require(Action::CatalogWrite).is_ok();
        Ok(catalog::list(&self.db, !all).await?)
    }

    pub async fn get_catalog_item(&self, actor: &Actor, id: Uuid) -> Result<Item> {
        actor.require(Action::CatalogRead)?;
        catalog::get(&self.db, id)
            .await?
            .ok_or_else(|| DomainError::not_found().into())
    }

    pub async fn create_catalog_item(&self, actor: &Actor, input: NewItem) -> Result<Item> {
        actor.require(Action::CatalogWrite)?;
        let code = validate::name("code", &input.code, 50)?;
        let now = self.now();
        let item = Item {
            id: yunwei_domain::ids::new_id(),
            code,
            clause: validate::opt_text("clause", input.clause.as_deref(), 20)?,
            class: class(&input.class)?,
            name_zh: validate::name("name_zh", &input.name_zh, 200)?,
            name_en: validate::name("name_en", &input.name_en, 200)?,
            description: validate::opt_text("description", input.description.as_deref(), 5000)?,
            owner_team_id: input.owner_team_id,
            sla_policy_id: None,
            active: true,
            seeded: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        if let Some(t) = item.owner_team_id {
            teams::get(&mut tx, t)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "owner_team_id"))?;
        }
        if !catalog::insert_if_absent(&mut tx, &item).await? {
            return Err(DomainError::field(ErrorCode::NameTaken, "code").into());
        }
        let mut e = actor.entry("create", "catalog_item", item.id, None);
        e.after = snapshot(&item);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(item)
    }

    pub async fn update_catalog_item(&self, actor: &Actor, id: Uuid, p: ItemPatch) -> Result<Item> {
        actor.require(Action::CatalogWrite)?;
        let mut tx = self.db.begin_write().await?;
        let before = catalog::get(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let mut i = before.clone();
        if let Some(c) = &p.class {
            i.class = class(c)?;
        }
        if let Some(n) = &p.name_zh {
            i.name_zh = validate::name("name_zh", n, 200)?;
        }
        if let Some(n) = &p.name_en {
            i.name_en = validate::name("name_en", n, 200)?;
        }
        if p.description.is_some() {
            i.description = validate::opt_text("description", p.description.as_deref(), 5000)?;
        }
        if let Some(t) = p.owner_team_id {
            teams::get(&mut tx, t)
                .await?
                .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "owner_team_id"))?;
            i.owner_team_id = Some(t);
        }
        if let Some(pid) = p.sla_policy_id {
            check_policy(&mut tx, pid).await?;
            i.sla_policy_id = Some(pid);
        }
        if let Some(a) = p.active {
            i.active = a;
        }
        i.updated_at = self.now();
        catalog::update(&mut tx, &i).await?;
        let mut e = actor.entry("update", "catalog_item", i.id, None);
        e.before = snapshot(&before);
        e.after = snapshot(&i);
        audit::append(&mut tx, e, i.updated_at).await?;
        tx.commit().await?;
        Ok(i)
    }

    /// Agreements of an organization the caller may see.
    pub async fn list_agreements(
        &self,
        actor: &Actor,
        org_id: Uuid,
    ) -> Result<Vec<AgreementDetail>> {
        actor.require(Action::CatalogRead)?;
        if !actor.scope().allows(org_id) {
            return Err(DomainError::not_found().into());
        }
        let mut out = Vec::new();
        for a in catalog::list_agreements(&self.db, Some(org_id)).await? {
            let items = catalog::agreement_items(&self.db, a.id).await?;
            out.push(AgreementDetail {
                agreement: a,
                items,
            });
        }
        Ok(out)
    }

    pub async fn create_agreement(
        &self,
        actor: &Actor,
        org_id: Uuid,
        input: AgreementInput,
    ) -> Result<AgreementDetail> {
        actor.require(Action::CatalogWrite)?;
        let now = self.now();
        let mut a = Agreement {
            id: yunwei_domain::ids::new_id(),
            org_id,
            name: validate::name("name", input.name.as_deref().unwrap_or(""), 200)?,
            contract_no: None,
            starts_on: None,
            ends_on: None,
            sla_policy_id: None,
            notes: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        orgs::get_org(&mut tx, org_id)
            .await?
            .ok_or(DomainError::not_found())?;
        apply_agreement(&mut a, &input)?;
        if let Some(pid) = a.sla_policy_id {
            check_policy(&mut tx, pid).await?;
        }
        catalog::insert_agreement(&mut tx, &a).await?;
        let items = input.items.clone().unwrap_or_default();
        set_items(&mut tx, a.id, &items).await?;
        let detail = AgreementDetail {
            agreement: a,
            items,
        };
        let mut e = actor.entry("create", "agreement", detail.agreement.id, Some(org_id));
        e.after = snapshot(&detail);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(detail)
    }

    pub async fn update_agreement(
        &self,
        actor: &Actor,
        id: Uuid,
        input: AgreementInput,
    ) -> Result<AgreementDetail> {
        actor.require(Action::CatalogWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = catalog::get_agreement(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let before_items = catalog::agreement_items(&mut tx, id).await?;
        let mut a = before.clone();
        if let Some(n) = &input.name {
            a.name = validate::name("name", n, 200)?;
        }
        apply_agreement(&mut a, &input)?;
        if let Some(pid) = input.sla_policy_id {
            check_policy(&mut tx, pid).await?;
        }
        a.updated_at = now;
        catalog::update_agreement(&mut tx, &a).await?;
        let items = match &input.items {
            Some(items) => {
                set_items(&mut tx, id, items).await?;
                items.clone()
            }
            None => before_items.clone(),
        };
        let detail = AgreementDetail {
            agreement: a,
            items,
        };
        let mut e = actor.entry("update", "agreement", id, Some(before.org_id));
        e.before = snapshot(&AgreementDetail {
            agreement: before,
            items: before_items,
        });
        e.after = snapshot(&detail);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(detail)
    }
}

fn apply_agreement(a: &mut Agreement, input: &AgreementInput) -> Result<()> {
    if input.contract_no.is_some() {
        a.contract_no = validate::opt_text("contract_no", input.contract_no.as_deref(), 100)?;
    }
    if input.starts_on.is_some() {
        a.starts_on = input.starts_on;
    }
    if input.ends_on.is_some() {
        a.ends_on = input.ends_on;
    }
    if let (Some(s), Some(e)) = (a.starts_on, a.ends_on) {
        if e < s {
            return Err(DomainError::invalid("ends_on").into());
        }
    }
    if input.sla_policy_id.is_some() {
        a.sla_policy_id = input.sla_policy_id;
    }
    if input.notes.is_some() {
        a.notes = validate::opt_text("notes", input.notes.as_deref(), 5000)?;
    }
    Ok(())
}

async fn set_items(tx: &mut yunwei_store::Tx, id: Uuid, items: &[Uuid]) -> Result<()> {
    for i in items {
        catalog::get(&mut *tx, *i)
            .await?
            .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "items"))?;
    }
    catalog::set_agreement_items(tx, id, items)
        .await
        .map_err(|e| match e {
            StoreError::ForeignKey(_) => {
                DomainError::field(ErrorCode::InvalidReference, "items").into()
            }
            e => e.into(),
        })
}

async fn check_policy(tx: &mut yunwei_store::Tx, id: Uuid) -> Result<()> {
    yunwei_store::sla::get_policy(&mut *tx, id)
        .await?
        .map(|_| ())
        .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "sla_policy_id").into())
}
