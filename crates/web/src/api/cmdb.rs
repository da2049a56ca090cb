//! The CMDB API: classes, configuration items with versions and as-of reads,
//! relations, impact and dependencies, availability, patches, import and export (CSV, XLSX),
//! and the CIs a ticket affects with the impact they suggest.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yunwei_domain::{ErrorCode, Lang};
use yunwei_service::cmdb::{
    AvailabilityQuery, AvailabilityReport, CiBrief, CiInput, CiQuery, CiView, ClassDetail, Impact,
    ImpactQuery, ImpactSuggestionView, NewAttribute, NewClass, NewPatch, NewRelation, RelationView,
    TicketCiLink,
};
use yunwei_service::cmdb_import::{
    self as imp, ImportError, ImportReport, RowError, TableIn, TableOut,
};
use yunwei_store::cmdb::{CiVersion, LinkedTicket, Patch, Relation};

use super::tickets::Number;
use super::Page;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, Ctx, JsonBody, PathId, Query};
use crate::AppState;

/// Largest import file accepted.
pub const IMPORT_MAX_BYTES: usize = 256 * 1024 * 1024;

/// Configuration item classes with their attribute schemas.
#[utoipa::path(get, path = "/api/v1/ci-classes", tag = "cmdb",
    responses((status = 200, body = Vec<ClassDetail>), (status = 403, body = ErrorBody)))]
pub async fn list_classes(
    State(st): State<AppState>,
    auth: Auth,
) -> Result<Json<Vec<ClassDetail>>, ApiError> {
    st.app
        .list_ci_classes(auth.actor())
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Add a class (administrators).
#[utoipa::path(post, path = "/api/v1/ci-classes", tag = "cmdb", request_body = NewClass,
    responses((status = 201, body = ClassDetail), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_class(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewClass>,
) -> Result<(StatusCode, Json<ClassDetail>), ApiError> {
    st.app
        .create_ci_class(auth.actor(), b)
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
        .map_err(|e| auth.ctx.err(e))
}

/// Add an attribute to a class's schema (administrators; never required).
#[utoipa::path(post, path = "/api/v1/ci-classes/{id}/attributes", tag = "cmdb", params(("id" = uuid::Uuid, Path)), request_body = NewAttribute,
    responses((status = 201, body = ClassDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_attribute(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<NewAttribute>,
) -> Result<(StatusCode, Json<ClassDetail>), ApiError> {
    st.app
        .add_ci_attribute(auth.actor(), id, b)
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
        .map_err(|e| auth.ctx.err(e))
}

/// Configuration items (customers: their organization's), by id; with `q`, found by the
/// node's full-text index (Chinese words, IP addresses, class names …) and ranked by relevance.
#[utoipa::path(get, path = "/api/v1/cis", tag = "cmdb", params(CiQuery),
    responses((status = 200, body = Page<CiView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_cis(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<CiQuery>,
) -> Result<Json<Page<CiView>>, ApiError> {
    st.app
        .list_cis(auth.actor(), q)
        .await
        .map(|p| Json(p.into()))
        .map_err(|e| auth.ctx.err(e))
}

/// Create a configuration item (administrators, engineers); version 1 is recorded.
#[utoipa::path(post, path = "/api/v1/cis", tag = "cmdb", request_body = CiInput,
    responses((status = 201, body = CiView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_ci(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<CiInput>,
) -> Result<(StatusCode, Json<CiView>), ApiError> {
    st.app
        .create_ci(auth.actor(), b)
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AsOf {
    /// RFC 3339: the item as it was then.
    pub as_of: Option<DateTime<Utc>>,
}

/// One item, now or as it was at `as_of`.
#[utoipa::path(get, path = "/api/v1/cis/{id}", tag = "cmdb", params(("id" = uuid::Uuid, Path), AsOf),
    responses((status = 200, body = CiView), (status = 404, body = ErrorBody)))]
pub async fn get_ci(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Query(q): Query<AsOf>,
) -> Result<Json<CiView>, ApiError> {
    st.app
        .get_ci(auth.actor(), id, q.as_of)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExpectedVersion {
    /// The version the change was made from: refused (409 `conflict`, field `version`) when
    /// the item is no longer at it (checked in the same transaction as the write).
    pub version: Option<i64>,
}

/// Replace an item's fields; a new version is recorded when anything changed.
#[utoipa::path(put, path = "/api/v1/cis/{id}", tag = "cmdb", params(("id" = uuid::Uuid, Path), ExpectedVersion), request_body = CiInput,
    responses((status = 200, body = CiView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_ci(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Query(q): Query<ExpectedVersion>,
    JsonBody(b): JsonBody<CiInput>,
) -> Result<Json<CiView>, ApiError> {
    st.app
        .update_ci(auth.actor(), id, b, q.version)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Every version of an item, newest first.
#[utoipa::path(get, path = "/api/v1/cis/{id}/versions", tag = "cmdb", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<CiVersion>), (status = 404, body = ErrorBody)))]
pub async fn ci_versions(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Vec<CiVersion>>, ApiError> {
    st.app
        .ci_versions(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RelationsQuery {
    /// One page of at most this many (1–500); with `limit` or `offset` the relations are
    /// ordered by direction (`out` first), kind, the other item's name and the relation id.
    pub limit: Option<i64>,
    /// Relations skipped before the page.
    pub offset: Option<i64>,
}

/// The item's relations, both directions (customers: only those to their organization's
/// items); with `limit` or `offset`, one page of them, and the `x-total-count` header tells
/// how many there are in all.
#[utoipa::path(get, path = "/api/v1/cis/{id}/relations", tag = "cmdb", params(("id" = uuid::Uuid, Path), RelationsQuery),
    responses((status = 200, body = Vec<RelationView>, headers(("x-total-count" = i64, description = "Relations in all (paged requests)"))), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ci_relations(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Query(q): Query<RelationsQuery>,
) -> Result<Response, ApiError> {
    if q.limit.is_none() && q.offset.is_none() {
        return st
            .app
            .ci_relations(auth.actor(), id)
            .await
            .map(|v| Json(v).into_response())
            .map_err(|e| auth.ctx.err(e));
    }
    let p = st
        .app
        .ci_relations_page(auth.actor(), id, q.limit, q.offset)
        .await
        .map_err(|e| auth.ctx.err(e))?;
    Ok(([("x-total-count", p.total.to_string())], Json(p.items)).into_response())
}

/// Impact analysis: every item, business service, organization and department that depends
/// on this item, transitively (cycle-safe; `backed_up_by` does not propagate). The items are
/// paged (by depth, then name); `total` counts them all, and the business services,
/// organizations and departments are those of all of them.
#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", tag = "cmdb", params(("id" = uuid::Uuid, Path), ImpactQuery),
    responses((status = 200, body = Impact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ci_impact(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Query(q): Query<ImpactQuery>,
) -> Result<Json<Impact>, ApiError> {
    st.app
        .ci_impact(auth.actor(), id, q)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Everything this item depends on, transitively; paged like the impact analysis.
#[utoipa::path(get, path = "/api/v1/cis/{id}/dependencies", tag = "cmdb", params(("id" = uuid::Uuid, Path), ImpactQuery),
    responses((status = 200, body = Impact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ci_dependencies(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Query(q): Query<ImpactQuery>,
) -> Result<Json<Impact>, ApiError> {
    st.app
        .ci_dependencies(auth.actor(), id, q)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Availability over a period from the outages of incidents linked to the item or
/// what it depends on, over its service hours.
#[utoipa::path(get, path = "/api/v1/cis/{id}/availability", tag = "cmdb", params(("id" = uuid::Uuid, Path), AvailabilityQuery),
    responses((status = 200, body = AvailabilityReport), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ci_availability(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Query(q): Query<AvailabilityQuery>,
) -> Result<Json<AvailabilityReport>, ApiError> {
    st.app
        .ci_availability(auth.actor(), id, q)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Tickets linked to the item, newest first.
#[utoipa::path(get, path = "/api/v1/cis/{id}/tickets", tag = "cmdb", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<LinkedTicket>), (status = 404, body = ErrorBody)))]
pub async fn ci_tickets(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Vec<LinkedTicket>>, ApiError> {
    st.app
        .ci_tickets(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Patch records of the item (R-6.2.8.1), newest first.
#[utoipa::path(get, path = "/api/v1/cis/{id}/patches", tag = "cmdb", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<Patch>), (status = 404, body = ErrorBody)))]
pub async fn list_patches(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Vec<Patch>>, ApiError> {
    st.app
        .ci_patches(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Record a patch applied to the item.
#[utoipa::path(post, path = "/api/v1/cis/{id}/patches", tag = "cmdb", params(("id" = uuid::Uuid, Path)), request_body = NewPatch,
    responses((status = 201, body = Patch), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_patch(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<NewPatch>,
) -> Result<(StatusCode, Json<Patch>), ApiError> {
    st.app
        .add_ci_patch(auth.actor(), id, b)
        .await
        .map(|p| (StatusCode::CREATED, Json(p)))
        .map_err(|e| auth.ctx.err(e))
}

/// Relate two items; the kind must fit their classes.
#[utoipa::path(post, path = "/api/v1/ci-relations", tag = "cmdb", request_body = NewRelation,
    responses((status = 201, body = Relation), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_relation(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewRelation>,
) -> Result<(StatusCode, Json<Relation>), ApiError> {
    st.app
        .create_ci_relation(auth.actor(), b)
        .await
        .map(|r| (StatusCode::CREATED, Json(r)))
        .map_err(|e| auth.ctx.err(e))
}

/// Remove a relation.
#[utoipa::path(delete, path = "/api/v1/ci-relations/{id}", tag = "cmdb", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_relation(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    st.app
        .delete_ci_relation(auth.actor(), id)
        .await
        .map(|_| StatusCode::NO_CONTENT)
        .map_err(|e| auth.ctx.err(e))
}

fn download(content_type: &'static str, name: &str, body: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, content_type.to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// The tables as an Excel workbook, one sheet each, every cell as text.
pub fn to_xlsx(tables: &[TableOut]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    for t in tables {
        let ws = wb.add_worksheet();
        ws.set_name(t.name)?;
        for (c, h) in t.headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)?;
            ws.set_column_width(c as u16, 16)?;
        }
        for (r, row) in t.rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !v.is_empty() {
                    ws.write_string(r as u32 + 1, c as u16, imp::export_cell(v, false))?;
                }
            }
        }
    }
    wb.save_to_buffer()
}

/// Columns beyond this make a workbook unreadable for the import (it has 19).
const XLSX_MAX_COLUMNS: u32 = 256;
/// Non-empty cells over all sheets beyond this make it unreadable (100,000 items and 500,000
/// relations are about 4.4 million).
const XLSX_MAX_CELLS: usize = 8_000_000;

/// The tables of an XLSX workbook, one per sheet (row numbers are the sheet's, 1-based);
/// `None` when it is not a readable workbook. Cells are read one at a time (a workbook that
/// claims a cell at XFD1048576 does not make a dense range of 17 billion cells), the column and
/// cell counts are capped, and a panic inside the XLSX library on a corrupted file (found by
/// tests/fuzz_cmdb_import.rs: calamine 0.38 overflows on an over-long cell reference) is an
/// unreadable file, not a failed request.
pub fn from_xlsx(bytes: &[u8]) -> Option<Vec<TableIn>> {
    std::panic::catch_unwind(|| read_xlsx(bytes)).ok().flatten()
}

fn read_xlsx(bytes: &[u8]) -> Option<Vec<TableIn>> {
    use calamine::{Data, Reader, Xlsx};
    use std::collections::BTreeMap;
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).ok()?;
    let mut out = Vec::new();
    let mut cells_total = 0usize;
    for name in wb.sheet_names().to_vec() {
        let mut reader = wb.worksheet_cells_reader(&name).ok()?;
        let mut rows: BTreeMap<u32, Vec<(u32, String)>> = BTreeMap::new();
        let mut width = 0u32;
        while let Some(cell) = reader.next_cell().ok()? {
            let (row, col) = cell.get_position();
            let text = match Data::from(cell.get_value().clone()) {
                Data::Empty => continue,
                Data::String(s) => s,
                Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                other => other.to_string(),
            };
            if col >= XLSX_MAX_COLUMNS || row == u32::MAX {
                return None;
            }
            cells_total += 1;
            if cells_total > XLSX_MAX_CELLS {
                return None;
            }
            width = width.max(col + 1);
            rows.entry(row).or_default().push((col, text));
        }
        let mut t = TableIn::default();
        for (row, cells) in rows {
            if cells.iter().all(|(_, c)| c.trim().is_empty()) {
                continue;
            }
            let mut line = vec![String::new(); width as usize];
            for (col, text) in cells {
                line[col as usize] = text;
            }
            t.rows.push((row as usize + 1, line));
        }
        if !t.rows.is_empty() {
            out.push(t);
        }
    }
    Some(out)
}

/// Every item and relation the caller may read, as CSV (UTF-8 with BOM, Chinese headers): the
/// item table, an empty line, the relation table. Imports read the same format.
#[utoipa::path(get, path = "/api/v1/cmdb/export.csv", tag = "cmdb",
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody)))]
pub async fn export_csv(State(st): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    let t = st
        .app
        .export_cis(auth.actor())
        .await
        .map_err(|e| auth.ctx.err(e))?;
    Ok(download(
        "text/csv; charset=utf-8",
        "cmdb.csv",
        imp::to_csv(&t).into_bytes(),
    ))
}

/// The same as an Excel workbook (sheets 配置项 and 关系).
#[utoipa::path(get, path = "/api/v1/cmdb/export.xlsx", tag = "cmdb",
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>), (status = 403, body = ErrorBody)))]
pub async fn export_xlsx(State(st): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    let t = st
        .app
        .export_cis(auth.actor())
        .await
        .map_err(|e| auth.ctx.err(e))?;
    let bytes = to_xlsx(&t).map_err(|e| {
        auth.ctx
            .err(yunwei_service::Error::Internal(format!("xlsx: {e}")))
    })?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "cmdb.xlsx",
        bytes,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportParams {
    /// csv (default) or xlsx.
    pub format: Option<String>,
    /// Apply the valid rows even when some are wrong (default: change nothing then).
    pub apply_valid: Option<bool>,
}

/// One rejected row of an import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportRowError {
    /// `cis` or `relations`.
    pub table: String,
    /// 1-based line (CSV) or row (XLSX).
    pub line: usize,
    pub code: String,
    /// The column or field concerned.
    pub field: Option<String>,
    /// What is wrong, in the request's language.
    pub message: String,
}

/// The outcome of an import: counts, and the rows left out when valid rows were applied.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    #[serde(flatten)]
    pub report: ImportReport,
    pub errors: Vec<ImportRowError>,
}

/// `import_failed`: nothing was changed; every rejected row is listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportFailedBody {
    pub code: String,
    pub message: String,
    pub request_id: String,
    pub errors: Vec<ImportRowError>,
}

pub fn row_errors(lang: Lang, errors: &[RowError]) -> Vec<ImportRowError> {
    errors
        .iter()
        .map(|e| ImportRowError {
            table: e.table.into(),
            line: e.line,
            code: e.code.as_str().into(),
            field: e.field.clone(),
            message: match &e.field {
                Some(f) => format!("{}: {}", f, e.code.message(lang)),
                None => e.code.message(lang).to_string(),
            },
        })
        .collect()
}

/// Parse an import file into tables.
pub fn read_tables(format: &str, bytes: &[u8]) -> Result<Vec<TableIn>, Vec<RowError>> {
    let bad = |line| {
        vec![RowError {
            table: "cis",
            line,
            code: ErrorCode::ImportFailed,
            field: None,
        }]
    };
    match format {
        "xlsx" => from_xlsx(bytes).ok_or_else(|| bad(1)),
        _ => {
            let text = std::str::from_utf8(bytes).map_err(|_| bad(1))?;
            imp::parse_csv_tables(text).map_err(bad)
        }
    }
}

pub fn failed(ctx: &Ctx, rows: &[RowError]) -> Response {
    let code = ErrorCode::ImportFailed;
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ImportFailedBody {
            code: code.as_str().into(),
            message: code.message(ctx.lang).into(),
            request_id: ctx.request_id.clone(),
            errors: row_errors(ctx.lang, rows),
        }),
    )
        .into_response()
}

/// Import items and relations from CSV or XLSX (the export's format; up to 256 MiB). Rows
/// match existing items by organization and external key, so the same file twice changes
/// nothing. With bad rows nothing changes and `import_failed` (422) lists each with its line,
/// unless `apply_valid=true`.
#[utoipa::path(post, path = "/api/v1/cmdb/import", tag = "cmdb", params(ImportParams),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = ImportResult), (status = 403, body = ErrorBody),
        (status = 422, description = "import_failed with the rejected rows", body = ImportFailedBody)))]
pub async fn import(
    State(st): State<AppState>,
    auth: Auth,
    Query(p): Query<ImportParams>,
    body: Body,
) -> Result<Response, ApiError> {
    let format = p.format.as_deref().unwrap_or("csv");
    if !matches!(format, "csv" | "xlsx") {
        return Err(ApiError {
            field: Some("format".into()),
            ..auth.ctx.code(ErrorCode::ValidationFailed)
        });
    }
    let bytes = axum::body::to_bytes(body, IMPORT_MAX_BYTES)
        .await
        .map_err(|_| auth.ctx.code(ErrorCode::PayloadTooLarge))?;
    let tables = match read_tables(format, &bytes) {
        Ok(t) => t,
        Err(rows) => return Ok(failed(&auth.ctx, &rows)),
    };
    let apply = p.apply_valid.unwrap_or(false);
    match st.app.import_cis(auth.actor(), tables, apply).await {
        Ok(report) => Ok(Json(ImportResult {
            report,
            errors: vec![],
        })
        .into_response()),
        Err(ImportError::Rows(rows)) => Ok(failed(&auth.ctx, &rows)),
        Err(ImportError::Other(e)) => Err(auth.ctx.err(e)),
    }
}

/// The CIs a ticket affects.
#[utoipa::path(get, path = "/api/v1/tickets/{number}/cis", tag = "cmdb", params(("number" = String, Path)),
    responses((status = 200, body = Vec<CiBrief>), (status = 404, body = ErrorBody)))]
pub async fn ticket_cis(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
) -> Result<Json<Vec<CiBrief>>, ApiError> {
    st.app
        .ticket_cis(auth.actor(), &n)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Link a CI to the ticket, by `ci_id` or by `key` (external key or exact name).
#[utoipa::path(post, path = "/api/v1/tickets/{number}/cis", tag = "cmdb", params(("number" = String, Path)), request_body = TicketCiLink,
    responses((status = 200, body = Vec<CiBrief>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn link_ticket_ci(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
    JsonBody(b): JsonBody<TicketCiLink>,
) -> Result<Json<Vec<CiBrief>>, ApiError> {
    st.app
        .link_ticket_ci(auth.actor(), &n, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Unlink a CI (`ci_id`) from the ticket.
#[utoipa::path(delete, path = "/api/v1/tickets/{number}/cis", tag = "cmdb", params(("number" = String, Path)), request_body = TicketCiLink,
    responses((status = 200, body = Vec<CiBrief>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn unlink_ticket_ci(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
    JsonBody(b): JsonBody<TicketCiLink>,
) -> Result<Json<Vec<CiBrief>>, ApiError> {
    let Some(ci) = b.ci_id else {
        return Err(ApiError {
            field: Some("ci_id".into()),
            ..auth.ctx.code(ErrorCode::ValidationFailed)
        });
    };
    st.app
        .unlink_ticket_ci(auth.actor(), &n, ci)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// The impact the ticket's CIs suggest: breadth (one / several departments, whole
/// organization) and criticality (general / critical) from what depends on them.
#[utoipa::path(get, path = "/api/v1/tickets/{number}/impact-suggestion", tag = "cmdb", params(("number" = String, Path)),
    responses((status = 200, body = ImpactSuggestionView), (status = 404, body = ErrorBody)))]
pub async fn impact_suggestion(
    State(st): State<AppState>,
    auth: Auth,
    Number(n): Number,
) -> Result<Json<ImpactSuggestionView>, ApiError> {
    st.app
        .ticket_impact_suggestion(auth.actor(), &n)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}
