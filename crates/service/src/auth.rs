//! Sign-in, sessions, passwords and API tokens.
//!
//! - Passwords: argon2id (the argon2 crate's defaults), hashed off the async runtime.
//! - Sessions: a random secret in an HttpOnly cookie; the database keeps its SHA-256, the user,
//!   a CSRF token and a sliding expiry. A disabled user's sessions stop working at once (the
//!   lookup joins the user) and are deleted.
//! - Failed sign-ins are counted per username and per address in the database (so every node
//!   counts them); past the limit, sign-in is refused for the window even with the right password.
//! - API tokens: `yw_` + 43 random characters, shown once, stored as SHA-256, optional expiry,
//!   revocable, last use recorded.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use yunwei_domain::{validate, Action, DomainError, ErrorCode, Role};
use yunwei_store::audit::NewEntry;
use yunwei_store::tokens::ApiToken;
use yunwei_store::{audit, sessions, throttle, tokens, users};

use crate::{snapshot, Actor, App, Error, Result};

/// A random secret, URL-safe, 256 bits.
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Verify; with no stored hash, still spend the time of a verification (no user enumeration
/// by timing).
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let (h, real) = match &hash {
            Some(h) => (h.as_str(), true),
            None => (dummy_hash(), false),
        };
        let ok = PasswordHash::new(h)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && real
    })
    .await
    .unwrap_or(false)
}

/// A real argon2id hash of nothing in particular, to verify against when the user is unknown.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(b"no such user", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// A new session: the cookie secret (shown to the browser only) and the CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// What a live session or token resolves to.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub actor: Actor,
    pub user: users::User,
    /// Present for sessions (cookie); None for API tokens.
    pub csrf_token: Option<String>,
    pub session_hash: Option<String>,
}

fn actor_for(u: &users::User, ip: Option<String>) -> Result<Actor> {
    let role =
        Role::parse(&u.role).ok_or_else(|| Error::Internal(format!("unknown role {}", u.role)))?;
    Ok(Actor {
        user_id: Some(u.id),
        username: u.username.clone(),
        role,
        org_id: u.org_id,
        ip,
    })
}

impl App {
    /// Check a username and password; on success open a session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<NewSession> {
        let now = self.now();
        let since = now - self.settings.throttle_window;
        let uname = username.trim().to_ascii_lowercase();
        let ukey = format!("user:{uname}");
        let ikey = format!("ip:{}", ip.as_deref().unwrap_or("-"));
        if throttle::failures(&self.db, &ukey, since).await? >= self.settings.max_failures_per_user
            || throttle::failures(&self.db, &ikey, since).await?
                >= self.settings.max_failures_per_ip
        {
            return Err(ErrorCode::LoginThrottled.into());
        }
        let user = users::get_by_username(&self.db, &uname).await?;
        let ok = verify_password(
            password.to_string(),
            user.as_ref().and_then(|u| u.password_hash.clone()),
        )
        .await;
        let mut tx = self.db.begin_write().await?;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            other => {
                throttle::record_failure(&mut tx, &ukey, now, since).await?;
                throttle::record_failure(&mut tx, &ikey, now, since).await?;
                let entry = NewEntry {
                    actor_id: other.as_ref().map(|u| u.id),
                    actor_name: truncate(&uname, 64),
                    action: "login_failed".into(),
                    entity: "session".into(),
                    entity_id: None,
                    org_id: other.as_ref().map(|u| u.org_id),
                    before: None,
                    after: None,
                    ip: ip.clone(),
                };
                audit::append(&mut tx, entry, now).await?;
                tx.commit().await?;
                return Err(ErrorCode::LoginFailed.into());
            }
        };
        throttle::clear(&mut tx, &ukey).await?;
        let secret = random_secret();
        let s = sessions::Session {
            id_hash: sha256_hex(&secret),
            user_id: user.id,
            csrf_token: random_secret(),
            ip: ip.clone(),
            created_at: now,
            expires_at: now + self.settings.session_idle,
            last_seen_at: now,
        };
        sessions::insert(&mut tx, &s).await?;
        let actor = actor_for(&user, ip)?;
        let mut entry = actor.entry("login", "session", &s.id_hash[..12], Some(user.org_id));
        entry.entity_id = None;
        audit::append(&mut tx, entry, now).await?;
        tx.commit().await?;
        Ok(NewSession {
            secret,
            csrf_token: s.csrf_token,
            user_id: user.id,
            expires_at: s.expires_at,
        })
    }

    /// Resolve a session cookie. Slides the expiry at most once a minute.
    pub async fn session(&self, secret: &str, ip: Option<String>) -> Result<Option<Authenticated>> {
        let now = self.now();
        let hash = sha256_hex(secret);
        let Some(s) = sessions::get_live(&self.db, &hash, now).await? else {
            return Ok(None);
        };
        let Some(user) = users::get(&self.db, s.user_id).await? else {
            return Ok(None);
        };
        if now - s.last_seen_at > Duration::minutes(1) {
            let mut tx = self.db.begin_write().await?;
            sessions::touch(&mut tx, &hash, now, now + self.settings.session_idle).await?;
            tx.commit().await?;
        }
        let actor = actor_for(&user, ip)?;
        Ok(Some(Authenticated {
            actor,
            user,
            csrf_token: Some(s.csrf_token),
            session_hash: Some(hash),
        }))
    }

    /// End a session (logout).
    pub async fn logout(&self, actor: &Actor, session_hash: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        if sessions::delete(&mut tx, session_hash).await? {
            let mut e = actor.entry("logout", "session", "", Some(actor.org_id));
            e.entity_id = None;
            audit::append(&mut tx, e, self.now()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Change one's own password (ends one's other sessions).
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<()> {
        let uid = actor.user_id.ok_or(DomainError::forbidden())?;
        let user = users::get(&self.db, uid)
            .await?
            .ok_or(DomainError::not_found())?;
        if !verify_password(current.to_string(), user.password_hash.clone()).await {
            return Err(DomainError::field(ErrorCode::WrongPassword, "current_password").into());
        }
        validate::password(&user.username, new)?;
        let hash = hash_password(new.to_string()).await?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        users::set_password(&mut tx, uid, &hash, now).await?;
        sessions::delete_for_user(&mut tx, uid, keep_session).await?;
        audit::append(
            &mut tx,
            actor.entry("change_password", "user", uid, Some(user.org_id)),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resolve a bearer token; records its use.
    pub async fn token(&self, raw: &str, ip: Option<String>) -> Result<Option<Authenticated>> {
        let now = self.now();
        let Some(t) = tokens::find_live(&self.db, &sha256_hex(raw), now).await? else {
            return Ok(None);
        };
        let Some(user) = users::get(&self.db, t.user_id).await? else {
            return Ok(None);
        };
        // Record use at most once a minute per token, so reads stay reads.
        let stale = t
            .last_used_at
            .map(|u| now - u > Duration::minutes(1))
            .unwrap_or(true);
        if stale || t.last_used_ip.as_deref() != ip.as_deref() {
            let mut tx = self.db.begin_write().await?;
            tokens::record_use(&mut tx, t.id, now, ip.as_deref()).await?;
            tx.commit().await?;
        }
        let actor = actor_for(&user, ip)?;
        Ok(Some(Authenticated {
            actor,
            user,
            csrf_token: None,
            session_hash: None,
        }))
    }

    /// Create an API token for `user_id` (oneself, or anybody with TokenAll). Returns the
    /// token text, shown only this once.
    pub async fn create_token(
        &self,
        actor: &Actor,
        user_id: Uuid,
        input: NewToken,
    ) -> Result<CreatedToken> {
        if Some(user_id) == actor.user_id {
            actor.require(Action::TokenOwn)?;
        } else {
            actor.require(Action::TokenAll)?;
        }
        let user = users::get(&self.db, user_id)
            .await?
            .ok_or(DomainError::not_found())?;
        let name = validate::name("name", input.name.as_deref().unwrap_or("api"), 100)?;
        let now = self.now();
        let expires_at = match input.expires_in_days {
            None => None,
            Some(d) if (1..=3650).contains(&d) => Some(now + Duration::days(d)),
            Some(_) => return Err(DomainError::invalid("expires_in_days").into()),
        };
        let raw = format!("yw_{}", random_secret());
        let t = ApiToken {
            id: yunwei_domain::ids::new_id(),
            user_id: user.id,
            name,
            token_hash: sha256_hex(&raw),
            prefix: raw[..10].to_string(),
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        };
        let mut tx = self.db.begin_write().await?;
        tokens::insert(&mut tx, &t).await?;
        let mut e = actor.entry("create", "api_token", t.id, Some(user.org_id));
        e.after = snapshot(&t);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(CreatedToken {
            token: raw,
            info: t,
        })
    }

    /// Tokens of a user (oneself, or anybody with TokenAll), or everybody's (None, TokenAll).
    pub async fn list_tokens(&self, actor: &Actor, user_id: Option<Uuid>) -> Result<Vec<ApiToken>> {
        if user_id.is_some() && user_id == actor.user_id {
            actor.require(Action::TokenOwn)?;
        } else {
            actor.require(Action::TokenAll)?;
        }
        Ok(tokens::list(&self.db, user_id).await?)
    }

    pub async fn revoke_token(&self, actor: &Actor, id: Uuid) -> Result<ApiToken> {
        let t = tokens::get(&self.db, id)
            .await?
            .ok_or(DomainError::not_found())?;
        let own = Some(t.user_id) == actor.user_id;
        let allowed = if own {
            actor.require(Action::TokenOwn).is_ok()
        } else {
            actor.require(Action::TokenAll).is_ok()
        };
        if !allowed {
            // Somebody else's token answers like a missing one.
            return Err(DomainError::not_found().into());
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        if tokens::revoke(&mut tx, id, now).await? {
            let mut e = actor.entry("revoke", "api_token", id, None);
            e.before = snapshot(&t);
            audit::append(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        Ok(tokens::get(&self.db, id)
            .await?
            .ok_or(DomainError::not_found())?)
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// A name to recognise the token by.
    pub name: Option<String>,
    /// Days until it expires (1–3650); absent: never.
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token. Shown only this once; store it safely.
    pub token: String,
    pub info: ApiToken,
}
