//! Staff quality records (R-7.4, 人员素质 and technical capability): skills with a level,
//! certifications with their validity, and trainings with their hours.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{on_ex, on_tx, Ex, Result, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Skill {
    pub id: Uuid,
    pub user_id: Uuid,
    pub skill: String,
    /// 1 (basic) … 5 (expert).
    pub level: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Certification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub issuer: Option<String>,
    pub obtained_on: NaiveDate,
    /// Absent: does not expire.
    pub expires_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Training {
    pub id: Uuid,
    pub user_id: Uuid,
    pub course: String,
    /// Whole hours.
    pub hours: i64,
    pub completed_on: NaiveDate,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_skill(tx: &mut Tx, s: &Skill) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO staff_skills (id, user_id, skill, level, created_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(&s.skill)
    .bind(s.level)
    .bind(s.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn insert_certification(tx: &mut Tx, x: &Certification) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO staff_certifications (id, user_id, name, issuer, obtained_on, expires_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(x.id)
    .bind(x.user_id)
    .bind(&x.name)
    .bind(&x.issuer)
    .bind(x.obtained_on)
    .bind(x.expires_on)
    .bind(x.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn insert_training(tx: &mut Tx, x: &Training) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO staff_trainings (id, user_id, course, hours, completed_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(x.id)
    .bind(x.user_id)
    .bind(&x.course)
    .bind(x.hours)
    .bind(x.completed_on)
    .bind(x.created_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Skills of one user, or of everybody (`None`), by user then name.
pub async fn skills<'a>(ex: impl Into<Ex<'a>>, user_id: Option<Uuid>) -> Result<Vec<Skill>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Skill>(
        "SELECT id, user_id, skill, level, created_at FROM staff_skills \
         WHERE ($1 IS NULL OR user_id = $1) ORDER BY user_id, skill, id"
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?)
}

/// Certifications of one user, or of everybody (`None`).
pub async fn certifications<'a>(
    ex: impl Into<Ex<'a>>,
    user_id: Option<Uuid>,
) -> Result<Vec<Certification>> {
    Ok(on_ex!(ex.into(), |c| {
        sqlx::query_as::<_, Certification>(
        "SELECT id, user_id, name, issuer, obtained_on, expires_on, created_at FROM staff_certifications \
         WHERE ($1 IS NULL OR user_id = $1) ORDER BY user_id, obtained_on, id"
    )
    .bind(user_id)
    .fetch_all(c)
    .await
    })?)
}

/// Trainings of one user, or of everybody (`None`).
pub async fn trainings<'a>(ex: impl Into<Ex<'a>>, user_id: Option<Uuid>) -> Result<Vec<Training>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Training>(
        "SELECT id, user_id, course, hours, completed_on, created_at FROM staff_trainings \
         WHERE ($1 IS NULL OR user_id = $1) ORDER BY user_id, completed_on, id"
    )
    .bind(user_id)
    .fetch_all(c)
    .await)?)
}

pub async fn get_skill<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Skill>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, Skill>(
        "SELECT id, user_id, skill, level, created_at FROM staff_skills WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn get_certification<'a>(
    ex: impl Into<Ex<'a>>,
    id: Uuid,
) -> Result<Option<Certification>> {
    Ok(on_ex!(ex.into(), |c| {
        sqlx::query_as::<_, Certification>(
        "SELECT id, user_id, name, issuer, obtained_on, expires_on, created_at FROM staff_certifications WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await
    })?)
}

pub async fn get_training<'a>(ex: impl Into<Ex<'a>>, id: Uuid) -> Result<Option<Training>> {
    Ok(on_ex!(ex.into(), |c| {
        sqlx::query_as::<_, Training>(
        "SELECT id, user_id, course, hours, completed_on, created_at FROM staff_trainings WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await
    })?)
}

/// Which staff record table a delete is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Skill,
    Certification,
    Training,
}

impl Record {
    pub fn table(self) -> &'static str {
        match self {
            Record::Skill => "staff_skills",
            Record::Certification => "staff_certifications",
            Record::Training => "staff_trainings",
        }
    }
}

/// Delete one record of a user; false when there was none.
pub async fn delete(tx: &mut Tx, what: Record, user_id: Uuid, id: Uuid) -> Result<bool> {
    let sql = match what {
        Record::Skill => "DELETE FROM staff_skills WHERE id = $1 AND user_id = $2",
        Record::Certification => "DELETE FROM staff_certifications WHERE id = $1 AND user_id = $2",
        Record::Training => "DELETE FROM staff_trainings WHERE id = $1 AND user_id = $2",
    };
    Ok(on_tx!(tx, |c| sqlx::query(sql)
        .bind(id)
        .bind(user_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected() > 0))?)
}

/// Provider staff who work tickets (every role but customer and auditor), enabled or not, in
/// id order. Bounded: an installation has at most a few thousand staff.
pub async fn staff_users<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<crate::users::User>> {
    Ok(on_ex!(ex.into(), |c| {
        sqlx::query_as::<_, crate::users::User>(
        "SELECT id, org_id, department_id, username, display_name, email, phone, role, password_hash, \
         disabled, lang, created_at, updated_at FROM users \
         WHERE role NOT IN ('customer', 'auditor') ORDER BY id LIMIT 10000"
    )
    .fetch_all(c)
    .await
    })?)
}

/// Every (team, member) pair.
pub async fn team_memberships<'a>(ex: impl Into<Ex<'a>>) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(on_ex!(ex.into(), |c| sqlx::query_as::<_, (Uuid, Uuid)>(
        "SELECT team_id, user_id FROM team_members ORDER BY team_id, user_id"
    )
    .fetch_all(c)
    .await)?)
}
