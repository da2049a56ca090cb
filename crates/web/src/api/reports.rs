//! Reports: the service desk evaluation as JSON, CSV (UTF-8 with BOM, so Excel opens
//! the Chinese headers) and XLSX.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use yunwei_domain::Lang;
use yunwei_service::evaluation::{DeskEvaluation, EvaluationQuery, Share};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, Query};
use crate::i18n::T;
use crate::AppState;

#[derive(Deserialize, Default, utoipa::IntoParams)]
pub struct EvaluationParams {
    /// First day, `YYYY-MM-DD` (China Standard Time), inclusive.
    pub from: Option<String>,
    /// Day after the last, `YYYY-MM-DD`, exclusive.
    pub to: Option<String>,
    /// Only this organization's tickets (empty: all).
    pub organization: Option<String>,
    /// Only this team's tickets and members (empty: all).
    pub team: Option<String>,
}

impl EvaluationParams {
    pub fn query(&self) -> yunwei_service::Result<EvaluationQuery> {
        EvaluationQuery::parse(
            self.from.as_deref(),
            self.to.as_deref(),
            self.organization.as_deref(),
            self.team.as_deref(),
        )
    }
}

async fn evaluate(
    st: &AppState,
    auth: &Auth,
    p: &EvaluationParams,
) -> Result<DeskEvaluation, ApiError> {
    let q = p.query().map_err(|e| auth.ctx.err(e))?;
    st.app
        .desk_evaluation(auth.actor(), q)
        .await
        .map_err(|e| auth.ctx.err(e))
}

/// The service desk evaluation over the tickets created in `[from, to)`: availability
/// (response and resolution times, SLA attainment), handling quality (first-contact
/// resolution, reopen, escalation, auto-confirmation), satisfaction, feedback, per-agent and
/// per-team figures, staff quality and technical capability. Managers, administrators and
/// auditors.
#[utoipa::path(get, path = "/api/v1/reports/desk-evaluation", tag = "reports", params(EvaluationParams),
    responses((status = 200, body = DeskEvaluation), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn desk_evaluation(
    State(st): State<AppState>,
    auth: Auth,
    Query(p): Query<EvaluationParams>,
) -> Result<Json<DeskEvaluation>, ApiError> {
    evaluate(&st, &auth, &p).await.map(Json)
}

/// The evaluation as CSV (UTF-8 with BOM, Chinese headers): the figures in long form, then the
/// per-agent, per-team and per-person tables, separated by empty lines.
#[utoipa::path(get, path = "/api/v1/reports/desk-evaluation.csv", tag = "reports", params(EvaluationParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn desk_evaluation_csv(
    State(st): State<AppState>,
    auth: Auth,
    Query(p): Query<EvaluationParams>,
) -> Result<Response, ApiError> {
    let ev = evaluate(&st, &auth, &p).await?;
    let body = csv(&sheets(&ev));
    Ok(download(
        "text/csv; charset=utf-8",
        &file_name(&ev, "csv"),
        body.into_bytes(),
    ))
}

/// The evaluation as an Excel workbook: one sheet per table of the CSV.
#[utoipa::path(get, path = "/api/v1/reports/desk-evaluation.xlsx", tag = "reports", params(EvaluationParams),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn desk_evaluation_xlsx(
    State(st): State<AppState>,
    auth: Auth,
    Query(p): Query<EvaluationParams>,
) -> Result<Response, ApiError> {
    let ev = evaluate(&st, &auth, &p).await?;
    let bytes = xlsx(&sheets(&ev)).map_err(|e| {
        auth.ctx
            .err(yunwei_service::Error::Internal(format!("xlsx: {e}")))
    })?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &file_name(&ev, "xlsx"),
        bytes,
    ))
}

fn file_name(ev: &DeskEvaluation, ext: &str) -> String {
    format!("desk-evaluation_{}_{}.{ext}", ev.from, ev.to)
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

/// A cell of an exported table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Num(f64),
    Empty,
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
    fn int(n: i64) -> Cell {
        Cell::Num(n as f64)
    }
    fn opt(n: Option<f64>) -> Cell {
        n.map(Cell::Num).unwrap_or(Cell::Empty)
    }
}

/// A table of the export (a CSV block, an XLSX sheet).
pub struct Sheet {
    pub name: &'static str,
    pub headers: &'static [&'static str],
    pub rows: Vec<Vec<Cell>>,
}

fn percent(s: &Share) -> Cell {
    Cell::opt(s.rate.map(|r| (r * 10_000.0).round() / 100.0))
}

/// The evaluation as export tables, with Chinese headers and labels.
pub fn sheets(ev: &DeskEvaluation) -> Vec<Sheet> {
    let zh = T(Lang::Zh);
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut row = |cat: &str, metric: &str, subject: &str, value: Cell, unit: &str| {
        rows.push(vec![
            Cell::text(cat),
            Cell::text(metric),
            Cell::text(subject),
            value,
            Cell::text(unit),
        ])
    };
    row("概况", "工单总数", "", Cell::int(ev.tickets), "件");
    for c in &ev.by_kind {
        row(
            "工单类型",
            "工单数",
            zh.v("kind", &c.key),
            Cell::int(c.count),
            "件",
        );
    }
    for c in &ev.by_status {
        row(
            "工单状态",
            "工单数",
            zh.v("status", &c.key),
            Cell::int(c.count),
            "件",
        );
    }
    row(
        "响应",
        "已响应工单数",
        "",
        Cell::int(ev.response.count),
        "件",
    );
    row(
        "响应",
        "响应时间中位数",
        "",
        Cell::opt(ev.response.median_minutes),
        "分钟",
    );
    row(
        "响应",
        "响应时间P90",
        "",
        Cell::opt(ev.response.p90_minutes),
        "分钟",
    );
    row(
        "处理",
        "已解决工单数",
        "",
        Cell::int(ev.resolution.count),
        "件",
    );
    row(
        "处理",
        "解决时间中位数",
        "",
        Cell::opt(ev.resolution.median_minutes),
        "分钟",
    );
    row(
        "处理",
        "解决时间P90",
        "",
        Cell::opt(ev.resolution.p90_minutes),
        "分钟",
    );
    for s in &ev.sla {
        let who = s
            .priority
            .map(|p| format!("P{p}"))
            .unwrap_or_else(|| "全部".into());
        row("SLA达成", "工单数", &who, Cell::int(s.tickets), "件");
        row("SLA达成", "响应达成率", &who, percent(&s.response), "%");
        row("SLA达成", "解决达成率", &who, percent(&s.resolution), "%");
    }
    row(
        "处理质量",
        "一次解决率",
        "",
        percent(&ev.first_contact_resolution),
        "%",
    );
    row("处理质量", "重开率", "", percent(&ev.reopen), "%");
    row("处理质量", "升级率", "", percent(&ev.escalation), "%");
    row(
        "处理质量",
        "自动确认占比",
        "",
        percent(&ev.auto_confirmation),
        "%",
    );
    row(
        "用户满意度",
        "已评价工单数",
        "",
        Cell::int(ev.satisfaction.rated),
        "件",
    );
    row(
        "用户满意度",
        "已关闭工单数",
        "",
        Cell::int(ev.satisfaction.closed),
        "件",
    );
    row(
        "用户满意度",
        "评价率",
        "",
        Cell::opt(
            ev.satisfaction
                .response_rate
                .map(|r| (r * 10_000.0).round() / 100.0),
        ),
        "%",
    );
    row(
        "用户满意度",
        "平均分",
        "",
        Cell::opt(ev.satisfaction.average),
        "分",
    );
    for (i, n) in ev.satisfaction.distribution.iter().enumerate() {
        row(
            "用户满意度",
            "评分分布",
            &format!("{}分", i + 1),
            Cell::int(*n),
            "件",
        );
    }
    row(
        "用户反馈",
        "投诉",
        "",
        Cell::int(ev.feedback.complaint),
        "件",
    );
    row("用户反馈", "意见", "", Cell::int(ev.feedback.opinion), "件");
    row(
        "用户反馈",
        "建议",
        "",
        Cell::int(ev.feedback.suggestion),
        "件",
    );

    let agents = ev
        .agents
        .iter()
        .map(|a| {
            vec![
                Cell::text(&a.username),
                Cell::text(&a.display_name),
                Cell::int(a.assigned),
                Cell::int(a.resolved),
                Cell::opt(a.median_resolution_minutes),
                Cell::int(a.rated),
                Cell::opt(a.satisfaction_average),
            ]
        })
        .collect();
    let teams = ev
        .teams
        .iter()
        .map(|t| {
            vec![
                Cell::text(&t.name),
                Cell::int(t.tickets),
                Cell::int(t.resolved),
                Cell::opt(t.median_resolution_minutes),
                Cell::opt(t.satisfaction_average),
                Cell::int(t.members),
                Cell::int(t.skills),
                Cell::opt(t.average_level),
                Cell::int(t.valid_certifications),
                Cell::int(t.training_hours),
            ]
        })
        .collect();
    let staff = ev
        .staff
        .iter()
        .map(|s| {
            vec![
                Cell::text(&s.username),
                Cell::text(&s.display_name),
                Cell::text(zh.role(&s.role)),
                Cell::int(s.skills),
                Cell::opt(s.average_level),
                Cell::int(s.valid_certifications),
                Cell::int(s.training_hours),
            ]
        })
        .collect();
    vec![
        Sheet {
            name: "评价指标",
            headers: &["类别", "指标", "对象", "数值", "单位"],
            rows,
        },
        Sheet {
            name: "坐席",
            headers: &[
                "用户名",
                "姓名",
                "分派工单数",
                "已解决工单数",
                "解决时间中位数（分钟）",
                "已评价工单数",
                "满意度平均分",
            ],
            rows: agents,
        },
        Sheet {
            name: "团队",
            headers: &[
                "团队",
                "工单数",
                "已解决工单数",
                "解决时间中位数（分钟）",
                "满意度平均分",
                "成员数",
                "技能数",
                "平均技能等级",
                "有效证书数",
                "培训学时",
            ],
            rows: teams,
        },
        Sheet {
            name: "人员素质",
            headers: &[
                "用户名",
                "姓名",
                "角色",
                "技能数",
                "平均技能等级",
                "有效证书数",
                "培训学时",
            ],
            rows: staff,
        },
    ]
}

fn csv_field(s: &str) -> String {
    // Quote when needed; a leading formula character is neutralised (CSV injection).
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// UTF-8 with a byte-order mark, CRLF line ends, tables separated by an empty line.
pub fn csv(sheets: &[Sheet]) -> String {
    let mut out = String::from("\u{feff}");
    for (i, s) in sheets.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let head: Vec<String> = s.headers.iter().map(|h| csv_field(h)).collect();
        out.push_str(&head.join(","));
        out.push_str("\r\n");
        for r in &s.rows {
            let cells: Vec<String> = r
                .iter()
                .map(|c| match c {
                    Cell::Text(t) => csv_field(t),
                    Cell::Num(n) => num(*n),
                    Cell::Empty => String::new(),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

/// One worksheet per table.
pub fn xlsx(sheets: &[Sheet]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    for s in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(s.name)?;
        for (c, h) in s.headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)?;
            ws.set_column_width(c as u16, 16)?;
        }
        for (r, row) in s.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32 + 1, c as u16);
                match cell {
                    Cell::Text(t) => {
                        ws.write_string(r, c, t)?;
                    }
                    Cell::Num(n) => {
                        ws.write_number(r, c, *n)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
    }
    wb.save_to_buffer()
}
