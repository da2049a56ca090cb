//! The JSON API under `/api/v1`. Every handler is registered through utoipa-axum's
//! `OpenApiRouter`, so `/api/openapi.json` is generated from the routes and cannot drift from
//! them (a snapshot test catches changes to the document).

mod alerts;
mod announcements;
mod attachments;
mod audit;
mod catalog;
pub(crate) mod cmdb;
/// The XLSX reader and writer of the CMDB import/export (fuzzed by the tests).
pub use cmdb::{from_xlsx, to_xlsx};
mod docs;
mod notify;
mod orgs;
mod reports;
mod session;
mod sla;
mod staff;
mod substatus;
mod teams;
mod tickets;
mod tokens;
mod users;
mod views;

use std::sync::Arc;

use axum::Router;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Doc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
pub(crate) use attachments::read_upload;
pub use docs::docs_router;
pub use views::outcomes as bulk_outcomes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "yunwei API",
        description = "运维 yunwei — IT operation & maintenance service management (DB21/T 1799.3).\n\nErrors: `{\"code\", \"message\", \"request_id\"}` with stable codes; messages follow Accept-Language (zh-CN default, en). Authenticate with `Authorization: Bearer <token>` (create tokens under /api/v1/tokens or `yunwei admin create-token`), or a browser session cookie plus the `X-CSRF-Token` header on writes. Lists take `limit` (1–200, default 50) and `cursor` and answer `{\"items\", \"next_cursor\"}`.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "session", description = "Sign-in, the caller, password"),
        (name = "organizations", description = "The provider and customer organizations, departments"),
        (name = "users", description = "Users"),
        (name = "teams", description = "Support groups of provider staff"),
        (name = "tokens", description = "API tokens"),
        (name = "audit", description = "Hash-chained audit log"),
        (name = "tickets", description = "Service desk: incidents, requests, complaints, opinions, suggestions"),
        (name = "catalog", description = "Service catalog (§5–§6) and customers' service agreements"),
        (name = "announcements", description = "Announcements: planned maintenance, outages, notices (R-7.2c)"),
        (name = "notifications", description = "Notifications: in-app inbox, e-mail, signed webhooks, WeCom / DingTalk / Feishu robots"),
        (name = "cmdb", description = "Configuration management database (R-10.2): classes, items with versions, relations, impact, availability, patches, import and export, the CIs a ticket affects"),
        (name = "alerts", description = "Monitoring alerts (R-5.1a, R-10.1): Alertmanager / Grafana, Zabbix, PagerDuty v2 and generic webhooks in; each new alert opens an incident"),
        (name = "reports", description = "Service desk evaluation (R-7.4): availability, staff quality, technical capability, satisfaction; JSON, CSV, XLSX")
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Doc) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("yw_session"))),
        );
    }
}

/// A page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<yunwei_service::Page<T>> for Page<T> {
    fn from(p: yunwei_service::Page<T>) -> Self {
        Page {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

/// The API routes and their OpenAPI document.
pub fn router() -> (Router<AppState>, Doc) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login, session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::change_password))
        .routes(routes!(orgs::list_orgs, orgs::create_org))
        .routes(routes!(orgs::get_org, orgs::update_org))
        .routes(routes!(orgs::list_departments, orgs::create_department))
        .routes(routes!(orgs::update_department))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::set_password))
        .routes(routes!(teams::list_teams, teams::create_team))
        .routes(routes!(teams::get_team, teams::update_team))
        .routes(routes!(teams::add_member, teams::remove_member))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::verify_audit))
        .routes(routes!(tickets::list_tickets, tickets::create_ticket))
        .routes(routes!(tickets::get_ticket))
        .routes(routes!(tickets::transition_ticket))
        .routes(routes!(tickets::comment_ticket))
        .routes(routes!(tickets::override_priority))
        .routes(routes!(tickets::rate_ticket))
        .routes(routes!(tickets::get_matrix, tickets::set_matrix))
        .merge(
            // Uploads read their own size limit (the configured attachment size) while
            // streaming, instead of the general body limit.
            OpenApiRouter::new()
                .routes(routes!(
                    attachments::upload_attachment,
                    attachments::list_attachments
                ))
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .routes(routes!(attachments::download_attachment))
        .routes(routes!(tickets::list_watchers, tickets::watch_ticket))
        .routes(routes!(tickets::unwatch_ticket))
        .routes(routes!(
            substatus::list_sub_statuses,
            substatus::create_sub_status
        ))
        .routes(routes!(
            substatus::update_sub_status,
            substatus::delete_sub_status
        ))
        .routes(routes!(sla::list_calendars, sla::create_calendar))
        .routes(routes!(sla::get_calendar, sla::update_calendar))
        .routes(routes!(sla::import_calendar))
        .routes(routes!(sla::list_policies, sla::create_policy))
        .routes(routes!(sla::update_policy))
        .routes(routes!(sla::ticket_sla))
        .routes(routes!(catalog::list_catalog, catalog::create_item))
        .routes(routes!(catalog::get_item, catalog::update_item))
        .routes(routes!(catalog::list_agreements, catalog::create_agreement))
        .routes(routes!(catalog::update_agreement))
        .routes(routes!(notify::list_channels, notify::create_channel))
        .routes(routes!(notify::update_channel, notify::delete_channel))
        .routes(routes!(notify::test_channel))
        .routes(routes!(notify::get_settings, notify::set_settings))
        .routes(routes!(notify::list_outbox))
        .routes(routes!(notify::get_prefs, notify::set_prefs))
        .routes(routes!(notify::list_inbox))
        .routes(routes!(notify::mark_read))
        .routes(routes!(
            announcements::list_announcements,
            announcements::create_announcement
        ))
        .routes(routes!(
            announcements::get_announcement,
            announcements::update_announcement
        ))
        .routes(routes!(staff::list_skills, staff::add_skill))
        .routes(routes!(staff::delete_skill))
        .routes(routes!(
            staff::list_certifications,
            staff::add_certification
        ))
        .routes(routes!(staff::delete_certification))
        .routes(routes!(staff::list_trainings, staff::add_training))
        .routes(routes!(staff::delete_training))
        .routes(routes!(reports::desk_evaluation))
        .routes(routes!(reports::desk_evaluation_csv))
        .routes(routes!(reports::desk_evaluation_xlsx))
        .routes(routes!(cmdb::list_classes, cmdb::create_class))
        .routes(routes!(cmdb::add_attribute))
        .routes(routes!(cmdb::list_cis, cmdb::create_ci))
        .routes(routes!(cmdb::get_ci, cmdb::update_ci))
        .routes(routes!(cmdb::ci_versions))
        .routes(routes!(cmdb::ci_relations))
        .routes(routes!(cmdb::ci_impact))
        .routes(routes!(cmdb::ci_dependencies))
        .routes(routes!(cmdb::ci_availability))
        .routes(routes!(cmdb::ci_tickets))
        .routes(routes!(cmdb::list_patches, cmdb::add_patch))
        .routes(routes!(cmdb::create_relation))
        .routes(routes!(cmdb::delete_relation))
        .routes(routes!(cmdb::export_csv))
        .routes(routes!(cmdb::export_xlsx))
        .routes(routes!(cmdb::import))
        .routes(routes!(
            cmdb::ticket_cis,
            cmdb::link_ticket_ci,
            cmdb::unlink_ticket_ci
        ))
        .routes(routes!(cmdb::impact_suggestion))
        .routes(routes!(views::list_views, views::create_view))
        .routes(routes!(views::delete_view))
        .routes(routes!(views::queue))
        .routes(routes!(views::bulk))
        .routes(routes!(views::events))
        .routes(routes!(alerts::ingest))
        .routes(routes!(alerts::list_sources, alerts::create_source))
        .routes(routes!(alerts::get_source, alerts::update_source))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::get_alert))
        .split_for_parts()
}

/// The document as served.
pub fn openapi_json() -> String {
    router().1.to_pretty_json().unwrap_or_default()
}

pub(crate) type SharedDoc = Arc<Doc>;
