//! Users: create, change, enable/disable, reset passwords; the directory.

use serde::Deserialize;
use uuid::Uuid;
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Role};
use yunwei_store::users::{self, User, UserFilter};
use yunwei_store::{audit, orgs, sessions, StoreError, Tx};

use crate::auth::hash_password;
use crate::{snapshot, Actor, App, Page, Result};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// admin, manager, agent, engineer, customer or auditor.
    pub role: String,
    /// Defaults to the provider organization.
    pub org_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    /// At least 10 characters.
    pub password: String,
    /// zh-CN (default) or en.
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: Option<String>,
    pub org_id: Option<Uuid>,
    /// A department of the user's organization; use `clear_department` to remove it.
    pub department_id: Option<Uuid>,
    #[serde(default)]
    pub clear_department: bool,
    pub disabled: Option<bool>,
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct UserQuery {
    pub org_id: Option<Uuid>,
    pub role: Option<String>,
    /// Part of a username or display name.
    pub q: Option<String>,
    pub cursor: Option<Uuid>,
    pub limit: Option<i64>,
}

fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| DomainError::field(ErrorCode::ValidationFailed, "role").into())
}

fn parse_lang(s: Option<&str>) -> Result<String> {
    match s {
        None => Ok("zh-CN".into()),
        Some(l) => yunwei_domain::Lang::parse(l)
            .map(|l| l.tag().to_string())
            .ok_or_else(|| DomainError::invalid("lang").into()),
    }
}

/// The role must fit the organization's kind, and the department must be the organization's.
async fn check_placement(
    tx: &mut Tx,
    role: Role,
    org_id: Uuid,
    department_id: Option<Uuid>,
) -> Result<()> {
    let org = orgs::get_org(&mut *tx, org_id)
        .await?
        .ok_or_else(|| DomainError::field(ErrorCode::InvalidReference, "org_id"))?;
    if (org.kind == "customer") == role.is_staff() {
        return Err(DomainError::field(ErrorCode::InvalidRole, "role").into());
    }
    if let Some(d) = department_id {
        match orgs::get_department(&mut *tx, d).await? {
            Some(dep) if dep.org_id == org_id => {}
            _ => {
                return Err(DomainError::field(ErrorCode::InvalidReference, "department_id").into())
            }
        }
    }
    Ok(())
}

impl App {
    pub async fn list_users(&self, actor: &Actor, q: UserQuery) -> Result<Page<User>> {
        actor.require(Action::UserRead)?;
        let limit = crate::page_limit(q.limit)?;
        if let Some(r) = &q.role {
            parse_role(r)?;
        }
        let org_id = match (actor.scope().org_filter(), q.org_id) {
            (Some(own), Some(asked)) if own != asked => {
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                })
            }
            (Some(own), _) => Some(own),
            (None, asked) => asked,
        };
        let f = UserFilter {
            org_id,
            role: q.role,
            q: q.q.filter(|s| !s.trim().is_empty()),
            after: q.cursor,
            limit: limit + 1,
        };
        let mut items = users::list(&self.db, &f).await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|u| u.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn get_user(&self, actor: &Actor, id: Uuid) -> Result<User> {
        actor.require(Action::UserRead)?;
        match users::get(&self.db, id).await? {
            Some(u) if actor.scope().allows(u.org_id) => Ok(u),
            _ => Err(DomainError::not_found().into()),
        }
    }

    pub async fn get_user_by_username(&self, actor: &Actor, username: &str) -> Result<User> {
        actor.require(Action::UserRead)?;
        match users::get_by_username(&self.db, &username.trim().to_ascii_lowercase()).await? {
            Some(u) if actor.scope().allows(u.org_id) => Ok(u),
            _ => Err(DomainError::not_found().into()),
        }
    }

    pub async fn create_user(&self, actor: &Actor, input: NewUser) -> Result<User> {
        actor.require(Action::UserWrite)?;
        let username = validate::username(&input.username)?;
        let role = parse_role(&input.role)?;
        let display_name = match input.display_name.as_deref() {
            Some(d) if !d.trim().is_empty() => validate::name("display_name", d, 100)?,
            _ => username.clone(),
        };
        let email = validate::email(input.email.as_deref())?;
        let phone = validate::opt_text("phone", input.phone.as_deref(), 50)?;
        let lang = parse_lang(input.lang.as_deref())?;
        validate::password(&username, &input.password)?;
        let hash = hash_password(input.password).await?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let org_id = match input.org_id {
            Some(o) => o,
            None => {
                orgs::provider_org(&mut tx)
                    .await?
                    .ok_or_else(|| crate::Error::Internal("no provider organization".into()))?
                    .id
            }
        };
        check_placement(&mut tx, role, org_id, input.department_id).await?;
        let u = User {
            id: yunwei_domain::ids::new_id(),
            org_id,
            department_id: input.department_id,
            username,
            display_name,
            email,
            phone,
            role: role.as_str().into(),
            password_hash: Some(hash),
            disabled: false,
            lang,
            created_at: now,
            updated_at: now,
        };
        users::insert(&mut tx, &u).await.map_err(|e| match e {
            StoreError::Unique(_) => {
                crate::Error::from(DomainError::field(ErrorCode::UsernameTaken, "username"))
            }
            e => e.into(),
        })?;
        let mut e = actor.entry("create", "user", u.id, Some(u.org_id));
        e.after = snapshot(&u);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        self.auth_cache.invalidate_user(u.id);
        Ok(u)
    }

    pub async fn update_user(&self, actor: &Actor, id: Uuid, p: UserPatch) -> Result<User> {
        actor.require(Action::UserWrite)?;
        let mut tx = self.db.begin_write().await?;
        let before = users::get(&mut tx, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let mut u = before.clone();
        if let Some(d) = &p.display_name {
            u.display_name = validate::name("display_name", d, 100)?;
        }
        if p.email.is_some() {
            u.email = validate::email(p.email.as_deref())?;
        }
        if p.phone.is_some() {
            u.phone = validate::opt_text("phone", p.phone.as_deref(), 50)?;
        }
        if let Some(r) = &p.role {
            u.role = parse_role(r)?.as_str().into();
        }
        if let Some(o) = p.org_id {
            if o != u.org_id {
                u.department_id = None;
            }
            u.org_id = o;
        }
        if p.clear_department {
            u.department_id = None;
        } else if let Some(d) = p.department_id {
            u.department_id = Some(d);
        }
        if let Some(d) = p.disabled {
            u.disabled = d;
        }
        if p.lang.is_some() {
            u.lang = parse_lang(p.lang.as_deref())?;
        }
        let role = parse_role(&u.role)?;
        check_placement(&mut tx, role, u.org_id, u.department_id).await?;
        u.updated_at = self.now();
        users::update(&mut tx, &u).await?;
        if before.role == "admin"
            && !before.disabled
            && (u.role != "admin" || u.disabled)
            && users::count_active_admins(&mut tx).await? == 0
        {
            return Err(ErrorCode::LastAdmin.into());
        }
        if u.disabled && !before.disabled {
            sessions::delete_for_user(&mut tx, u.id, None).await?;
        }
        let mut e = actor.entry("update", "user", u.id, Some(u.org_id));
        e.before = snapshot(&before);
        e.after = snapshot(&u);
        audit::append(&mut tx, e, u.updated_at).await?;
        tx.commit().await?;
        self.auth_cache.invalidate_user(u.id);
        Ok(u)
    }

    /// Set a user's password (administrators; recovery). Ends the user's sessions.
    pub async fn set_user_password(&self, actor: &Actor, id: Uuid, password: &str) -> Result<()> {
        actor.require(Action::UserWrite)?;
        let u = users::get(&self.db, id)
            .await?
            .ok_or(DomainError::not_found())?;
        validate::password(&u.username, password)?;
        let hash = hash_password(password.to_string()).await?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        users::set_password(&mut tx, id, &hash, now).await?;
        sessions::delete_for_user(&mut tx, id, None).await?;
        audit::append(
            &mut tx,
            actor.entry("reset_password", "user", id, Some(u.org_id)),
            now,
        )
        .await?;
        tx.commit().await?;
        self.auth_cache.invalidate_user(id);
        Ok(())
    }

    /// One's own preferences (language).
    pub async fn set_own_lang(&self, actor: &Actor, lang: &str) -> Result<User> {
        let uid = actor.user_id.ok_or(DomainError::forbidden())?;
        let mut tx = self.db.begin_write().await?;
        let before = users::get(&mut tx, uid)
            .await?
            .ok_or(DomainError::not_found())?;
        let mut u = before.clone();
        u.lang = parse_lang(Some(lang))?;
        u.updated_at = self.now();
        users::update(&mut tx, &u).await?;
        let mut e = actor.entry("update", "user", uid, Some(u.org_id));
        e.before = snapshot(&before);
        e.after = snapshot(&u);
        audit::append(&mut tx, e, u.updated_at).await?;
        tx.commit().await?;
        self.auth_cache.invalidate_user(u.id);
        Ok(u)
    }
}
