//! `/api/openapi.json` (the generated document) and `/api/docs` (a readable page rendered
//! from the same document on the server — works offline, no CDN, no JavaScript).

use std::sync::Arc;

use askama::Template;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use super::SharedDoc;
use crate::extract::Ctx;
use crate::ui::{anonymous_layout, render, Layout};
use crate::AppState;

pub struct Op {
    method: String,
    path: String,
    summary: String,
    description: String,
    params: Vec<String>,
    body: String,
    responses: Vec<String>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsTpl {
    l: Layout,
    title: String,
    description: String,
    groups: Vec<(String, Vec<Op>)>,
}

fn schema_name(r: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) -> String {
    match r {
        utoipa::openapi::RefOr::Ref(r) => {
            r.ref_location.rsplit('/').next().unwrap_or("").to_string()
        }
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Array(a)) => match &a.items {
            utoipa::openapi::schema::ArrayItems::RefOrSchema(inner) => {
                format!("[{}]", schema_name(inner))
            }
            _ => "[]".into(),
        },
        utoipa::openapi::RefOr::T(_) => "object".into(),
    }
}

fn ops(doc: &utoipa::openapi::OpenApi) -> Vec<(String, Vec<Op>)> {
    let mut groups: Vec<(String, Vec<Op>)> = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ];
        for (m, op) in methods {
            let Some(op) = op else { continue };
            let tag = op
                .tags
                .as_ref()
                .and_then(|t| t.first().cloned())
                .unwrap_or_default();
            let params = op
                .parameters
                .as_ref()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let req = if matches!(p.required, utoipa::openapi::Required::True) {
                                " *"
                            } else {
                                ""
                            };
                            let place = match p.parameter_in {
                                utoipa::openapi::path::ParameterIn::Path => "path",
                                utoipa::openapi::path::ParameterIn::Query => "query",
                                utoipa::openapi::path::ParameterIn::Header => "header",
                                utoipa::openapi::path::ParameterIn::Cookie => "cookie",
                            };
                            format!("{}{req} ({place})", p.name)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let body = op
                .request_body
                .as_ref()
                .and_then(|b| b.content.get("application/json"))
                .and_then(|c| c.schema.as_ref())
                .map(schema_name)
                .unwrap_or_default();
            let responses = op
                .responses
                .responses
                .iter()
                .map(|(code, r)| match r {
                    utoipa::openapi::RefOr::T(resp) => {
                        let s = resp
                            .content
                            .get("application/json")
                            .and_then(|c| c.schema.as_ref())
                            .map(schema_name)
                            .unwrap_or_default();
                        if s.is_empty() {
                            code.clone()
                        } else {
                            format!("{code} → {s}")
                        }
                    }
                    _ => code.clone(),
                })
                .collect();
            let entry = Op {
                method: m.into(),
                path: path.clone(),
                summary: op.summary.clone().unwrap_or_default(),
                description: op.description.clone().unwrap_or_default(),
                params,
                body,
                responses,
            };
            match groups.iter_mut().find(|g| g.0 == tag) {
                Some(g) => g.1.push(entry),
                None => groups.push((tag, vec![entry])),
            }
        }
    }
    groups
}

async fn openapi_json(Extension(doc): Extension<SharedDoc>) -> Response {
    match doc.to_pretty_json() {
        Ok(j) => ([(CONTENT_TYPE, "application/json")], j).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn api_docs(Extension(doc): Extension<SharedDoc>, ctx: Ctx) -> Response {
    let t = DocsTpl {
        l: anonymous_layout(ctx.lang, "/api/docs", String::new()),
        title: doc.info.title.clone(),
        description: doc.info.description.clone().unwrap_or_default(),
        groups: ops(&doc),
    };
    render(StatusCode::OK, &t)
}

/// Routes serving the document; they need no sign-in (the document holds no data).
pub fn docs_router(doc: Arc<utoipa::openapi::OpenApi>) -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(api_docs))
        .layer(Extension(doc))
}
