use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use yunwei_service::catalog::{AgreementDetail, AgreementInput, ItemPatch, NewItem};
use yunwei_store::catalog::Item;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, JsonBody, PathId, Query};
use crate::AppState;

#[derive(Deserialize, Default, utoipa::IntoParams)]
pub struct CatalogQuery {
    /// Include deactivated items (catalog managers).
    pub all: Option<bool>,
}

/// The service catalog: every service type and content item of §5–§6, plus the provider's own.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", params(CatalogQuery),
    responses((status = 200, body = Vec<Item>)))]
pub async fn list_catalog(
    State(st): State<AppState>,
    auth: Auth,
    Query(q): Query<CatalogQuery>,
) -> Result<Json<Vec<Item>>, ApiError> {
    st.app
        .list_catalog(auth.actor(), q.all.unwrap_or(false))
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(post, path = "/api/v1/catalog", tag = "catalog", request_body = NewItem,
    responses((status = 201, body = Item), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_item(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewItem>,
) -> Result<(StatusCode, Json<Item>), ApiError> {
    st.app
        .create_catalog_item(auth.actor(), b)
        .await
        .map(|i| (StatusCode::CREATED, Json(i)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(get, path = "/api/v1/catalog/{id}", tag = "catalog", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Item), (status = 404, body = ErrorBody)))]
pub async fn get_item(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Item>, ApiError> {
    st.app
        .get_catalog_item(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(patch, path = "/api/v1/catalog/{id}", tag = "catalog", params(("id" = uuid::Uuid, Path)), request_body = ItemPatch,
    responses((status = 200, body = Item), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_item(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<ItemPatch>,
) -> Result<Json<Item>, ApiError> {
    st.app
        .update_catalog_item(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

/// Service agreements of an organization (customers: their own).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/agreements", tag = "catalog", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<AgreementDetail>), (status = 404, body = ErrorBody)))]
pub async fn list_agreements(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Vec<AgreementDetail>>, ApiError> {
    st.app
        .list_agreements(auth.actor(), id)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(post, path = "/api/v1/organizations/{id}/agreements", tag = "catalog", params(("id" = uuid::Uuid, Path)), request_body = AgreementInput,
    responses((status = 201, body = AgreementDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agreement(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<AgreementInput>,
) -> Result<(StatusCode, Json<AgreementDetail>), ApiError> {
    st.app
        .create_agreement(auth.actor(), id, b)
        .await
        .map(|a| (StatusCode::CREATED, Json(a)))
        .map_err(|e| auth.ctx.err(e))
}

#[utoipa::path(patch, path = "/api/v1/agreements/{id}", tag = "catalog", params(("id" = uuid::Uuid, Path)), request_body = AgreementInput,
    responses((status = 200, body = AgreementDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_agreement(
    State(st): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    JsonBody(b): JsonBody<AgreementInput>,
) -> Result<Json<AgreementDetail>, ApiError> {
    st.app
        .update_agreement(auth.actor(), id, b)
        .await
        .map(Json)
        .map_err(|e| auth.ctx.err(e))
}
