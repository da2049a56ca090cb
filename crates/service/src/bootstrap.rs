//! First start: the provider organization and the first administrator.

use yunwei_domain::validate;
use yunwei_store::orgs::{self, Organization};
use yunwei_store::users::{self, User};
use yunwei_store::{audit, settings};

use crate::auth::{hash_password, random_secret};
use crate::{snapshot, Actor, App, Result};

/// What the first start created.
pub struct Bootstrapped {
    /// The first administrator's password: print it once, never again.
    pub admin_password: Option<String>,
}

impl App {
    /// Make sure the provider organization and the first admin exist. Safe to run from several
    /// nodes at once: only one creates them (the `bootstrapped` setting is the guard).
    pub async fn bootstrap(&self) -> Result<Bootstrapped> {
        let b = self.bootstrap_first_admin().await?;
        self.seed_catalog().await?;
        self.seed_cmdb().await?;
        Ok(b)
    }

    async fn bootstrap_first_admin(&self) -> Result<Bootstrapped> {
        if settings::get(&self.db, "bootstrapped").await?.is_some() {
            return Ok(Bootstrapped {
                admin_password: None,
            });
        }
        let password = random_secret()[..20].to_string();
        let hash = hash_password(password.clone()).await?;
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        if !settings::insert_if_absent(&mut tx, "bootstrapped", &now.to_rfc3339()).await? {
            return Ok(Bootstrapped {
                admin_password: None,
            });
        }
        let provider = match orgs::provider_org(&mut tx).await? {
            Some(p) => p,
            None => {
                let o = Organization {
                    id: yunwei_domain::ids::new_id(),
                    name: "运维服务方".into(),
                    kind: "provider".into(),
                    code: None,
                    contact: None,
                    disabled: false,
                    created_at: now,
                    updated_at: now,
                };
                orgs::insert_org(&mut tx, &o).await?;
                let mut e = Actor::system(o.id).entry("create", "organization", o.id, Some(o.id));
                e.after = snapshot(&o);
                audit::append(&mut tx, e, now).await?;
                o
            }
        };
        let sys = Actor::system(provider.id);
        if users::get_by_username(&mut tx, "admin").await?.is_some() {
            tx.commit().await?;
            return Ok(Bootstrapped {
                admin_password: None,
            });
        }
        let u = User {
            id: yunwei_domain::ids::new_id(),
            org_id: provider.id,
            department_id: None,
            username: validate::username("admin")?,
            display_name: "管理员".into(),
            email: None,
            phone: None,
            role: "admin".into(),
            password_hash: Some(hash),
            disabled: false,
            lang: "zh-CN".into(),
            created_at: now,
            updated_at: now,
        };
        users::insert(&mut tx, &u).await?;
        let mut e = sys.entry("create", "user", u.id, Some(provider.id));
        e.after = snapshot(&u);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(Bootstrapped {
            admin_password: Some(password),
        })
    }

    /// The system actor (command line).
    pub async fn system_actor(&self) -> Result<Actor> {
        let p = orgs::provider_org(&self.db)
            .await?
            .ok_or_else(|| crate::Error::Internal("not bootstrapped".into()))?;
        Ok(Actor::system(p.id))
    }
}
