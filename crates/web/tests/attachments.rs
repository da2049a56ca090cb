//! Ticket attachments through the API and the ticket page, on SQLite and PostgreSQL: upload,
//! list, download with safe headers; size and type refusals that store nothing; sanitised
//! names; the ticket's organization scope and internal attachments.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{session_cookie, Resp, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const BOUNDARY: &str = "----yunweiTestBoundary7MA4YWxkTrZu0gW";

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89";

/// A multipart body: text fields, then one file part (name, declared type, bytes).
fn multipart(fields: &[(&str, &str)], file: Option<(&str, Option<&str>, &[u8])>) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, ct, bytes)) = file {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            )
            .as_bytes(),
        );
        if let Some(ct) = ct {
            b.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        b.extend_from_slice(b"\r\n");
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

fn upload_req(path: &str, auth: &[(&str, &str)], body: Vec<u8>) -> Request<Body> {
    let mut r = Request::post(path).header(
        "content-type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    for (k, v) in auth {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body)).unwrap()
}

async fn upload(
    t: &TestApp,
    token: &str,
    number: &str,
    fields: &[(&str, &str)],
    file: (&str, Option<&str>, &[u8]),
) -> Resp {
    let bearer = format!("Bearer {token}");
    t.send(upload_req(
        &format!("/api/v1/tickets/{number}/attachments"),
        &[("authorization", &bearer)],
        multipart(fields, Some(file)),
    ))
    .await
}

async fn submit(t: &TestApp, token: &str) -> String {
    let r = t
        .post(
            "/api/v1/tickets",
            token,
            json!({"kind": "incident", "subject": "打印机报错", "description": "报错截图见附件"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
    r.body["number"].as_str().unwrap().to_string()
}

async fn attachments(t: &TestApp, token: &str, number: &str) -> Vec<Value> {
    let r = t
        .get(&format!("/api/v1/tickets/{number}/attachments"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

async fn event_kinds(t: &TestApp, token: &str, number: &str) -> Vec<String> {
    let r = t.get(&format!("/api/v1/tickets/{number}"), token).await;
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn upload_list_and_download_with_safe_headers() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let n = submit(&t, &customer).await;

        let before = t.audit_count().await;
        let r = upload(
            &t,
            &customer,
            &n,
            &[],
            ("报错截图.png", Some("image/png"), PNG),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.name, r.text);
        let a = r.body.clone();
        assert_eq!(a["file_name"], "报错截图.png");
        assert_eq!(a["content_type"], "image/png");
        assert_eq!(a["size"], PNG.len());
        assert_eq!(a["sha256"], hex::encode(Sha256::digest(PNG)));
        assert_eq!(a["internal"], false);
        let id = a["id"].as_str().unwrap().to_string();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
        assert_eq!(t.audit_count().await, before + 1);

        // The audit entry is on the ticket and names the file (for search).
        let r = t
            .get(
                &format!("/api/v1/audit?entity=ticket&entity_id={n}&action=attach"),
                &t.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
        assert!(r.text.contains("报错截图.png"));

        // The timeline records it; both sides list it.
        assert!(event_kinds(&t, &customer, &n)
            .await
            .contains(&"attachment".to_string()));
        assert_eq!(attachments(&t, &agent, &n).await.len(), 1);
        let listed = attachments(&t, &customer, &n).await;
        assert_eq!(listed[0]["id"], id.as_str());

        // Download: the bytes, the sniffed type, a download, nosniff and a sandbox.
        let r = t.get(&format!("/api/v1/attachments/{id}"), &agent).await;
        assert_eq!(r.status, StatusCode::OK);
        let h = |k: &str| r.headers.get(k).unwrap().to_str().unwrap().to_string();
        assert_eq!(h("content-type"), "image/png");
        assert_eq!(
            h("content-disposition"),
            "attachment; filename=\"____.png\"; filename*=UTF-8''%E6%8A%A5%E9%94%99%E6%88%AA%E5%9B%BE.png"
        );
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("content-security-policy"), "sandbox; default-src 'none'");
        let r2 = t
            .send(
                Request::get(format!("/api/v1/attachments/{id}"))
                    .header("authorization", format!("Bearer {customer}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r2.status, StatusCode::OK);
        assert_eq!(r2.text, String::from_utf8_lossy(PNG));

        // Text files are served as text, never as HTML; office documents by their type.
        let r = upload(
            &t,
            &agent,
            &n,
            &[],
            (
                "日志.log",
                Some("text/plain"),
                "2026-01-05 错误 <script>alert(1)</script>\n".as_bytes(),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["content_type"], "text/plain; charset=utf-8");
        let lid = r.body["id"].as_str().unwrap().to_string();
        let r = t
            .get(&format!("/api/v1/attachments/{lid}"), &customer)
            .await;
        assert_eq!(
            r.headers.get("content-type").unwrap(),
            "text/plain; charset=utf-8"
        );

        // Not a number, not an id, not there: missing.
        let r = t.get("/api/v1/attachments/nonsense", &agent).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = t
            .get(
                &format!("/api/v1/attachments/{}", uuid::Uuid::now_v7()),
                &agent,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn organization_scope_and_internal_attachments() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let other = t.org("乙单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let (_, stranger) = t.user("mosheng", "customer", Some(other)).await;
        let (_, agent) = t.user("zuoxi", "agent", None).await;
        let (_, auditor) = t.user("shenji", "auditor", None).await;
        let n = submit(&t, &customer).await;

        let r = upload(&t, &customer, &n, &[], ("a.txt", None, b"hello")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let public_id = r.body["id"].as_str().unwrap().to_string();
        let r = upload(
            &t,
            &agent,
            &n,
            &[("internal", "true")],
            (
                "内部排查.txt",
                Some("text/plain"),
                "交换机端口 24 故障".as_bytes(),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["internal"], true);
        let internal_id = r.body["id"].as_str().unwrap().to_string();

        // Customers may not add internal attachments.
        let before = t.audit_count().await;
        let r = upload(
            &t,
            &customer,
            &n,
            &[("internal", "true")],
            ("b.txt", None, b"x"),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(t.audit_count().await, before);

        // The customer sees the public one only; the internal one is missing for them.
        let mine = attachments(&t, &customer, &n).await;
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["id"], public_id.as_str());
        let r = t
            .get(&format!("/api/v1/attachments/{internal_id}"), &customer)
            .await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        assert!(!event_kinds(&t, &customer, &n)
            .await
            .iter()
            .any(|k| k == "note"));
        // Staff and auditors see both.
        assert_eq!(attachments(&t, &agent, &n).await.len(), 2);
        assert_eq!(attachments(&t, &auditor, &n).await.len(), 2);
        let r = t
            .get(&format!("/api/v1/attachments/{internal_id}"), &auditor)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        // Auditors change nothing.
        let r = upload(&t, &auditor, &n, &[], ("c.txt", None, b"x")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // Another organization's customer: everything answers like a missing ticket.
        let r = t
            .get(&format!("/api/v1/tickets/{n}/attachments"), &stranger)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = t
            .get(&format!("/api/v1/attachments/{public_id}"), &stranger)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = upload(&t, &stranger, &n, &[], ("d.txt", None, b"x")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(t.audit_count().await, before);
    }
}

#[tokio::test]
async fn refused_files_store_nothing() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let n = submit(&t, &customer).await;
        let before = t.audit_count().await;
        let events_before = event_kinds(&t, &customer, &n).await.len();

        // Wrong type: 415 with our error body, for each way of disagreeing.
        for (name, declared, bytes) in [
            ("截图.png", Some("image/png"), b"%PDF-1.7\n".as_slice()),
            (
                "page.html",
                Some("text/html"),
                b"<html><script>alert(1)</script></html>".as_slice(),
            ),
            ("a.txt", Some("text/html"), b"plain".as_slice()),
            ("a.png", Some("image/jpeg"), PNG),
            ("a.txt", None, b"\x00\x01\x02binary".as_slice()),
            ("setup.exe", None, b"MZ\x90\x00\x03".as_slice()),
            ("no-extension", None, b"hello".as_slice()),
            (
                "a.docx",
                None,
                b"PK\x03\x04 not really a document".as_slice(),
            ),
        ] {
            let r = upload(&t, &customer, &n, &[], (name, declared, bytes)).await;
            assert_eq!(
                (r.status, r.body["code"].as_str(), r.body["field"].as_str()),
                (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    Some("attachment_type_refused"),
                    Some("file")
                ),
                "{}: {name}: {}",
                t.name,
                r.text
            );
            assert!(r.body["request_id"].is_string());
        }
        // Not multipart at all.
        let r = t
            .post(
                &format!("/api/v1/tickets/{n}/attachments"),
                &customer,
                json!({"file": "x"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
        // No file, an empty file, an unknown field.
        let bearer = format!("Bearer {customer}");
        let r = t
            .send(upload_req(
                &format!("/api/v1/tickets/{n}/attachments"),
                &[("authorization", &bearer)],
                multipart(&[("internal", "false")], None),
            ))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let r = upload(&t, &customer, &n, &[], ("empty.txt", None, b"")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let r = upload(
            &t,
            &customer,
            &n,
            &[("comment", "x")],
            ("a.txt", None, b"x"),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

        // Too large: 413 while streaming, with a small configured limit.
        let mut app = t.app.clone();
        app.settings.attachment_max_bytes = 1024;
        let small = yunwei_web::router(yunwei_web::state(app, Default::default()));
        let send = |body: Vec<u8>| {
            let req = upload_req(
                &format!("/api/v1/tickets/{n}/attachments"),
                &[("authorization", &bearer)],
                body,
            );
            let r = small.clone();
            async move {
                use http_body_util::BodyExt;
                use tower::ServiceExt;
                let res = r.oneshot(req).await.unwrap();
                let status = res.status();
                let bytes = res.into_body().collect().await.unwrap().to_bytes();
                (
                    status,
                    serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
                )
            }
        };
        let big = vec![b'a'; 1025];
        let (status, body) = send(multipart(&[], Some(("big.txt", None, &big)))).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("attachment_too_large")),
            "{}",
            t.name
        );
        // Far beyond the general 1 MiB body limit too.
        let huge = vec![b'a'; 3 * 1024 * 1024];
        let (status, _) = send(multipart(&[], Some(("huge.txt", None, &huge)))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        // Exactly at the limit is fine (on the configured router).
        let (status, body) = send(multipart(&[], Some(("ok.txt", None, &big[..1024])))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(attachments(&t, &customer, &n).await.len(), 1);
        assert_eq!(t.audit_count().await, before + 1);
        assert_eq!(
            event_kinds(&t, &customer, &n).await.len(),
            events_before + 1
        );

        // Above the default limit of 20 MiB on the normal router.
        let over = vec![b'a'; 20 * 1024 * 1024 + 1];
        let r = upload(&t, &customer, &n, &[], ("over.txt", None, &over)).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(attachments(&t, &customer, &n).await.len(), 1);
        assert_eq!(t.audit_count().await, before + 1);
    }
}

#[tokio::test]
async fn path_traversal_names_are_stored_sanitised() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        let (_, customer) = t.user("kehu", "customer", Some(org)).await;
        let n = submit(&t, &customer).await;
        for (raw, kept) in [
            ("../../etc/passwd.txt", "passwd.txt"),
            ("..\\..\\windows\\win.ini.txt", "win.ini.txt"),
            ("/abs/path/报告.csv", "报告.csv"),
            ("..txt", "txt"),
        ] {
            let bytes: &[u8] = if kept.ends_with(".csv") {
                "编号,名称\n1,打印机\n".as_bytes()
            } else {
                b"[x]\n"
            };
            let r = upload(&t, &customer, &n, &[], (raw, None, bytes)).await;
            if kept == "txt" {
                // A name that is only an extension loses it and is refused.
                assert_eq!(
                    r.status,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "{raw}: {}",
                    r.text
                );
                continue;
            }
            assert_eq!(
                r.status,
                StatusCode::CREATED,
                "{}: {raw}: {}",
                t.name,
                r.text
            );
            assert_eq!(r.body["file_name"], kept, "{raw}");
            let id = r.body["id"].as_str().unwrap();
            let d = t.get(&format!("/api/v1/attachments/{id}"), &customer).await;
            let cd = d
                .headers
                .get("content-disposition")
                .unwrap()
                .to_str()
                .unwrap();
            assert!(!cd.contains('/') && !cd.contains(".."), "{cd}");
        }
    }
}

#[tokio::test]
async fn the_ticket_page_uploads_with_the_form_token() {
    for t in TestApp::all().await {
        let org = t.org("甲单位").await;
        t.user("kehu", "customer", Some(org)).await;
        let r = t.login("kehu", "correct horse battery").await;
        let cookie = session_cookie(&r);
        let csrf = r.body["csrf_token"].as_str().unwrap().to_string();
        let r = t
            .req(
                Method::POST,
                "/api/v1/tickets",
                None,
                Some(
                    json!({"kind": "request", "subject": "申请账号", "description": "新员工入职"}),
                ),
                &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let n = r.body["number"].as_str().unwrap().to_string();
        let page = t
            .req(
                Method::GET,
                &format!("/tickets/{n}"),
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("id=\"att-form\"") && page.text.contains("multipart/form-data"));

        // A wrong or missing token stores nothing.
        let before = t.audit_count().await;
        let path = format!("/tickets/{n}/attachments");
        for fields in [vec![("_csrf", "wrong")], vec![]] {
            let r = t
                .send(upload_req(
                    &path,
                    &[("cookie", &cookie)],
                    multipart(&fields, Some(("a.png", Some("image/png"), PNG))),
                ))
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", t.name);
        }
        assert_eq!(t.audit_count().await, before);

        // A refused type shows the page again with the error and its status.
        let r = t
            .send(upload_req(
                &path,
                &[("cookie", &cookie)],
                multipart(
                    &[("_csrf", &csrf)],
                    Some(("a.png", Some("image/png"), b"GIF89a")),
                ),
            ))
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(r.text.contains("id=\"form-error\""));
        assert_eq!(t.audit_count().await, before);

        let r = t
            .send(upload_req(
                &path,
                &[("cookie", &cookie)],
                multipart(
                    &[("_csrf", &csrf)],
                    Some(("屏幕截图.png", Some("image/png"), PNG)),
                ),
            ))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let page = t
            .req(
                Method::GET,
                &format!("/tickets/{n}"),
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
        assert!(page.text.contains("屏幕截图.png") && page.text.contains("/api/v1/attachments/"));
        assert_eq!(t.audit_count().await, before + 1);
    }
}

#[tokio::test]
async fn attachments_survive_copying_between_stores() {
    use yunwei_testkit::TestDb;
    let src = TestApp::new(TestDb::sqlite().await).await;
    let org = src.org("甲单位").await;
    let (_, customer) = src.user("kehu", "customer", Some(org)).await;
    let n = submit(&src, &customer).await;
    let r = upload(
        &src,
        &customer,
        &n,
        &[],
        ("截图.png", Some("image/png"), PNG),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let r = src
        .post(
            &format!("/api/v1/tickets/{n}/watchers"),
            &customer,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let Some(pg) = TestDb::postgres().await else {
        assert!(
            std::env::var("CI").is_err(),
            "PostgreSQL is required under CI"
        );
        return;
    };
    let counts = yunwei_store::copy::copy_all(&src.app.db, &pg.db)
        .await
        .unwrap();
    for table in [
        "ticket_attachments",
        "ticket_watchers",
        "ticket_sub_statuses",
    ] {
        let n = counts.iter().find(|(t, _)| *t == table).map(|c| c.1);
        assert_eq!(
            n,
            Some(if table == "ticket_sub_statuses" { 3 } else { 1 }),
            "{table}"
        );
    }
    let back = TestDb::sqlite().await;
    yunwei_store::copy::copy_all(&pg.db, &back.db)
        .await
        .unwrap();
    for db in [&pg.db, &back.db] {
        let bytes = yunwei_store::attachments::content(db, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bytes, PNG);
        let a = yunwei_store::attachments::get(db, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.file_name.as_str(), a.sha256),
            ("截图.png", hex::encode(Sha256::digest(PNG)))
        );
    }
}
