//! The service catalog page: items by class; catalog managers edit names and switch items on/off.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use yunwei_domain::catalog::Class;
use yunwei_domain::{Action, ErrorCode, Lang};
use yunwei_service::catalog::ItemPatch;
use yunwei_store::catalog::Item;

use super::pages::form_error;
use super::{error_page, redirect, render, Layout, Ui};
use crate::AppState;

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogTpl {
    l: Layout,
    groups: Vec<(&'static str, Vec<Item>)>,
    can_write: bool,
    zh: bool,
}

async fn render_catalog(st: &AppState, ui: &Ui, err: Option<(StatusCode, String)>) -> Response {
    let a = &ui.who.actor;
    let can_write = a.require(Action::CatalogWrite).is_ok();
    let items = match st.app.list_catalog(a, can_write).await {
        Ok(i) => i,
        Err(e) => return error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id),
    };
    let groups = Class::ALL
        .iter()
        .map(|c| {
            (
                c.as_str(),
                items
                    .iter()
                    .filter(|i| i.class == c.as_str())
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|g| !g.1.is_empty())
        .collect();
    let (l, status) = ui.page("catalog", None, err);
    render(
        status,
        &CatalogTpl {
            l,
            groups,
            can_write,
            zh: ui.ctx.lang == Lang::Zh,
        },
    )
}

pub async fn page(State(st): State<AppState>, ui: Ui) -> Response {
    render_catalog(&st, &ui, None).await
}

#[derive(Deserialize)]
pub struct ItemForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name_zh: String,
    name_en: String,
    active: Option<String>,
}

pub async fn update(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(f): Form<ItemForm>,
) -> Response {
    if let Err(r) = ui.check_csrf(&f.csrf) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id);
    };
    let p = ItemPatch {
        name_zh: Some(f.name_zh),
        name_en: Some(f.name_en),
        active: Some(f.active.is_some()),
        ..Default::default()
    };
    match st.app.update_catalog_item(&ui.who.actor, id, p).await {
        Ok(_) => redirect("/catalog"),
        Err(e) => {
            let err = form_error(&ui.ctx, e);
            render_catalog(&st, &ui, Some(err)).await
        }
    }
}
