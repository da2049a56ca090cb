//! Organizations and departments.

use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::{validate, Action, DomainError, ErrorCode};
use yunwei_store::orgs::{self, Department, Organization};
use yunwei_store::{audit, StoreError};

use crate::{snapshot, Actor, App, Result};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    pub name: String,
    pub code: Option<String>,
    pub contact: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    pub name: Option<String>,
    pub code: Option<String>,
    pub contact: Option<String>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    pub name: String,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentPatch {
    pub name: Option<String>,
    pub parent_id: Option<Uuid>,
}

fn name_conflict(e: StoreError) -> crate::Error {
    if matches!(e, StoreError::Unique(_)) {
        DomainError::field(ErrorCode::NameTaken, "name").into()
    } else {
        e.into()
    }
}

impl App {
    pub async fn list_orgs(&self, actor: &Actor) -> Result<Vec<Organization>> {
        actor.require(Action::OrgRead)?;
        Ok(orgs::list_orgs(&self.db, actor.scope().org_filter()).await?)
    }

    /// An organization the actor may see; others answer like missing ones.
    pub async fn get_org(&self, actor: &Actor, id: Uuid) -> Result<Organization> {
        actor.require(Action::OrgRead)?;
        match orgs::get_org(&self.db, id).await? {
            Some(o) if actor.scope().allows(o.id) => Ok(o),
            _ => Err(DomainError::not_found().into()),
        }
    }

    /// Create a customer organization (the provider exists from the first start).
    pub async fn create_org(&self, actor: &Actor, input: NewOrg) -> Result<Organization> {
        actor.require(Action::OrgWrite)?;
        let now = self.now();
        let o = Organization {
            id: yunwei_domain::ids::new_id(),
            name: validate::name("name", &input.name, 200)?,
            kind: "customer".into(),
            code: validate::opt_text("code", input.code.as_deref(), 50)?,
            contact: validate::opt_text("contact", input.contact.as_deref(), 500)?,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        orgs::insert_org(&mut tx, &o).await.map_err(name_conflict)?;
        let mut e = actor.entry("create", "organization", o.id, Some(o.id));
        e.after = snapshot(&o);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(o)
    }

    pub async fn update_org(&self, actor: &Actor, id: Uuid, p: OrgPatch) -> Result<Organization> {
        actor.require(Action::OrgWrite)?;
        let mut tx = self.db.begin_write().await?;
        let before = orgs::get_org(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let mut o = before.clone();
        if let Some(n) = &p.name {
            o.name = validate::name("name", n, 200)?;
        }
        if p.code.is_some() {
            o.code = validate::opt_text("code", p.code.as_deref(), 50)?;
        }
        if p.contact.is_some() {
            o.contact = validate::opt_text("contact", p.contact.as_deref(), 500)?;
        }
        if let Some(d) = p.disabled {
            if d && o.kind == "provider" {
                return Err(ErrorCode::ProviderOrgFixed.into());
            }
            o.disabled = d;
        }
        o.updated_at = self.now();
        orgs::update_org(&mut tx, &o).await.map_err(name_conflict)?;
        let mut e = actor.entry("update", "organization", o.id, Some(o.id));
        e.before = snapshot(&before);
        e.after = snapshot(&o);
        audit::append(&mut tx, e, o.updated_at).await?;
        tx.commit().await?;
        Ok(o)
    }

    pub async fn list_departments(&self, actor: &Actor, org_id: Uuid) -> Result<Vec<Department>> {
        self.get_org(actor, org_id).await?;
        Ok(orgs::list_departments(&self.db, org_id).await?)
    }

    pub async fn create_department(
        &self,
        actor: &Actor,
        org_id: Uuid,
        input: NewDepartment,
    ) -> Result<Department> {
        actor.require(Action::OrgWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        orgs::get_org(&mut tx, org_id)
            .await?
            .ok_or(DomainError::not_found())?;
        if let Some(pid) = input.parent_id {
            match orgs::get_department(&mut tx, pid).await? {
                Some(p) if p.org_id == org_id => {}
                _ => {
                    return Err(DomainError::field(ErrorCode::InvalidReference, "parent_id").into())
                }
            }
        }
        let d = Department {
            id: yunwei_domain::ids::new_id(),
            org_id,
            parent_id: input.parent_id,
            name: validate::name("name", &input.name, 200)?,
            created_at: now,
            updated_at: now,
        };
        orgs::insert_department(&mut tx, &d)
            .await
            .map_err(name_conflict)?;
        let mut e = actor.entry("create", "department", d.id, Some(org_id));
        e.after = snapshot(&d);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(d)
    }

    pub async fn update_department(
        &self,
        actor: &Actor,
        id: Uuid,
        p: DepartmentPatch,
    ) -> Result<Department> {
        actor.require(Action::OrgWrite)?;
        let mut tx = self.db.begin_write().await?;
        let before = orgs::get_department(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let mut d = before.clone();
        if let Some(n) = &p.name {
            d.name = validate::name("name", n, 200)?;
        }
        if let Some(pid) = p.parent_id {
            // The new parent must be in the same organization and not the department itself or
            // one of its descendants.
            let mut cursor = Some(pid);
            let mut hops = 0;
            while let Some(c) = cursor {
                if c == id || hops > 1000 {
                    return Err(DomainError::field(ErrorCode::InvalidReference, "parent_id").into());
                }
                match orgs::get_department(&mut tx, c).await? {
                    Some(x) if x.org_id == d.org_id => cursor = x.parent_id,
                    _ => {
                        return Err(
                            DomainError::field(ErrorCode::InvalidReference, "parent_id").into()
                        )
                    }
                }
                hops += 1;
            }
            d.parent_id = Some(pid);
        }
        d.updated_at = self.now();
        orgs::update_department(&mut tx, &d)
            .await
            .map_err(name_conflict)?;
        let mut e = actor.entry("update", "department", d.id, Some(d.org_id));
        e.before = snapshot(&before);
        e.after = snapshot(&d);
        audit::append(&mut tx, e, d.updated_at).await?;
        tx.commit().await?;
        Ok(d)
    }
}
