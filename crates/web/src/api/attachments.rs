//! Ticket attachments: multipart upload, list, download with safe headers.

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use yunwei_domain::ErrorCode;
use yunwei_service::attachments::Upload;
use yunwei_store::attachments::Attachment;

use super::tickets::Number;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, PathId};
use crate::AppState;

/// The multipart form of an upload (documentation only; read by [`read_upload`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file: PNG, JPEG, GIF, WebP, PDF, TXT/CSV/LOG (UTF-8), DOCX/XLSX/PPTX, ZIP, 7z or EML;
    /// at most 20 MiB unless configured otherwise. Extension, declared type and content must
    /// agree.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `true`: an attachment to an internal note, hidden from customers (staff only).
    internal: Option<bool>,
}

/// A multipart upload as read: the file and the small fields next to it.
#[derive(Default)]
pub(crate) struct UploadParts {
    pub csrf: Option<String>,
    pub internal: bool,
    pub file: Option<Upload>,
}

/// Small text fields: at most this many bytes.
const MAX_FIELD: usize = 1024;

/// Read an upload, stopping as soon as the file exceeds `max` bytes (the body is not limited
/// otherwise on these routes). Unknown or repeated fields are refused.
pub(crate) async fn read_upload(mut mp: Multipart, max: usize) -> Result<UploadParts, ErrorCode> {
    let mut out = UploadParts::default();
    let mut file: Option<(String, Option<String>, Vec<u8>)> = None;
    let (mut seen_csrf, mut seen_internal) = (false, false);
    while let Some(mut field) = mp.next_field().await.map_err(multipart_code)? {
        let name = field.name().unwrap_or("").to_string();
        let limit = if name == "file" { max } else { MAX_FIELD };
        let repeated = match name.as_str() {
            "file" => file.is_some(),
            "_csrf" => std::mem::replace(&mut seen_csrf, true),
            "internal" => std::mem::replace(&mut seen_internal, true),
            _ => return Err(ErrorCode::ValidationFailed),
        };
        if repeated {
            return Err(ErrorCode::ValidationFailed);
        }
        let file_name = field.file_name().map(str::to_string);
        let declared = field.content_type().map(str::to_string);
        let mut data = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_code)? {
            if data.len() + chunk.len() > limit {
                return Err(if name == "file" {
                    ErrorCode::AttachmentTooLarge
                } else {
                    ErrorCode::ValidationFailed
                });
            }
            data.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "file" => file = Some((file_name.unwrap_or_default(), declared, data)),
            "_csrf" => out.csrf = Some(String::from_utf8_lossy(&data).into_owned()),
            _ => {
                out.internal = matches!(String::from_utf8_lossy(&data).trim(), "true" | "on" | "1")
            }
        }
    }
    out.file = file.map(|(file_name, declared_type, content)| Upload {
        file_name,
        declared_type,
        content,
        internal: out.internal,
    });
    Ok(out)
}

fn multipart_code(e: axum::extract::multipart::MultipartError) -> ErrorCode {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::AttachmentTooLarge
    } else {
        ErrorCode::BadRequest
    }
}

/// `Content-Disposition: attachment` with an ASCII fallback name and the exact name in
/// RFC 5987 `filename*` form.
pub(crate) fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Attach a file to a ticket (multipart form: `file`, optional `internal`). Extension,
/// declared type and content must agree (else 415); too large is 413; nothing is stored then.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/attachments", tag = "tickets", params(("number" = String, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Attachment), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload_attachment(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let mp = mp.map_err(|_| auth.ctx.code(ErrorCode::UnsupportedMediaType))?;
    let parts = read_upload(mp, st.app.settings.attachment_max_bytes)
        .await
        .map_err(|c| field(auth.ctx.code(c)))?;
    let up = parts
        .file
        .ok_or_else(|| field(auth.ctx.code(ErrorCode::ValidationFailed)))?;
    st.app
        .upload_attachment(auth.actor(), &n, up)
        .await
        .map(|a| (StatusCode::CREATED, Json(a)))
        .map_err(|e| auth.ctx.err(e))
}

fn field(mut e: ApiError) -> ApiError {
    e.field = Some("file".into());
    e
}

/// A ticket's attachments (customers: without internal ones), oldest first.
#[utoipa::path(get, path = "/api/v1/tickets/{number}/attachments", tag = "tickets", params(("number" = String, Path)),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = ErrorBody)))]
pub async fn list_attachments(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
) -> Result<Json<Vec<Attachment>>, ApiError> {
    st.app
        .list_attachments(auth.actor(), &n)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Download an attachment: always as a download (`Content-Disposition: attachment`), with the
/// type sniffed at upload, `nosniff` and a sandboxing CSP. Who may not see the ticket (or, for
/// an internal attachment, internal notes) gets 404.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "tickets", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The file, as the type its content was checked to be (image/png, application/pdf, text/plain, …)", content_type = "*/*"), (status = 404, body = ErrorBody)))]
pub async fn download_attachment(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let (a, bytes) = st
        .app
        .download_attachment(auth.actor(), id)
        .await
        .map_err(|e| auth.ctx.err(e))?;
    let mut res = (StatusCode::OK, bytes).into_response();
    let h = res.headers_mut();
    let ct = if a.content_type.to_ascii_lowercase().contains("html") {
        "application/octet-stream".to_string()
    } else {
        a.content_type
    };
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&ct).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&content_disposition(&a.file_name))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn disposition_has_an_ascii_fallback_and_the_exact_name() {
        assert_eq!(
            content_disposition("报告 v2.pdf"),
            "attachment; filename=\"__ v2.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%20v2.pdf"
        );
        assert_eq!(
            content_disposition("a\"b;c.txt"),
            "attachment; filename=\"a_b;c.txt\"; filename*=UTF-8''a%22b%3Bc.txt"
        );
    }
}
