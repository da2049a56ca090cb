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
//! - Each node caches what a token or session resolved to for [`AUTH_CACHE_TTL`] (3 s); changes
//!   through this node (revoke, logout, password, user update) drop the cached entries at once,
//!   changes on another node take effect within that time (see [`AuthCache`]).

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

/// Equality that takes as long for every input of a length (for secrets, tokens, MACs).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    /// Resolve a session cookie. Slides the expiry at most once a minute. A resolution is
    /// reused for [`AUTH_CACHE_TTL`] on this node (see [`AuthCache`]).
    pub async fn session(&self, secret: &str, ip: Option<String>) -> Result<Option<Authenticated>> {
        let now = self.now();
        let hash = sha256_hex(secret);
        let key = format!("s:{hash}");
        let c = match self.auth_cache.get(&key, now) {
            Some(c) => c,
            None => {
                let generation = self.auth_cache.generation();
                let Some(s) = sessions::get_live(&self.db, &hash, now).await? else {
                    return Ok(None);
                };
                let Some(user) = users::get(&self.db, s.user_id).await? else {
                    return Ok(None);
                };
                let c = Cached {
                    user,
                    expires_at: Some(s.expires_at),
                    token_id: None,
                    last_used_at: Some(s.last_seen_at),
                    last_used_ip: None,
                    csrf_token: Some(s.csrf_token),
                    loaded: std::time::Instant::now(),
                };
                self.auth_cache.put(generation, key.clone(), c.clone());
                c
            }
        };
        if c.last_used_at
            .is_none_or(|seen| now - seen > Duration::minutes(1))
        {
            let expires = now + self.settings.session_idle;
            let mut tx = self.db.begin_write().await?;
            sessions::touch(&mut tx, &hash, now, expires).await?;
            tx.commit().await?;
            self.auth_cache.update(&key, |e| {
                e.last_used_at = Some(now);
                e.expires_at = Some(expires);
            });
        }
        let actor = actor_for(&c.user, ip)?;
        Ok(Some(Authenticated {
            actor,
            user: c.user,
            csrf_token: c.csrf_token,
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
        if let Some(uid) = actor.user_id {
            self.auth_cache.invalidate_user(uid);
        }
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
        self.auth_cache.invalidate_user(uid);
        Ok(())
    }

    /// Resolve a bearer token; records its use (at most once a minute, or when the address
    /// changes). A resolution is reused for [`AUTH_CACHE_TTL`] on this node (see [`AuthCache`]).
    pub async fn token(&self, raw: &str, ip: Option<String>) -> Result<Option<Authenticated>> {
        let now = self.now();
        let key = format!("t:{}", sha256_hex(raw));
        let c = match self.auth_cache.get(&key, now) {
            Some(c) => c,
            None => {
                let generation = self.auth_cache.generation();
                let Some(t) = tokens::find_live(&self.db, &key[2..], now).await? else {
                    return Ok(None);
                };
                let Some(user) = users::get(&self.db, t.user_id).await? else {
                    return Ok(None);
                };
                let c = Cached {
                    user,
                    expires_at: t.expires_at,
                    token_id: Some(t.id),
                    last_used_at: t.last_used_at,
                    last_used_ip: t.last_used_ip,
                    csrf_token: None,
                    loaded: std::time::Instant::now(),
                };
                self.auth_cache.put(generation, key.clone(), c.clone());
                c
            }
        };
        // Record use at most once a minute per token, so reads stay reads.
        let stale = c
            .last_used_at
            .map(|u| now - u > Duration::minutes(1))
            .unwrap_or(true);
        if let Some(id) = c.token_id.filter(|_| stale || c.last_used_ip != ip) {
            let mut tx = self.db.begin_write().await?;
            tokens::record_use(&mut tx, id, now, ip.as_deref()).await?;
            tx.commit().await?;
            self.auth_cache.update(&key, |e| {
                e.last_used_at = Some(now);
                e.last_used_ip = ip.clone();
            });
        }
        let actor = actor_for(&c.user, ip)?;
        Ok(Some(Authenticated {
            actor,
            user: c.user,
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
        self.auth_cache.invalidate_user(t.user_id);
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

/// How long this node reuses a token's or session's resolution (user, role, organization)
/// without asking the database. Changes made through this node (revoke, logout, password,
/// user update) take effect at once; changes made on another node or by the command line
/// take effect within this time.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(3);

/// At most this many resolutions are kept; when full, expired ones are dropped, and if that
/// is not enough, all of them.
const AUTH_CACHE_MAX: usize = 4096;

/// A resolved token or session, as cached.
#[derive(Debug, Clone)]
struct Cached {
    user: users::User,
    /// The token's or session's own expiry, checked against the clock on every use.
    expires_at: Option<DateTime<Utc>>,
    /// Tokens: the token's id.
    token_id: Option<Uuid>,
    /// Tokens: last recorded use; sessions: last slide of the expiry.
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    csrf_token: Option<String>,
    loaded: std::time::Instant,
}

/// This node's short-lived cache of token and session resolutions (keyed by `t:`/`s:` and
/// the secret's SHA-256), so that a request does not read the token or session and its user
/// from the database each time. Bounded in time ([`AUTH_CACHE_TTL`]) and size.
///
/// Invalidation: every change on this node that can end or alter a resolution (token
/// revoked, logout, password changed or reset, any update of the user) calls
/// [`AuthCache::invalidate_user`] after its commit. A resolution read from the database
/// concurrently with such a change is not stored: each invalidation bumps a generation, and
/// a lookup stores its result only if the generation is still the one it started with.
#[derive(Debug, Default)]
pub struct AuthCache {
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    generation: u64,
    map: std::collections::HashMap<String, Cached>,
}

impl AuthCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// A fresh entry that has not expired by `now`.
    fn get(&self, key: &str, now: DateTime<Utc>) -> Option<Cached> {
        let mut g = self.lock();
        let c = g.map.get(key)?;
        if c.loaded.elapsed() < AUTH_CACHE_TTL && c.expires_at.is_none_or(|e| e > now) {
            return Some(c.clone());
        }
        g.map.remove(key);
        None
    }

    fn put(&self, generation: u64, key: String, c: Cached) {
        let mut g = self.lock();
        if g.generation != generation {
            return;
        }
        if g.map.len() >= AUTH_CACHE_MAX {
            g.map.retain(|_, c| c.loaded.elapsed() < AUTH_CACHE_TTL);
            if g.map.len() >= AUTH_CACHE_MAX {
                g.map.clear();
            }
        }
        g.map.insert(key, c);
    }

    fn update(&self, key: &str, f: impl FnOnce(&mut Cached)) {
        if let Some(c) = self.lock().map.get_mut(key) {
            f(c);
        }
    }

    /// Forget every resolution of this user's tokens and sessions (call after the commit).
    pub fn invalidate_user(&self, user_id: Uuid) {
        let mut g = self.lock();
        g.generation += 1;
        g.map.retain(|_, c| c.user.id != user_id);
    }

    /// Forget everything (e.g. after a change that affects many users).
    pub fn clear(&self) {
        let mut g = self.lock();
        g.generation += 1;
        g.map.clear();
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    fn entry(user_id: Uuid, expires_at: Option<DateTime<Utc>>) -> Cached {
        let now = Utc::now();
        Cached {
            user: users::User {
                id: user_id,
                org_id: Uuid::nil(),
                department_id: None,
                username: "u".into(),
                display_name: "u".into(),
                email: None,
                phone: None,
                role: "agent".into(),
                password_hash: None,
                disabled: false,
                lang: "zh-CN".into(),
                created_at: now,
                updated_at: now,
            },
            expires_at,
            token_id: None,
            last_used_at: None,
            last_used_ip: None,
            csrf_token: None,
            loaded: std::time::Instant::now(),
        }
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_stored() {
        let c = AuthCache::default();
        let (a, b) = (yunwei_domain::ids::new_id(), yunwei_domain::ids::new_id());
        let now = Utc::now();
        let g = c.generation();
        c.put(g, "t:a".into(), entry(a, None));
        c.put(g, "t:b".into(), entry(b, None));
        assert!(c.get("t:a", now).is_some());
        // A lookup starts, the user is changed and invalidated, the lookup ends: not stored.
        let started = c.generation();
        c.invalidate_user(a);
        assert!(c.get("t:a", now).is_none());
        assert!(c.get("t:b", now).is_some(), "other users' entries stay");
        c.put(started, "t:a".into(), entry(a, None));
        assert!(c.get("t:a", now).is_none());
        c.put(c.generation(), "t:a".into(), entry(a, None));
        assert!(c.get("t:a", now).is_some());
    }

    #[test]
    fn expired_credentials_are_not_served_and_the_size_is_bounded() {
        let c = AuthCache::default();
        let now = Utc::now();
        c.put(
            c.generation(),
            "s:x".into(),
            entry(
                yunwei_domain::ids::new_id(),
                Some(now + Duration::seconds(1)),
            ),
        );
        assert!(c.get("s:x", now).is_some());
        assert!(c.get("s:x", now + Duration::seconds(2)).is_none());
        for i in 0..AUTH_CACHE_MAX + 10 {
            c.put(
                c.generation(),
                format!("t:{i}"),
                entry(yunwei_domain::ids::new_id(), None),
            );
        }
        assert!(c.lock().map.len() <= AUTH_CACHE_MAX);
    }
}
