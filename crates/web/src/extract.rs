//! Extractors: who is calling, in which language, from where; JSON bodies whose rejections
//! use our error format.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{ACCEPT_LANGUAGE, AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use serde::de::DeserializeOwned;
use yunwei_domain::{ErrorCode, Lang};
use yunwei_service::auth::Authenticated;
use yunwei_service::Actor;

use crate::error::ApiError;
use crate::{AppState, RequestId};

pub const SESSION_COOKIE: &str = "yw_session";
pub const LANG_COOKIE: &str = "yw_lang";

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The language: the `yw_lang` cookie, else `Accept-Language`, else zh-CN.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    if let Some(l) = cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
        return l;
    }
    headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

/// Request context every handler needs: language, request id, client address.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub request_id: String,
    pub ip: Option<String>,
}

impl Ctx {
    pub fn err(&self, e: yunwei_service::Error) -> ApiError {
        ApiError::from_service(e, self.lang, &self.request_id)
    }
    pub fn code(&self, c: ErrorCode) -> ApiError {
        ApiError::new(c, self.lang, &self.request_id)
    }
}

fn client_ip(parts: &Parts, trust_forwarded: bool) -> Option<String> {
    if trust_forwarded {
        if let Some(f) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            if let Some(first) = f
                .split(',')
                .next()
                .map(str::trim)
                .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
            {
                return Some(first.to_string());
            }
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            lang: lang_of(&parts.headers),
            request_id: parts
                .extensions
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            ip: client_ip(parts, st.config.trust_forwarded_for),
        })
    }
}

/// A signed-in caller. By bearer token (`Authorization: Bearer yw_…`) or session cookie; with
/// a cookie, state-changing API calls must carry the session's CSRF token in `X-CSRF-Token`.
pub struct Auth {
    pub ctx: Ctx,
    pub who: Authenticated,
}

impl Auth {
    pub fn actor(&self) -> &Actor {
        &self.who.actor
    }
}

/// Resolve the caller, if any (None: not signed in). Errors only for a bad token.
pub async fn resolve(
    parts: &Parts,
    st: &AppState,
    ctx: &Ctx,
) -> Result<Option<Authenticated>, ApiError> {
    if let Some(h) = parts.headers.get(AUTHORIZATION) {
        let raw = h
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Err(ctx.code(ErrorCode::TokenInvalid));
        };
        return match st
            .app
            .token(raw, ctx.ip.clone())
            .await
            .map_err(|e| ctx.err(e))?
        {
            Some(a) => Ok(Some(a)),
            None => Err(ctx.code(ErrorCode::TokenInvalid)),
        };
    }
    if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) {
        return st
            .app
            .session(secret, ctx.ip.clone())
            .await
            .map_err(|e| ctx.err(e));
    }
    Ok(None)
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    yunwei_service::auth::constant_time_eq(a.as_bytes(), b.as_bytes())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        let Some(who) = resolve(parts, st, &ctx).await? else {
            return Err(ctx.code(ErrorCode::Unauthenticated));
        };
        if let Some(expected) = &who.csrf_token {
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            // UI forms carry the token in a form field, checked by the form handlers.
            if !safe && parts.uri.path().starts_with("/api/") {
                let sent = parts
                    .headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !constant_time_eq(sent, expected) {
                    return Err(ctx.code(ErrorCode::CsrfFailed));
                }
            }
        }
        Ok(Auth { ctx, who })
    }
}

/// A JSON body; a malformed one is answered `invalid_json` (400), a wrong content type
/// `unsupported_media_type` (415), too large `payload_too_large` (413).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, st).await?;
        let req = Request::from_parts(parts, body);
        match axum::Json::<T>::from_request(req, st).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rej) => {
                use axum::extract::rejection::JsonRejection::*;
                let code = match &rej {
                    MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType,
                    BytesRejection(b)
                        if b.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                    {
                        ErrorCode::PayloadTooLarge
                    }
                    JsonDataError(_) => ErrorCode::ValidationFailed,
                    _ => ErrorCode::InvalidJson,
                };
                let mut e = ctx.code(code);
                if let JsonDataError(d) = &rej {
                    // serde names the field in its message: "… field `name` …"
                    let text = d.body_text();
                    e.field = text.split('`').nth(1).map(|s| s.chars().take(64).collect());
                }
                Err(e)
            }
        }
    }
}

/// Query strings whose rejections use our error format.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded_from_str(q)
            .map(Query)
            .map_err(|_| ctx.code(ErrorCode::ValidationFailed))
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(q: &str) -> Result<T, ()> {
    axum::extract::Query::<T>::try_from_uri(&format!("/?{q}").parse().map_err(|_| ())?)
        .map(|x| x.0)
        .map_err(|_| ())
}

/// A path id: one that does not parse answers like a missing record (404).
pub struct PathId(pub uuid::Uuid);

impl FromRequestParts<AppState> for PathId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        match axum::extract::Path::<uuid::Uuid>::from_request_parts(parts, st).await {
            Ok(p) => Ok(PathId(p.0)),
            Err(_) => Err(ctx.code(ErrorCode::NotFound)),
        }
    }
}

/// Two path ids (e.g. team and member).
pub struct PathIds(pub uuid::Uuid, pub uuid::Uuid);

impl FromRequestParts<AppState> for PathIds {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        match axum::extract::Path::<(uuid::Uuid, uuid::Uuid)>::from_request_parts(parts, st).await {
            Ok(p) => Ok(PathIds(p.0 .0, p.0 .1)),
            Err(_) => Err(ctx.code(ErrorCode::NotFound)),
        }
    }
}
