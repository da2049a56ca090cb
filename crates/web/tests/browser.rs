//! End-to-end UI test in a real headless Chromium, driven through chromedriver (WebDriver) with
//! fantoccini: sign-in (wrong then right password), create a user through the form, switch the
//! language back and forth, and check that an organization name carrying a script tag is shown
//! escaped and never runs. Screenshots are left in `target/browser-screenshots/`
//! (`login-error.png`, `users.png`, `users-en.png`, `org-escaped.png`) for a human to look at.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`). Without them the test warns loudly and passes, except under `CI=true`,
//! where it fails so CI never skips the browser silently.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::browser::*;
use fantoccini::{Client, Locator};
use serde_json::json;

/// The whole browser flow must finish within this.
const FLOW_BUDGET: Duration = Duration::from_secs(120);

const XSS_NAME: &str = "<script>window.__pwned=1</script>公司";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_users_language_and_escaping() {
    for bin in [CHROMEDRIVER, CHROMIUM] {
        if !Path::new(bin).exists() {
            if in_ci() {
                panic!(
                    "CI=true but {bin} is missing: install Debian's chromium and chromium-driver"
                );
            }
            eprintln!();
            eprintln!("WARNING: ==========================================================");
            eprintln!("WARNING: {bin} not found: SKIPPING the headless-browser UI test.");
            eprintln!("WARNING: install it with `apt-get install chromium chromium-driver`.");
            eprintln!("WARNING: ==========================================================");
            eprintln!();
            return;
        }
    }
    let t0 = Instant::now();
    // Two rustls crypto providers are compiled into this test binary (the WebDriver client's
    // and the notification senders'), so rustls cannot pick one itself: choose.
    let _ = rustls::crypto::ring::default_provider().install_default();

    // The server, in-process, on a free port.
    let tdb = yunwei_testkit::TestDb::sqlite().await;
    let app = yunwei_service::App::new(tdb.db.clone());
    let boot = app.bootstrap().await.unwrap();
    let admin_password = boot.admin_password.unwrap();
    let people = seed_people(&app).await;
    let state = yunwei_web::state(app, yunwei_web::WebConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(yunwei_web::serve(listener, state, std::future::pending()));

    // The browser.
    let profile = std::env::temp_dir().join(format!(
        "yunwei-chromium-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&profile).expect("create the browser profile dir");
    let (_driver, driver_url) = start_chromedriver(profile.clone()).await;
    let client = connect_browser(&driver_url, &profile).await;
    eprintln!("browser test: server and browser up in {:?}", t0.elapsed());

    // Run the flow in its own task so that a failed assertion (a panic) still lets us close
    // the browser session before chromedriver is killed.
    let (client2, client3) = (client.clone(), client.clone());
    let flow = tokio::spawn(tokio::time::timeout(FLOW_BUDGET, async move {
        flow(client2, base.clone(), admin_password).await;
        ticket_flow(client3, base, people).await;
    }));
    let outcome = flow.await;
    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("the browser flow took longer than {FLOW_BUDGET:?}"),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the browser flow task failed: {e}"),
    }
    eprintln!("browser test: passed in {:?}", t0.elapsed());
}

// ------------------------------------------------------------------------------- helpers

async fn path(c: &Client) -> String {
    c.current_url()
        .await
        .expect("current url")
        .path()
        .to_string()
}

async fn html_lang(c: &Client) -> String {
    c.find(Locator::Css("html"))
        .await
        .expect("<html>")
        .attr("lang")
        .await
        .expect("html[lang]")
        .unwrap_or_default()
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("text of {css}: {e}"))
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"));
    e.clear()
        .await
        .unwrap_or_else(|e| panic!("clear {css}: {e}"));
    e.send_keys(value)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn goto(c: &Client, url: &str) {
    c.goto(url)
        .await
        .unwrap_or_else(|e| panic!("goto {url}: {e}"));
}

/// Wait until the current path satisfies `ok`; returns it.
async fn wait_path(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    eventually(what, || async {
        let p = path(c).await;
        ok(&p).then_some(p)
    })
    .await
}

/// Wait until `html[lang]` is `want` (after a navigation).
async fn wait_lang(c: &Client, want: &str) {
    eventually(&format!("html[lang] to become {want}"), || async {
        // The old document may be detached mid-navigation: treat errors as "not yet".
        let l = c
            .find(Locator::Css("html"))
            .await
            .ok()?
            .attr("lang")
            .await
            .ok()??;
        (l == want).then_some(())
    })
    .await
}

/// Save a screenshot of the current page under `target/browser-screenshots/`.
async fn screenshot(c: &Client, name: &str) {
    let dir = target_dir().join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("create target/browser-screenshots");
    let png = c.screenshot().await.expect("screenshot");
    let file = dir.join(name);
    std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    eprintln!("browser test: screenshot {}", file.display());
}

async fn has_cookie(c: &Client, name: &str) -> bool {
    c.get_all_cookies()
        .await
        .expect("cookies")
        .iter()
        .any(|k| k.name() == name)
}

// ---------------------------------------------------------------------------------- flow

async fn flow(c: Client, base: String, admin_password: String) {
    let step = Instant::now();

    // Anonymous: / sends us to the sign-in page, in Chinese.
    goto(&c, &format!("{base}/")).await;
    wait_path(&c, "redirect to /login", |p| p == "/login").await;
    assert_eq!(html_lang(&c).await, "zh-CN", "the UI is Chinese by default");
    let submit = text_of(&c, "#login-submit").await;
    assert!(submit.contains("登录"), "sign-in button text: {submit:?}");

    // Wrong password: an alert, no session, still on /login.
    fill(&c, "#username", "admin").await;
    fill(&c, "#password", "definitely-not-the-password").await;
    click(&c, "#login-submit").await;
    let alert = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#form-error"))
        .await
        .expect("#form-error after a wrong password");
    let alert_text = alert.text().await.expect("alert text");
    assert!(!alert_text.trim().is_empty(), "the alert says something");
    assert_eq!(alert.attr("role").await.unwrap().as_deref(), Some("alert"));
    screenshot(&c, "login-error.png").await;
    assert_eq!(path(&c).await, "/login");
    assert!(
        !has_cookie(&c, "yw_session").await,
        "no session cookie after a wrong password"
    );
    // And a protected page still sends us back to sign in.
    goto(&c, &format!("{base}/users")).await;
    wait_path(&c, "redirect to /login for /users", |p| p == "/login").await;

    // Right password: signed in, sent on to /users (the `next` of the redirect).
    fill(&c, "#username", "admin").await;
    fill(&c, "#password", &admin_password).await;
    click(&c, "#login-submit").await;
    wait_path(&c, "/users after signing in", |p| p == "/users").await;
    assert!(has_cookie(&c, "yw_session").await, "session cookie set");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#logout"))
        .await
        .expect("signed-in header with #logout");
    eprintln!("browser test: sign-in checks done in {:?}", step.elapsed());

    // Create a user through the form.
    fill(&c, "#new-username", "zhangsan").await;
    fill(&c, "#new-display-name", "张三").await;
    c.find(Locator::Css("#new-role"))
        .await
        .expect("#new-role")
        .select_by_value("agent")
        .await
        .expect("select role agent");
    let org_default = c
        .execute(
            "const s = document.querySelector('#new-org'); \
             return s.options[s.selectedIndex].text;",
            vec![],
        )
        .await
        .expect("read #new-org");
    assert_eq!(
        org_default,
        json!("运维服务方"),
        "the provider org is listed first and preselected"
    );
    fill(&c, "#new-password", "a-long-password-1").await;
    click(&c, "#user-create").await;
    let user_path = wait_path(&c, "/users/<id> after creating a user", |p| {
        p.strip_prefix("/users/")
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    })
    .await;
    eprintln!("browser test: created user at {user_path}");
    let h1 = text_of(&c, "h1").await;
    assert!(h1.contains("张三"), "user page heading: {h1:?}");
    assert!(h1.contains("zhangsan"), "user page heading: {h1:?}");

    // Back on the list, the new user is there.
    goto(&c, &format!("{base}/users")).await;
    wait_path(&c, "/users", |p| p == "/users").await;
    let table = text_of(&c, "#users-table").await;
    assert!(table.contains("zhangsan"), "users table: {table:?}");
    assert!(table.contains("张三"), "users table: {table:?}");

    // A screenshot for a human.
    screenshot(&c, "users.png").await;

    // Switch to English and back.
    click(&c, "#lang-switch").await;
    wait_lang(&c, "en").await;
    assert_eq!(
        path(&c).await,
        "/users",
        "the language switch stays on the page"
    );
    let nav = text_of(&c, "nav.main-nav").await;
    assert!(nav.contains("Users"), "English nav: {nav:?}");
    screenshot(&c, "users-en.png").await;
    let switch = text_of(&c, "#lang-switch").await;
    assert!(
        switch.contains("中文"),
        "switch back offers Chinese: {switch:?}"
    );
    click(&c, "#lang-switch").await;
    wait_lang(&c, "zh-CN").await;
    let nav = text_of(&c, "nav.main-nav").await;
    assert!(nav.contains("用户"), "Chinese nav: {nav:?}");
    assert!(!nav.contains("Users"), "Chinese nav: {nav:?}");

    // A script in an organization name is shown as text and never runs.
    goto(&c, &format!("{base}/orgs")).await;
    wait_path(&c, "/orgs", |p| p == "/orgs").await;
    fill(&c, "#org-name", XSS_NAME).await;
    click(&c, "#org-create").await;
    wait_path(&c, "/orgs/<id> after creating an org", |p| {
        p.strip_prefix("/orgs/")
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    })
    .await;
    assert_xss_inert(&c, "h1").await;
    screenshot(&c, "org-escaped.png").await;
    let title = c.title().await.expect("title");
    assert!(
        title.contains(XSS_NAME),
        "the name shows literally in <title>: {title:?}"
    );
    goto(&c, &format!("{base}/orgs")).await;
    wait_path(&c, "/orgs", |p| p == "/orgs").await;
    assert_xss_inert(&c, "#orgs-table").await;

    eprintln!("browser test: flow done in {:?}", step.elapsed());
}

/// The payload is visible, literally, in `css`; no script element but our own external
/// `/assets/console.js` exists, and the payload did not run.
async fn assert_xss_inert(c: &Client, css: &str) {
    let pwned = c
        .execute("return typeof window.__pwned", vec![])
        .await
        .expect("execute script");
    assert_eq!(pwned, json!("undefined"), "the injected script ran");
    let scripts = c
        .execute(
            "return Array.from(document.querySelectorAll('script')).filter(s => s.getAttribute('src') !== '/assets/console.js' || s.textContent.length > 0).length",
            vec![],
        )
        .await
        .expect("execute script");
    assert_eq!(
        scripts,
        json!(0),
        "a <script> element made it into the page"
    );
    let shown = text_of(c, css).await;
    assert!(
        shown.contains(XSS_NAME),
        "the name should show literally (escaped) in {css}: {shown:?}"
    );
}

// ------------------------------------------------------------------- the service desk flow

const PW: &str = "browser-test-password";

/// A customer organization with a customer, and an agent.
async fn seed_people(app: &yunwei_service::App) -> (String, String) {
    let sys = app.system_actor().await.unwrap();
    let org = app
        .create_org(
            &sys,
            yunwei_service::orgs::NewOrg {
                name: "沈阳某局".into(),
                code: None,
                contact: None,
            },
        )
        .await
        .unwrap();
    for (username, role, org_id) in [("kehu", "customer", Some(org.id)), ("zuoxi", "agent", None)] {
        app.create_user(
            &sys,
            yunwei_service::users::NewUser {
                username: username.into(),
                display_name: None,
                email: None,
                phone: None,
                role: role.into(),
                org_id,
                department_id: None,
                password: PW.into(),
                lang: None,
            },
        )
        .await
        .unwrap();
    }
    ("kehu".into(), "zuoxi".into())
}

async fn sign_in(c: &Client, base: &str, user: &str) {
    goto(c, &format!("{base}/login")).await;
    fill(c, "#username", user).await;
    fill(c, "#password", PW).await;
    click(c, "#login-submit").await;
    wait_path(c, "signed in", |p| p != "/login").await;
}

async fn sign_out(c: &Client) {
    click(c, "#logout").await;
    wait_path(c, "signed out", |p| p == "/login").await;
}

async fn status_is(c: &Client, want: &str) {
    eventually(&format!("ticket status {want}"), || async {
        let el = c.find(Locator::Css("#t-status")).await.ok()?;
        let s = el.attr("data-status").await.ok()??;
        (s == want).then_some(())
    })
    .await;
}

/// Customer submits → agent classifies, prioritises, resolves → customer confirms and rates.
async fn ticket_flow(c: Client, base: String, (customer, agent): (String, String)) {
    // The admin of the first flow signs out; the customer submits an incident on the portal.
    goto(&c, &format!("{base}/")).await;
    sign_out(&c).await;
    sign_in(&c, &base, &customer).await;
    goto(&c, &format!("{base}/tickets/new")).await;
    fill(&c, "#t-subject", "财务系统无法登录").await;
    fill(
        &c,
        "#t-description",
        "今天早上八点起，财务处所有人都无法登录财务系统",
    )
    .await;
    click(&c, "#t-submit").await;
    let p = wait_path(&c, "the new ticket's page", |p| {
        p.starts_with("/tickets/INC-")
    })
    .await;
    let number = p.trim_start_matches("/tickets/").to_string();
    status_is(&c, "new").await;
    sign_out(&c).await;

    // The agent finds it in the queue, classifies, prioritises, assigns to self, works it.
    sign_in(&c, &base, &agent).await;
    goto(&c, &format!("{base}/tickets?sort=queue&open=true")).await;
    let table = text_of(&c, "#tickets-table").await;
    assert!(table.contains(&number), "the queue lists {number}: {table}");
    goto(&c, &format!("{base}/tickets/{number}")).await;
    c.find(Locator::Css("#tr-criticality option[value='critical']"))
        .await
        .expect("criticality")
        .click()
        .await
        .expect("select");
    c.find(Locator::Css("#tr-breadth option[value='one_department']"))
        .await
        .expect("breadth")
        .click()
        .await
        .expect("select");
    c.find(Locator::Css("#tr-urgency option[value='high']"))
        .await
        .expect("urgency")
        .click()
        .await
        .expect("select");
    click(&c, "#do-triage").await;
    status_is(&c, "assigned").await;
    assert_eq!(text_of(&c, "#t-priority").await.trim(), "P2");
    let sla = text_of(&c, "#t-sla").await;
    assert!(
        sla.contains("解决时限") && sla.contains("计时中"),
        "the SLA card explains the deadline: {sla}"
    );
    click(&c, "#do-start").await;
    status_is(&c, "in_progress").await;
    fill(&c, "#do-resolution", "重置了财务系统的会话服务").await;
    click(&c, "#do-resolve").await;
    status_is(&c, "resolved").await;
    sign_out(&c).await;

    // The customer confirms and rates.
    sign_in(&c, &base, &customer).await;
    goto(&c, &format!("{base}/tickets/{number}")).await;
    let ask = text_of(&c, "#awaiting-you").await;
    assert!(ask.contains("确认"), "{ask}");
    click(&c, "#do-confirm").await;
    status_is(&c, "closed").await;
    click(&c, "#score-5").await;
    click(&c, "#do-rate").await;
    eventually("the rating shows", || async {
        c.find(Locator::Css("#t-rated")).await.ok()
    })
    .await;
    assert_eq!(text_of(&c, "#t-rated").await.trim(), "5 / 5");
    let timeline = text_of(&c, "#timeline").await;
    for step in [
        "提交了工单",
        "分类定级并分派",
        "开始处理",
        "标记已解决",
        "确认已解决",
        "评价了服务",
    ] {
        assert!(timeline.contains(step), "timeline has {step}: {timeline}");
    }
    screenshot(&c, "ticket-closed.png").await;
    sign_out(&c).await;
}

// ------------------------------------------------------------------------------------ CMDB

/// The CMDB in a real browser: an engineer opens the list, a server's page with its facts,
/// impact and the server-rendered SVG topology, follows a node of the drawing to its
/// neighbour, adds a relation through the form, and looks at the room and rack elevations.
/// Screenshots: `cmdb-ci.png`, `cmdb-rack.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_cmdb_ci_page_and_topology() {
    for bin in [CHROMEDRIVER, CHROMIUM] {
        if !Path::new(bin).exists() {
            if in_ci() {
                panic!(
                    "CI=true but {bin} is missing: install Debian's chromium and chromium-driver"
                );
            }
            eprintln!("WARNING: {bin} not found: SKIPPING the CMDB browser test.");
            return;
        }
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tdb = yunwei_testkit::TestDb::sqlite().await;
    let app = yunwei_service::App::new(tdb.db.clone());
    app.bootstrap().await.unwrap();
    let server_id = seed_cmdb(&app).await;
    let state = yunwei_web::state(app, yunwei_web::WebConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(yunwei_web::serve(listener, state, std::future::pending()));
    let profile = std::env::temp_dir().join(format!(
        "yunwei-chromium-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&profile).expect("create the browser profile dir");
    let (_driver, driver_url) = start_chromedriver(profile.clone()).await;
    let client = connect_browser(&driver_url, &profile).await;
    let c2 = client.clone();
    let flow = tokio::spawn(tokio::time::timeout(FLOW_BUDGET, async move {
        cmdb_flow(c2, base, server_id).await;
    }));
    let outcome = flow.await;
    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("the CMDB browser flow took longer than {FLOW_BUDGET:?}"),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the CMDB browser flow task failed: {e}"),
    }
}

/// A room with a rack, a server at U10–U11 in it, a VM on the server, an application on the
/// VM, an engineer `gongchengshi`. Returns the server's id.
async fn seed_cmdb(app: &yunwei_service::App) -> String {
    use yunwei_service::cmdb::{CiInput, NewRelation};
    let sys = app.system_actor().await.unwrap();
    app.create_user(
        &sys,
        yunwei_service::users::NewUser {
            username: "gongchengshi".into(),
            display_name: Some("王工".into()),
            email: None,
            phone: None,
            role: "engineer".into(),
            org_id: None,
            department_id: None,
            password: PW.into(),
            lang: None,
        },
    )
    .await
    .unwrap();
    let mk = |class: &str, key: &str, name: &str, attrs: serde_json::Value| CiInput {
        class: class.into(),
        external_key: key.into(),
        name: name.into(),
        attributes: attrs.as_object().unwrap().clone(),
        ..Default::default()
    };
    let room = app
        .create_ci(&sys, mk("machine_room", "ROOM-1", "一号机房", json!({})))
        .await
        .unwrap();
    let rack = app
        .create_ci(
            &sys,
            mk("rack", "RACK-A1", "A1 机柜", json!({"u_height": 42})),
        )
        .await
        .unwrap();
    let server = app
        .create_ci(
            &sys,
            mk(
                "physical_server",
                "SRV-01",
                "核心数据库服务器",
                json!({"rack_position": 10, "u_size": 2, "mgmt_ip": "10.0.0.10"}),
            ),
        )
        .await
        .unwrap();
    let vm = app
        .create_ci(&sys, mk("virtual_machine", "VM-01", "OA 虚拟机", json!({})))
        .await
        .unwrap();
    let oa = app
        .create_ci(
            &sys,
            mk("application_system", "APP-OA", "OA 系统", json!({})),
        )
        .await
        .unwrap();
    app.create_ci(&sys, mk("ups", "UPS-1", "一号 UPS", json!({})))
        .await
        .unwrap();
    for (s, kind, t) in [
        (&rack, "located_in", &room),
        (&server, "located_in", &rack),
        (&vm, "runs_on", &server),
        (&oa, "runs_on", &vm),
    ] {
        app.create_ci_relation(
            &sys,
            NewRelation {
                source_id: s.ci.id,
                kind: kind.into(),
                target_id: t.ci.id,
            },
        )
        .await
        .unwrap();
    }
    server.ci.id.to_string()
}

async fn cmdb_flow(c: Client, base: String, server_id: String) {
    sign_in(&c, &base, "gongchengshi").await;
    click(&c, "#nav-cmdb").await;
    wait_path(&c, "the CMDB list", |p| p == "/cmdb").await;
    let table = text_of(&c, "#cmdb-table").await;
    assert!(
        table.contains("核心数据库服务器") && table.contains("物理服务器"),
        "{table}"
    );

    // The server's page: facts, attributes, impact, topology.
    goto(&c, &format!("{base}/cmdb/cis/{server_id}")).await;
    let facts = text_of(&c, "#ci-facts").await;
    assert!(
        facts.contains("SRV-01") && facts.contains("在用"),
        "{facts}"
    );
    assert!(text_of(&c, "#ci-attrs").await.contains("10.0.0.10"));
    let impact = text_of(&c, "#ci-impact").await;
    assert!(
        impact.contains("OA 虚拟机") && impact.contains("OA 系统"),
        "{impact}"
    );
    let svg = text_of(&c, "#topology-svg").await;
    for name in ["核心数据库服务器", "A1 机柜", "OA 虚拟机", "位于", "运行于"] {
        assert!(svg.contains(name), "the topology shows {name}: {svg}");
    }
    screenshot(&c, "cmdb-ci.png").await;

    // Add a relation through the form: the server is powered by the UPS.
    c.find(Locator::Css("#rel-kind option[value='powered_by']"))
        .await
        .expect("kind option")
        .click()
        .await
        .expect("select kind");
    fill(&c, "#rel-target", "UPS-1").await;
    click(&c, "#rel-submit").await;
    eventually("the new relation in the topology", || async {
        let t = c
            .find(Locator::Css("#topology-svg"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        t.contains("一号 UPS").then_some(())
    })
    .await;

    // Follow the rack's node in the drawing, then its room/rack elevation.
    let rack_node = c
        .find(Locator::XPath("//*[local-name()='svg'][@id='topology-svg']//*[local-name()='a'][.//*[local-name()='text'][contains(., 'A1 机柜')]]"))
        .await
        .expect("the rack's node");
    rack_node.click().await.expect("click the rack's node");
    eventually("the rack's page", || async {
        let t = c
            .find(Locator::Css("#ci-title"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        t.contains("A1 机柜").then_some(())
    })
    .await;
    click(&c, "#ci-rack-link").await;
    wait_path(&c, "the rack view", |p| p.ends_with("/rack")).await;
    let racks = text_of(&c, "#racks").await;
    assert!(
        racks.contains("U10–11") && racks.contains("核心数据库服务器"),
        "{racks}"
    );
    screenshot(&c, "cmdb-rack.png").await;
    sign_out(&c).await;
}
