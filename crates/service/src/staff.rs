//! Staff quality records (R-7.4: 人员素质 and technical capability): skills with a level 1–5,
//! certifications with their validity, trainings with their hours. Administrators write them
//! (`UserWrite`); managers, administrators and auditors read them (`EvaluationRead`).

use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Role};
use yunwei_store::staff::{self, Certification, Record, Skill, Training};
use yunwei_store::{audit, users, Tx};

use crate::{snapshot, Actor, App, Result};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSkill {
    pub skill: String,
    /// 1 (basic) … 5 (expert).
    pub level: i64,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCertification {
    pub name: String,
    pub issuer: Option<String>,
    pub obtained_on: NaiveDate,
    /// Absent: does not expire.
    pub expires_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTraining {
    pub course: String,
    /// Whole hours, 1–1000.
    pub hours: i64,
    pub completed_on: NaiveDate,
}

/// The records are about provider staff: the user must exist and not be a customer.
async fn staff_user(tx: &mut Tx, user_id: Uuid) -> Result<()> {
    let u = users::get(&mut *tx, user_id)
        .await?
        .ok_or(DomainError::not_found())?;
    if !Role::parse(&u.role).is_some_and(Role::is_staff) {
        return Err(DomainError::field(ErrorCode::InvalidReference, "user_id").into());
    }
    Ok(())
}

async fn user_exists(app: &App, user_id: Uuid) -> Result<()> {
    users::get(&app.db, user_id)
        .await?
        .map(|_| ())
        .ok_or_else(|| DomainError::not_found().into())
}

impl App {
    pub async fn list_skills(&self, actor: &Actor, user_id: Uuid) -> Result<Vec<Skill>> {
        actor.require(Action::EvaluationRead)?;
        user_exists(self, user_id).await?;
        Ok(staff::skills(&self.db, Some(user_id)).await?)
    }

    pub async fn list_certifications(
        &self,
        actor: &Actor,
        user_id: Uuid,
    ) -> Result<Vec<Certification>> {
        actor.require(Action::EvaluationRead)?;
        user_exists(self, user_id).await?;
        Ok(staff::certifications(&self.db, Some(user_id)).await?)
    }

    pub async fn list_trainings(&self, actor: &Actor, user_id: Uuid) -> Result<Vec<Training>> {
        actor.require(Action::EvaluationRead)?;
        user_exists(self, user_id).await?;
        Ok(staff::trainings(&self.db, Some(user_id)).await?)
    }

    pub async fn add_skill(&self, actor: &Actor, user_id: Uuid, input: NewSkill) -> Result<Skill> {
        actor.require(Action::UserWrite)?;
        let skill = validate::name("skill", &input.skill, 100)?;
        if !(1..=5).contains(&input.level) {
            return Err(DomainError::invalid("level").into());
        }
        let now = self.now();
        let s = Skill {
            id: yunwei_domain::ids::new_id(),
            user_id,
            skill,
            level: input.level,
            created_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        staff_user(&mut tx, user_id).await?;
        staff::insert_skill(&mut tx, &s).await.map_err(|e| {
            if e.is_unique_on("staff_skills") || e.is_unique_on("skill") {
                crate::Error::from(DomainError::field(ErrorCode::NameTaken, "skill"))
            } else {
                e.into()
            }
        })?;
        let mut e = actor.entry("create", "staff_skill", s.id, None);
        e.after = snapshot(&s);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(s)
    }

    pub async fn add_certification(
        &self,
        actor: &Actor,
        user_id: Uuid,
        input: NewCertification,
    ) -> Result<Certification> {
        actor.require(Action::UserWrite)?;
        let name = validate::name("name", &input.name, 200)?;
        let issuer = validate::opt_text("issuer", input.issuer.as_deref(), 200)?;
        if input.expires_on.is_some_and(|x| x < input.obtained_on) {
            return Err(DomainError::invalid("expires_on").into());
        }
        let now = self.now();
        let c = Certification {
            id: yunwei_domain::ids::new_id(),
            user_id,
            name,
            issuer,
            obtained_on: input.obtained_on,
            expires_on: input.expires_on,
            created_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        staff_user(&mut tx, user_id).await?;
        staff::insert_certification(&mut tx, &c).await?;
        let mut e = actor.entry("create", "staff_certification", c.id, None);
        e.after = snapshot(&c);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(c)
    }

    pub async fn add_training(
        &self,
        actor: &Actor,
        user_id: Uuid,
        input: NewTraining,
    ) -> Result<Training> {
        actor.require(Action::UserWrite)?;
        let course = validate::name("course", &input.course, 200)?;
        if !(1..=1000).contains(&input.hours) {
            return Err(DomainError::invalid("hours").into());
        }
        let now = self.now();
        let t = Training {
            id: yunwei_domain::ids::new_id(),
            user_id,
            course,
            hours: input.hours,
            completed_on: input.completed_on,
            created_at: now,
        };
        let mut tx = self.db.begin_write().await?;
        staff_user(&mut tx, user_id).await?;
        staff::insert_training(&mut tx, &t).await?;
        let mut e = actor.entry("create", "staff_training", t.id, None);
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Delete one skill, certification or training of a user (404 when it is not theirs).
    pub async fn delete_staff_record(
        &self,
        actor: &Actor,
        what: Record,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<()> {
        actor.require(Action::UserWrite)?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let before = match what {
            Record::Skill => staff::get_skill(&mut tx, id)
                .await?
                .and_then(|r| (r.user_id == user_id).then(|| snapshot(&r)).flatten()),
            Record::Certification => staff::get_certification(&mut tx, id)
                .await?
                .and_then(|r| (r.user_id == user_id).then(|| snapshot(&r)).flatten()),
            Record::Training => staff::get_training(&mut tx, id)
                .await?
                .and_then(|r| (r.user_id == user_id).then(|| snapshot(&r)).flatten()),
        };
        let Some(before) = before else {
            return Err(DomainError::not_found().into());
        };
        if !staff::delete(&mut tx, what, user_id, id).await? {
            return Err(DomainError::not_found().into());
        }
        let entity = match what {
            Record::Skill => "staff_skill",
            Record::Certification => "staff_certification",
            Record::Training => "staff_training",
        };
        let mut e = actor.entry("delete", entity, id, None);
        e.before = Some(before);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
