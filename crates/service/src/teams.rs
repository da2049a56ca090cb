//! Teams (support groups) of provider staff.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Role};
use yunwei_store::teams::{self, Team};
use yunwei_store::{audit, users, StoreError};

use crate::{snapshot, Actor, App, Result};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamWithMembers {
    #[serde(flatten)]
    pub team: Team,
    pub members: Vec<Uuid>,
}

fn conflict(e: StoreError) -> crate::Error {
    if matches!(e, StoreError::Unique(_)) {
        DomainError::field(ErrorCode::NameTaken, "name").into()
    } else {
        e.into()
    }
}

impl App {
    pub async fn list_teams(&self, actor: &Actor) -> Result<Vec<Team>> {
        actor.require(Action::TeamRead)?;
        Ok(teams::list(&self.db).await?)
    }

    pub async fn get_team(&self, actor: &Actor, id: Uuid) -> Result<TeamWithMembers> {
        actor.require(Action::TeamRead)?;
        let team = teams::get(&self.db, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let members = teams::members(&self.db, id).await?;
        Ok(TeamWithMembers { team, members })
    }

    pub async fn create_team(&self, actor: &Actor, input: NewTeam) -> Result<Team> {
        actor.require(Action::TeamWrite)?;
        let now = self.now();
        let t = Team {
            id: yunwei_domain::ids::new_id(),
            name: validate::name("name", &input.name, 100)?,
            description: validate::opt_text("description", input.description.as_deref(), 2000)?,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        teams::insert(&mut tx, &t).await.map_err(conflict)?;
        let mut e = actor.entry("create", "team", t.id, None);
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub async fn update_team(&self, actor: &Actor, id: Uuid, p: TeamPatch) -> Result<Team> {
        actor.require(Action::TeamWrite)?;
        let mut tx = self.db.begin_write().await?;
        let before = teams::get(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let mut t = before.clone();
        if let Some(n) = &p.name {
            t.name = validate::name("name", n, 100)?;
        }
        if p.description.is_some() {
            t.description = validate::opt_text("description", p.description.as_deref(), 2000)?;
        }
        t.updated_at = self.now();
        teams::update(&mut tx, &t).await.map_err(conflict)?;
        let mut e = actor.entry("update", "team", t.id, None);
        e.before = snapshot(&before);
        e.after = snapshot(&t);
        audit::append(&mut tx, e, t.updated_at).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Add a provider staff member to a team.
    pub async fn add_team_member(&self, actor: &Actor, team_id: Uuid, user_id: Uuid) -> Result<()> {
        actor.require(Action::TeamWrite)?;
        let mut tx = self.db.begin_write().await?;
        teams::get(&mut tx, team_id)
            .await?
            .ok_or(DomainError::not_found())?;
        let u = users::get(&mut tx, user_id)
            .await?
            .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "user_id"))?;
        if !Role::parse(&u.role).map(Role::is_staff).unwrap_or(false) {
            return Err(DomainError::field(ErrorCode::InvalidRole, "user_id").into());
        }
        if teams::add_member(&mut tx, team_id, user_id).await? {
            let mut e = actor.entry("add_member", "team", team_id, None);
            e.after = Some(serde_json::json!({ "user_id": user_id, "username": u.username }));
            audit::append(&mut tx, e, self.now()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_team_member(
        &self,
        actor: &Actor,
        team_id: Uuid,
        user_id: Uuid,
    ) -> Result<()> {
        actor.require(Action::TeamWrite)?;
        let mut tx = self.db.begin_write().await?;
        teams::get(&mut tx, team_id)
            .await?
            .ok_or(DomainError::not_found())?;
        if !teams::remove_member(&mut tx, team_id, user_id).await? {
            return Err(DomainError::not_found().into());
        }
        let mut e = actor.entry("remove_member", "team", team_id, None);
        e.before = Some(serde_json::json!({ "user_id": user_id }));
        audit::append(&mut tx, e, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }
}
