//! The service desk evaluation page: a period form, tables of the figures, bar charts
//! drawn as inline SVG on the server (no script; styled through classes in app.css), and links
//! to the CSV and XLSX exports.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde::Deserialize;
use yunwei_domain::{Action, ErrorCode};
use yunwei_service::evaluation::{DeskEvaluation, EvaluationQuery, Share};
use yunwei_store::orgs::Organization;
use yunwei_store::teams::Team;

use super::{encode, error_page, render, Layout, Ui};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct DeskForm {
    from: Option<String>,
    to: Option<String>,
    organization: Option<String>,
    team: Option<String>,
}

/// One bar of a chart, laid out by the server.
pub struct Bar {
    pub label: String,
    pub value: String,
    pub y: u32,
    pub text_y: u32,
    pub width: u32,
}

pub struct Chart {
    pub title: &'static str,
    pub id: &'static str,
    pub height: u32,
    pub bars: Vec<Bar>,
}

const BAR_MAX: f64 = 300.0;
const ROW: u32 = 26;

fn chart(title: &'static str, id: &'static str, items: Vec<(String, f64, String)>) -> Chart {
    let max = items.iter().map(|i| i.1).fold(0.0, f64::max);
    let bars = items
        .into_iter()
        .enumerate()
        .map(|(n, (label, v, value))| {
            let y = n as u32 * ROW + 4;
            Bar {
                label,
                value,
                y,
                text_y: y + 14,
                width: if max > 0.0 {
                    ((v / max) * BAR_MAX)
                        .round()
                        .max(if v > 0.0 { 1.0 } else { 0.0 }) as u32
                } else {
                    0
                },
            }
        })
        .collect::<Vec<_>>();
    Chart {
        title,
        id,
        height: bars.len() as u32 * ROW + 8,
        bars,
    }
}

#[derive(Template)]
#[template(path = "reports_desk.html")]
struct DeskTpl {
    l: Layout,
    from: String,
    to: String,
    org: String,
    team: String,
    orgs: Vec<Organization>,
    teams: Vec<Team>,
    ev: Option<DeskEvaluation>,
    charts: Vec<Chart>,
    export_query: String,
}

/// Display helpers the template calls.
pub trait Show {
    fn pct(&self) -> String;
}

impl Show for Share {
    /// Percent text of a share ("—" without a base).
    fn pct(&self) -> String {
        pct(self)
    }
}

pub fn pct(s: &Share) -> String {
    s.rate
        .map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

pub trait Num {
    fn num(&self) -> String;
}

impl Num for Option<f64> {
    /// A figure with up to two decimals ("—" when absent).
    fn num(&self) -> String {
        self.map(|x| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        })
        .unwrap_or_else(|| "—".into())
    }
}

fn month_bounds() -> (NaiveDate, NaiveDate) {
    let today = (Utc::now() + Duration::hours(8)).date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    (first, next.unwrap_or(today))
}

pub async fn page(State(st): State<AppState>, ui: Ui, Query(f): Query<DeskForm>) -> Response {
    let a = &ui.who.actor;
    if a.require(Action::EvaluationRead).is_err() {
        return error_page(ErrorCode::Forbidden, ui.ctx.lang, &ui.ctx.request_id);
    }
    let (m0, m1) = month_bounds();
    let from = f
        .from
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| m0.to_string());
    let to =
        f.to.clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| m1.to_string());
    let org = f.organization.clone().unwrap_or_default();
    let team = f.team.clone().unwrap_or_default();
    let result = match EvaluationQuery::parse(Some(&from), Some(&to), Some(&org), Some(&team)) {
        Ok(q) => st.app.desk_evaluation(a, q).await,
        Err(e) => Err(e),
    };
    let i = crate::i18n::T(ui.ctx.lang);
    let (ev, err) = match result {
        Ok(ev) => (Some(ev), None),
        Err(e) => (None, Some(super::pages::form_error(&ui.ctx, e))),
    };
    let orgs = st.app.list_orgs(a).await.unwrap_or_default();
    let teams = st.app.list_teams(a).await.unwrap_or_default();
    let mut charts = Vec::new();
    if let Some(ev) = &ev {
        charts.push(chart(
            i.t("eval.chart_kinds"),
            "chart-kinds",
            ev.by_kind
                .iter()
                .map(|c| {
                    (
                        i.v("kind", &c.key).to_string(),
                        c.count as f64,
                        c.count.to_string(),
                    )
                })
                .collect(),
        ));
        charts.push(chart(
            i.t("eval.chart_sla"),
            "chart-sla",
            ev.sla
                .iter()
                .map(|s| {
                    (
                        s.priority
                            .map(|p| format!("P{p}"))
                            .unwrap_or_else(|| i.t("common.all").to_string()),
                        s.resolution.rate.unwrap_or(0.0) * 100.0,
                        pct(&s.resolution),
                    )
                })
                .collect(),
        ));
        charts.push(chart(
            i.t("eval.chart_satisfaction"),
            "chart-satisfaction",
            ev.satisfaction
                .distribution
                .iter()
                .enumerate()
                .map(|(n, c)| (format!("{} ★", n + 1), *c as f64, c.to_string()))
                .collect(),
        ));
    }
    let export_query = format!(
        "from={}&to={}&organization={}&team={}",
        encode(&from),
        encode(&to),
        encode(&org),
        encode(&team)
    );
    let (l, status) = ui.page("reports", None, err);
    render(
        status,
        &DeskTpl {
            l,
            from,
            to,
            org,
            team,
            orgs,
            teams,
            ev,
            charts,
            export_query,
        },
    )
}
