//! The `yunwei` binary.

mod config;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use config::{Config, Global, ServeArgs};
use yunwei_service::App;
use yunwei_store::{Db, PoolSize};

#[derive(Parser)]
#[command(
    name = "yunwei",
    version,
    about = "运维 yunwei — IT O&M service management (DB21/T 1799.3)"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the web server (creates and migrates the database; on the very first start creates
    /// the `admin` account and prints its password once).
    Serve(ServeArgs),
    /// Print a commented example configuration file.
    DefaultConfig,
    /// Administration for automation and recovery (works while `serve` runs).
    #[command(subcommand)]
    Admin(AdminCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Write a consistent online backup of a SQLite installation to FILE.
    Backup { file: PathBuf },
    /// Restore a backup FILE into --data-dir (refuses one holding data unless --force).
    Restore {
        file: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Copy a whole installation between stores (SQLite ⇄ PostgreSQL) and verify it.
    MigrateStore {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
    /// This node's full-text search index.
    #[command(subcommand)]
    Search(SearchCmd),
}

#[derive(Subcommand)]
enum SearchCmd {
    /// Rebuild this node's index from the database (stop `serve` on this node first; it also
    /// rebuilds a missing index by itself when it starts).
    Rebuild,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create a user; the password is read from standard input.
    CreateUser {
        #[arg(long)]
        username: String,
        /// admin, manager, agent, engineer, customer or auditor
        #[arg(long)]
        role: String,
        /// Organization name or id [default: the provider organization]
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Create an API token for a user and print only the token.
    CreateToken {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// Set a user's password from standard input (recovery); ends the user's sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Recompute the hash chain: exit 0 if intact, 1 naming the first bad entry.
    Verify,
}

fn init_logging(filter: &str) {
    let f = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(f)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .try_init();
}

async fn open(cfg: &Config) -> anyhow::Result<App> {
    open_with(cfg, false).await
}

/// Open the installation; with `existing`, a missing SQLite file is an error instead of a new
/// empty database (for commands that only read it).
async fn open_with(cfg: &Config, existing: bool) -> anyhow::Result<App> {
    let size = PoolSize {
        max_connections: cfg.max_connections,
    };
    let db = if existing {
        Db::connect_existing(&cfg.database_url, size).await
    } else {
        Db::connect(&cfg.database_url, size).await
    };
    let db = db.with_context(|| {
        format!(
            "cannot open the database {}",
            config::redact_url(&cfg.database_url)
        )
    })?;
    db.migrate().await.context("migrating the database")?;
    let mut app = App::new(db);
    app.settings.session_idle = chrono::Duration::hours(cfg.session_idle_hours.max(1));
    Ok(app)
}

fn read_stdin_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let p = s
        .strip_suffix('\n')
        .map(|x| x.strip_suffix('\r').unwrap_or(x))
        .unwrap_or(&s)
        .to_string();
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(p)
}

fn service_err(e: yunwei_service::Error) -> anyhow::Error {
    let c = e.code();
    let detail = e.field().map(|f| format!(" ({f})")).unwrap_or_default();
    if c == yunwei_domain::ErrorCode::InternalError {
        anyhow!("{e}")
    } else {
        anyhow!(
            "{}{detail}: {} / {}",
            c.as_str(),
            c.message(yunwei_domain::Lang::Zh),
            c.message(yunwei_domain::Lang::En)
        )
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// This node's search index (its own directory, also when nodes share PostgreSQL).
fn open_search(cfg: &Config) -> anyhow::Result<std::sync::Arc<yunwei_search::TicketSearchIndex>> {
    Ok(std::sync::Arc::new(yunwei_search::TicketSearchIndex::open(
        &cfg.search_dir,
    )?))
}

/// This node's index of configuration items (in `<search dir>/ci`).
fn open_ci_search(cfg: &Config) -> anyhow::Result<std::sync::Arc<yunwei_search::CiSearchIndex>> {
    Ok(std::sync::Arc::new(yunwei_search::CiSearchIndex::open(
        &cfg.search_dir,
    )?))
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let app = open(&cfg).await?;
    // A node whose index directory another process holds (two nodes started from one
    // directory) still serves; its searches use the substring filter until it has its own.
    let app = match open_search(&cfg) {
        Ok(index) => app.with_search(index),
        Err(e) => {
            tracing::warn!(
                "full-text search is off on this node: {e:#}; give each node on this machine \
                 its own --search-dir (searches use the substring filter meanwhile)"
            );
            app
        }
    };
    let app = match open_ci_search(&cfg) {
        Ok(index) => app.with_ci_search(index),
        Err(e) => {
            tracing::warn!(
                "full-text search of configuration items is off on this node: {e:#} \
                 (searches use the substring filter meanwhile)"
            );
            app
        }
    };
    let boot = app.bootstrap().await.map_err(service_err)?;
    if let Some(pw) = boot.admin_password {
        // The one secret ever printed: on the very first start, to the terminal, once.
        println!();
        println!(
            "  首次启动：已创建管理员账号 / First start: an administrator account was created"
        );
        println!("    用户名 username: admin");
        println!("    密码   password: {pw}");
        println!("  此密码只显示这一次。登录后请在“个人资料”中修改，或运行 `yunwei admin reset-password --username admin --password-stdin`。");
        println!("  This password is shown only once. Change it under Profile after signing in, or run `yunwei admin reset-password --username admin --password-stdin`.");
        println!();
    }
    let web_cfg = yunwei_web::WebConfig {
        secure_cookies: cfg.secure_cookies,
        trust_forwarded_for: cfg.trust_forwarded_for,
        metrics_on_main: cfg.metrics_on_main,
    };
    let state = yunwei_web::state(app.clone(), web_cfg);
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    if let Some(m) = &cfg.metrics_listen {
        let ml = tokio::net::TcpListener::bind(m)
            .await
            .with_context(|| format!("cannot listen on {m}"))?;
        tracing::info!("metrics on http://{}/metrics", ml.local_addr()?);
        let r = yunwei_web::metrics_router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(ml, r).await;
        });
    }
    // Housekeeping: expired sessions.
    let hk = app.clone();
    tokio::spawn(async move {
        loop {
            if let Ok(mut tx) = hk.db.begin_write().await {
                let _ = yunwei_store::sessions::purge_expired(&mut tx, hk.now()).await;
                let _ = tx.commit().await;
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    });
    // Background jobs (SLA warnings and breaches, auto-confirmation), claimed with leases.
    let worker = app.clone();
    tokio::spawn(async move {
        let node = yunwei_service::worker::default_node_id();
        worker.run_worker(node, shutdown_signal()).await
    });
    // Notifications: every node sends from the outbox (leased rows, retries with back-off).
    app.spawn_notification_worker();
    // Full-text search: this node's index, fed from the audit log (built first if missing).
    let indexer = app.clone();
    tokio::spawn(async move { indexer.run_search_indexer(shutdown_signal()).await });
    tracing::info!(
        "yunwei {} on {} ({}), listening on http://{addr} — ready in {} ms",
        env!("CARGO_PKG_VERSION"),
        app.db.backend(),
        config::redact_url(&cfg.database_url),
        started.elapsed().as_millis()
    );
    yunwei_web::serve(listener, state, shutdown_signal()).await?;
    app.db.close().await;
    Ok(())
}

async fn find_org(
    app: &App,
    actor: &yunwei_service::Actor,
    key: &str,
) -> anyhow::Result<uuid::Uuid> {
    let orgs = app.list_orgs(actor).await.map_err(service_err)?;
    orgs.iter()
        .find(|o| o.id.to_string() == key || o.name == key || o.code.as_deref() == Some(key))
        .map(|o| o.id)
        .ok_or_else(|| anyhow!("no organization named {key}"))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let serve_args = match &cli.cmd {
        Cmd::Serve(s) => s.clone(),
        _ => ServeArgs::default(),
    };
    let cfg = config::load(&cli.global, &serve_args)?;
    init_logging(&cfg.log);
    match cli.cmd {
        Cmd::Serve(_) => serve(cfg).await?,
        Cmd::DefaultConfig => print!("{}", config::DEFAULT_CONFIG),
        Cmd::Admin(a) => {
            let app = open(&cfg).await?;
            if let Some(pw) = app.bootstrap().await.map_err(service_err)?.admin_password {
                // A new installation made by an admin command: the password goes to stderr
                // (stdout stays machine-readable), once, as `serve` would print it.
                eprintln!("首次启动：已创建管理员 admin，密码 / first start: administrator `admin` created, password: {pw}");
            }
            let sys = app.system_actor().await.map_err(service_err)?;
            match a {
                AdminCmd::CreateUser {
                    username,
                    role,
                    org,
                    display_name,
                    email,
                    password_stdin: _,
                } => {
                    let password = read_stdin_password()?;
                    let org_id = match org {
                        Some(o) => Some(find_org(&app, &sys, &o).await?),
                        None => None,
                    };
                    let u = app
                        .create_user(
                            &sys,
                            yunwei_service::users::NewUser {
                                username,
                                display_name,
                                email,
                                phone: None,
                                role,
                                org_id,
                                department_id: None,
                                password,
                                lang: None,
                            },
                        )
                        .await
                        .map_err(service_err)?;
                    eprintln!("created user {} ({}) id {}", u.username, u.role, u.id);
                }
                AdminCmd::CreateToken {
                    username,
                    name,
                    expires_days,
                } => {
                    let u = app
                        .get_user_by_username(&sys, &username)
                        .await
                        .map_err(service_err)?;
                    let t = app
                        .create_token(
                            &sys,
                            u.id,
                            yunwei_service::auth::NewToken {
                                name,
                                expires_in_days: expires_days,
                            },
                        )
                        .await
                        .map_err(service_err)?;
                    println!("{}", t.token);
                }
                AdminCmd::ResetPassword {
                    username,
                    password_stdin: _,
                } => {
                    let password = read_stdin_password()?;
                    let u = app
                        .get_user_by_username(&sys, &username)
                        .await
                        .map_err(service_err)?;
                    app.set_user_password(&sys, u.id, &password)
                        .await
                        .map_err(service_err)?;
                    eprintln!(
                        "password of {} changed; their sessions were ended",
                        u.username
                    );
                }
            }
        }
        Cmd::Audit(AuditCmd::Verify) => {
            let app = open_with(&cfg, true).await?;
            let v = yunwei_store::audit::verify(&app.db).await?;
            match v.fault {
                None => println!("audit log intact: {} entries verified", v.entries),
                Some(f) => {
                    println!("audit log BROKEN: {f}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Cmd::Backup { file } => {
            let app = open_with(&cfg, true).await?;
            yunwei_store::backup::backup_sqlite(&app.db, &file).await?;
            let users = yunwei_store::backup::check_backup(&file).await?;
            eprintln!(
                "backup written to {} ({users} users); verified",
                file.display()
            );
        }
        Cmd::Restore { file, force } => {
            yunwei_store::backup::restore_sqlite(&file, &cfg.data_dir, force).await?;
            // Open it once so pending migrations of this version apply.
            let db = Db::connect(
                &yunwei_store::sqlite_url(&cfg.data_dir),
                PoolSize::default(),
            )
            .await?;
            db.migrate().await?;
            let v = yunwei_store::audit::verify(&db).await?;
            db.close().await;
            if let Some(f) = v.fault {
                bail!("restored, but the audit chain does not verify: {f}");
            }
            eprintln!(
                "restored {} into {}; audit chain intact ({} entries)",
                file.display(),
                cfg.data_dir.display(),
                v.entries
            );
        }
        Cmd::Search(SearchCmd::Rebuild) => {
            let app = open_with(&cfg, true).await?.with_search(open_search(&cfg)?);
            let started = std::time::Instant::now();
            let n = app.rebuild_search_index().await.map_err(service_err)?;
            eprintln!(
                "search index {} rebuilt: {n} tickets in {:.1} s",
                cfg.search_dir.display(),
                started.elapsed().as_secs_f64()
            );
            let app = app.with_ci_search(open_ci_search(&cfg)?);
            let started = std::time::Instant::now();
            let n = app.rebuild_ci_search_index().await.map_err(service_err)?;
            eprintln!(
                "search index {} rebuilt: {n} configuration items in {:.1} s",
                cfg.search_dir.join("ci").display(),
                started.elapsed().as_secs_f64()
            );
        }
        Cmd::MigrateStore { from, to } => {
            let src = Db::connect(&from, PoolSize::default())
                .await
                .context("opening --from")?;
            src.migrate().await?;
            let dst = Db::connect(&to, PoolSize::default())
                .await
                .context("opening --to")?;
            dst.migrate().await?;
            let counts = yunwei_store::copy::copy_all(&src, &dst).await?;
            for (t, n) in counts {
                eprintln!("{t:>16}: {n}");
            }
            eprintln!(
                "copied and verified: {} → {}",
                config::redact_url(&from),
                config::redact_url(&to)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// glibc's malloc gives each thread that contends for it an arena of its own (up to 8 per core:
/// tokio workers, blocking threads, SQLite connection threads, the search writers) and returns
/// little of them to the system: 2,000 ticket creations left 180 MB resident, 95 MB with two
/// arenas (measured on this machine; mimalloc: 139 MB and a larger idle size). glibc reads
/// `MALLOC_ARENA_MAX` only when the process starts, so when it is not set the process replaces
/// itself (same pid, same arguments) with it set to 2. Setting it explicitly keeps any value.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", "2")
        .exec();
    // Only reached when exec failed: carry on with glibc's defaults.
    eprintln!("note: could not restart with MALLOC_ARENA_MAX=2: {err}");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
