//! Errors as the user sees them.
//!
//! API: `{"code": "not_found", "message": "记录不存在", "request_id": "…", "field": null}`
//! with the HTTP status of the code and the message in the language of `Accept-Language`
//! (zh-CN unless English ranks first). Internal errors are logged with the request id and
//! answered as `internal_error` without details.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use yunwei_domain::{DomainError, ErrorCode, Lang};
use yunwei_service::Error;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `not_found`, `validation_failed`.
    pub code: String,
    /// For people, in zh-CN or en.
    pub message: String,
    /// Quote it when reporting a problem.
    pub request_id: String,
    /// The input field concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error on its way to becoming a response; the request id and language are filled in by
/// the extractors that created it.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub field: Option<String>,
    pub lang: Lang,
    pub request_id: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, lang: Lang, request_id: &str) -> Self {
        Self {
            code,
            field: None,
            lang,
            request_id: request_id.into(),
        }
    }

    pub fn from_service(e: Error, lang: Lang, request_id: &str) -> Self {
        if e.code() == ErrorCode::InternalError {
            tracing::error!(request_id, "internal error: {e}");
        }
        Self {
            code: e.code(),
            field: e.field().map(str::to_string),
            lang,
            request_id: request_id.into(),
        }
    }

    pub fn from_domain(e: DomainError, lang: Lang, request_id: &str) -> Self {
        Self {
            code: e.code,
            field: e.field,
            lang,
            request_id: request_id.into(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.as_str().into(),
            message: self.code.message(self.lang).into(),
            request_id: self.request_id.clone(),
            field: self.field.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(self.body())).into_response();
        if self.code == ErrorCode::Unauthenticated || self.code == ErrorCode::TokenInvalid {
            res.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

pub(crate) fn lang_and_id(req: &Request) -> (Lang, String) {
    let lang = crate::extract::lang_of(req.headers());
    let id = req
        .extensions()
        .get::<crate::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    (lang, id)
}

/// No route: JSON 404 under /api, an HTML page elsewhere.
pub async fn fallback(req: Request) -> Response {
    let (lang, id) = lang_and_id(&req);
    if req.uri().path().starts_with("/api/") {
        ApiError::new(ErrorCode::NotFound, lang, &id).into_response()
    } else {
        crate::ui::error_page(ErrorCode::NotFound, lang, &id)
    }
}

pub async fn method_not_allowed(req: Request) -> Response {
    let (lang, id) = lang_and_id(&req);
    ApiError::new(ErrorCode::MethodNotAllowed, lang, &id).into_response()
}
