//! Changing a configuration item from its page: the edit form (every field the API's update
//! takes, the class's typed attributes included), retiring the item, and deleting one of its
//! relations. Every write goes through the same service methods as the API, which decide who
//! may write (administrators and engineers; customers and auditors read only) and in which
//! organization; the form is only shown to those who may use it.
//!
//! The form carries the version it was filled from and the service refuses (409 `conflict` on
//! `version`) when the item changed meanwhile. The check runs inside the service's write
//! transaction, so of two saves of the same version landing in the same instant exactly one
//! is written.

use std::collections::HashMap;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};
use uuid::Uuid;
use yunwei_domain::cmdb::{AttrKind, CRITICALITIES, DATA_LEVELS, STATUSES};
use yunwei_domain::{Action, DomainError, ErrorCode, Lang};
use yunwei_service::cmdb::{CiInput, CiView, ClassDetail};

use super::cmdb::{render_ci_edit, CiQ};
use super::pages::status_of;
use super::{error_page, redirect, Ui};
use crate::i18n::T;
use crate::AppState;

/// One input of the form.
pub struct Field {
    /// The form field's name: a `CiInput` field, or `attr.<code>` for an attribute.
    pub name: String,
    /// The element id (`ci-edit-…`).
    pub id: String,
    pub label: String,
    /// `text`, `date` or `select`.
    pub kind: &'static str,
    /// `decimal` for numbers, else empty.
    pub inputmode: &'static str,
    pub value: String,
    /// (value, label, selected) of a select.
    pub options: Vec<(String, String, bool)>,
    pub placeholder: String,
    pub hint: String,
    pub required: bool,
    /// The service refused this field.
    pub bad: bool,
}

/// The edit section of the item's page.
#[derive(Default)]
pub struct EditForm {
    /// The caller may change the item (and the page is not a past state).
    pub shown: bool,
    /// Open when re-shown with an error.
    pub open: bool,
    pub version: String,
    pub org: String,
    pub class: String,
    pub fields: Vec<Field>,
    pub attrs: Vec<Field>,
    /// The item is not retired yet.
    pub can_retire: bool,
}

/// What the user sent, re-shown after a refusal.
pub struct Sent {
    pub values: HashMap<String, String>,
    /// The field the service named, if any.
    pub bad: Option<String>,
}

fn name_of(lang: Lang, zh: &str, en: &str) -> String {
    if lang == Lang::Zh { zh } else { en }.to_string()
}

/// Fen as yuan with two decimals (`123456` → `1234.56`).
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Yuan as typed (`1234`, `1234.5`, `¥1,234.56`) to fen; empty is absent.
pub fn fen(field: &str, s: &str) -> Result<Option<i64>, DomainError> {
    let t: String = s
        .trim()
        .trim_start_matches(['¥', '￥'])
        .chars()
        .filter(|c| *c != ',' && *c != '，')
        .collect();
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || DomainError::invalid(field);
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.as_str()),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || frac.len() > 2
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = int.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let v = whole
        .checked_mul(100)
        .and_then(|x| x.checked_add(cents))
        .ok_or_else(bad)?;
    Ok(Some(if neg { -v } else { v }))
}

fn attr_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The form's values for an item as it is now.
pub fn values_of(v: &CiView) -> HashMap<String, String> {
    let c = &v.ci;
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let d = |o: Option<chrono::NaiveDate>| o.map(|x| x.to_string()).unwrap_or_default();
    let mut m = HashMap::from([
        ("name".to_string(), c.name.clone()),
        ("external_key".into(), c.external_key.clone()),
        ("status".into(), c.status.clone()),
        ("criticality".into(), c.criticality.clone()),
        (
            "department_id".into(),
            c.department_id.map(|x| x.to_string()).unwrap_or_default(),
        ),
        ("location".into(), s(&c.location)),
        ("vendor".into(), s(&c.vendor)),
        ("contract_no".into(), s(&c.contract_no)),
        ("contract_end".into(), d(c.contract_end)),
        ("warranty_end".into(), d(c.warranty_end)),
        ("purchased_on".into(), d(c.purchased_on)),
        (
            "purchase_cost".into(),
            c.purchase_cost.map(yuan).unwrap_or_default(),
        ),
        (
            "annual_cost".into(),
            c.annual_cost.map(yuan).unwrap_or_default(),
        ),
        (
            "security_level".into(),
            c.security_level.map(|l| l.to_string()).unwrap_or_default(),
        ),
        ("data_level".into(), s(&c.data_level)),
        (
            "calendar_id".into(),
            c.calendar_id.map(|x| x.to_string()).unwrap_or_default(),
        ),
        ("version".into(), c.version.to_string()),
    ]);
    for (k, val) in &v.attributes {
        m.insert(format!("attr.{k}"), attr_text(val));
    }
    m
}

/// The update the form's values ask for (the class and organization stay). Only the shape
/// is checked here (dates, amounts, ids); the service checks everything else.
pub fn input_from(class: &str, m: &HashMap<String, String>) -> Result<CiInput, DomainError> {
    let get = |k: &str| m.get(k).map(|s| s.trim()).unwrap_or("");
    let text = |k: &str| Some(get(k).to_string()).filter(|s| !s.is_empty());
    let date = |k: &str| -> Result<Option<chrono::NaiveDate>, DomainError> {
        match get(k) {
            "" => Ok(None),
            s => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| DomainError::invalid(k)),
        }
    };
    let id = |k: &str| -> Result<Option<Uuid>, DomainError> {
        match get(k) {
            "" => Ok(None),
            s => s
                .parse()
                .map(Some)
                .map_err(|_| DomainError::field(ErrorCode::InvalidReference, k)),
        }
    };
    let security_level = match get("security_level") {
        "" => None,
        s => Some(
            s.parse::<i64>()
                .map_err(|_| DomainError::invalid("security_level"))?,
        ),
    };
    let mut attributes = Map::new();
    for (k, v) in m {
        if let Some(code) = k.strip_prefix("attr.") {
            if !v.trim().is_empty() {
                attributes.insert(code.to_string(), Value::String(v.trim().to_string()));
            }
        }
    }
    Ok(CiInput {
        class: class.to_string(),
        org_id: None,
        department_id: id("department_id")?,
        external_key: get("external_key").to_string(),
        name: get("name").to_string(),
        status: text("status"),
        criticality: text("criticality"),
        location: text("location"),
        vendor: text("vendor"),
        contract_no: text("contract_no"),
        contract_end: date("contract_end")?,
        warranty_end: date("warranty_end")?,
        purchased_on: date("purchased_on")?,
        purchase_cost: fen("purchase_cost", get("purchase_cost"))?,
        annual_cost: fen("annual_cost", get("annual_cost"))?,
        security_level,
        data_level: text("data_level"),
        calendar_id: id("calendar_id")?,
        attributes,
    })
}

/// Options with the current value selected; a value that is not among them (typed by hand
/// or forged) is added so that the form shows what was sent.
fn select(mut opts: Vec<(String, String)>, value: &str) -> Vec<(String, String, bool)> {
    if !value.is_empty() && !opts.iter().any(|o| o.0 == value) {
        opts.push((value.to_string(), value.to_string()));
    }
    opts.into_iter()
        .map(|(v, l)| {
            let sel = v == value;
            (v, l, sel)
        })
        .collect()
}

struct FieldSpec<'a> {
    name: &'a str,
    label: String,
    kind: &'static str,
    options: Option<Vec<(String, String)>>,
    required: bool,
    numeric: bool,
    placeholder: String,
    hint: String,
}

impl<'a> FieldSpec<'a> {
    fn new(name: &'a str, label: impl Into<String>, kind: &'static str) -> Self {
        FieldSpec {
            name,
            label: label.into(),
            kind,
            options: None,
            required: false,
            numeric: false,
            placeholder: String::new(),
            hint: String::new(),
        }
    }

    fn build(self, values: &HashMap<String, String>, bad: Option<&str>) -> Field {
        let value = values.get(self.name).cloned().unwrap_or_default();
        let is_bad = bad.is_some_and(|b| {
            b == self.name
                || b.strip_prefix("attributes.")
                    .is_some_and(|c| self.name.strip_prefix("attr.") == Some(c))
        });
        Field {
            name: self.name.to_string(),
            id: format!("ci-edit-{}", self.name.replace('.', "-")),
            label: self.label,
            kind: if self.options.is_some() {
                "select"
            } else {
                self.kind
            },
            inputmode: if self.numeric { "decimal" } else { "" },
            options: self.options.map(|o| select(o, &value)).unwrap_or_default(),
            value,
            placeholder: self.placeholder,
            hint: self.hint,
            required: self.required,
            bad: is_bad,
        }
    }
}

/// The label of a field the service named (`attributes.mgmt_ip` → 管理地址).
pub fn field_label(lang: Lang, class: Option<&ClassDetail>, field: &str) -> String {
    let i = T(lang);
    if let Some(code) = field.strip_prefix("attributes.") {
        return class
            .and_then(|c| c.attributes.iter().find(|a| a.code == code))
            .map(|a| name_of(lang, &a.name_zh, &a.name_en))
            .unwrap_or_else(|| code.to_string());
    }
    let key = match field {
        "name" => "common.name",
        "external_key" => "cmdb.key",
        "status" => "cmdb.status",
        "criticality" => "cmdb.criticality",
        "department_id" => "cmdb.department",
        "location" => "cmdb.location",
        "vendor" => "cmdb.vendor",
        "contract_no" => "cmdb.contract_no",
        "contract_end" => "cmdb.contract_end",
        "warranty_end" => "cmdb.warranty_end",
        "purchased_on" => "cmdb.purchased_on",
        "purchase_cost" => "cmdb.purchase_cost",
        "annual_cost" => "cmdb.annual_cost",
        "security_level" => "cmdb.security_level",
        "data_level" => "cmdb.data_level",
        "calendar_id" => "cmdb.service_calendar",
        "version" => "cmdb.version",
        _ => return field.to_string(),
    };
    i.t(key).to_string()
}

/// The edit section for `v` (hidden for those who may not write, and on a past state).
pub async fn form(
    st: &AppState,
    ui: &Ui,
    v: &CiView,
    classes: &[ClassDetail],
    org: &str,
    as_of: bool,
    sent: Option<Sent>,
) -> EditForm {
    let a = &ui.who.actor;
    if as_of || a.require(Action::CmdbWrite).is_err() {
        return EditForm::default();
    }
    let lang = ui.ctx.lang;
    let i = T(lang);
    let class = classes.iter().find(|c| c.class.id == v.ci.class_id);
    let open = sent.is_some();
    let (mut values, bad) = match sent {
        Some(s) => (s.values, s.bad),
        None => (values_of(v), None),
    };
    // A re-shown form is saved over what is there now.
    values.insert("version".into(), v.ci.version.to_string());
    let bad = bad.as_deref();
    let none = i.t("common.none").to_string();

    let departments: Vec<(String, String)> =
        std::iter::once((String::new(), i.t("cmdb.dept_whole").to_string()))
            .chain(
                st.app
                    .list_departments(a, v.ci.org_id)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| (d.id.to_string(), d.name)),
            )
            .collect();
    let calendars: Vec<(String, String)> =
        std::iter::once((String::new(), i.t("cmdb.calendar_always").to_string()))
            .chain(
                st.app
                    .list_calendars(a)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (c.id.to_string(), c.name)),
            )
            .collect();

    let mut specs = vec![
        {
            let mut f = FieldSpec::new("name", i.t("common.name"), "text");
            f.required = true;
            f
        },
        {
            let mut f = FieldSpec::new("external_key", i.t("cmdb.key"), "text");
            f.required = true;
            f
        },
        {
            let mut f = FieldSpec::new("status", i.t("cmdb.status"), "text");
            f.options = Some(
                STATUSES
                    .iter()
                    .map(|s| (s.to_string(), i.v("cmdb.status", s).to_string()))
                    .collect(),
            );
            f
        },
        {
            let mut f = FieldSpec::new("criticality", i.t("cmdb.criticality"), "text");
            f.options = Some(
                CRITICALITIES
                    .iter()
                    .map(|s| (s.to_string(), i.v("cmdb.crit", s).to_string()))
                    .collect(),
            );
            f
        },
        {
            let mut f = FieldSpec::new("department_id", i.t("cmdb.department"), "text");
            f.options = Some(departments);
            f
        },
        FieldSpec::new("location", i.t("cmdb.location"), "text"),
        FieldSpec::new("vendor", i.t("cmdb.vendor"), "text"),
        FieldSpec::new("contract_no", i.t("cmdb.contract_no"), "text"),
        FieldSpec::new("contract_end", i.t("cmdb.contract_end"), "date"),
        FieldSpec::new("warranty_end", i.t("cmdb.warranty_end"), "date"),
        FieldSpec::new("purchased_on", i.t("cmdb.purchased_on"), "date"),
        {
            let mut f = FieldSpec::new("purchase_cost", i.t("cmdb.purchase_cost"), "text");
            f.numeric = true;
            f.placeholder = "0.00".into();
            f
        },
        {
            let mut f = FieldSpec::new("annual_cost", i.t("cmdb.annual_cost"), "text");
            f.numeric = true;
            f.placeholder = "0.00".into();
            f
        },
    ];
    let carries_level = class.is_some_and(|c| c.class.has_security_level);
    if carries_level || !values.get("security_level").is_none_or(|s| s.is_empty()) {
        let mut f = FieldSpec::new("security_level", i.t("cmdb.security_level"), "text");
        f.options = Some(
            std::iter::once((String::new(), none.clone()))
                .chain((1..=5).map(|l| (l.to_string(), i.t(&format!("cmdb.sec.{l}")).into())))
                .collect(),
        );
        specs.push(f);
    }
    let carries_data = class.is_some_and(|c| c.class.has_data_level);
    if carries_data || !values.get("data_level").is_none_or(|s| s.is_empty()) {
        let mut f = FieldSpec::new("data_level", i.t("cmdb.data_level"), "text");
        f.options = Some(
            std::iter::once((String::new(), none.clone()))
                .chain(
                    DATA_LEVELS
                        .iter()
                        .map(|d| (d.to_string(), i.v("cmdb.data", d).to_string())),
                )
                .collect(),
        );
        specs.push(f);
    }
    {
        let mut f = FieldSpec::new("calendar_id", i.t("cmdb.service_calendar"), "text");
        f.options = Some(calendars);
        specs.push(f);
    }
    let fields = specs.into_iter().map(|s| s.build(&values, bad)).collect();

    let attr_names: Vec<String> = class
        .map(|c| {
            c.attributes
                .iter()
                .map(|x| format!("attr.{}", x.code))
                .collect()
        })
        .unwrap_or_default();
    let mut attrs = Vec::new();
    if let Some(c) = class {
        for (x, name) in c.attributes.iter().zip(&attr_names) {
            let mut f = FieldSpec::new(name, name_of(lang, &x.name_zh, &x.name_en), "text");
            f.required = x.required;
            match AttrKind::parse(&x.kind).unwrap_or(AttrKind::Text) {
                AttrKind::Text => {}
                AttrKind::Number => {
                    f.numeric = true;
                }
                AttrKind::Date => f.kind = "date",
                AttrKind::Enum => {
                    f.options = Some(
                        std::iter::once((String::new(), none.clone()))
                            .chain(x.options.iter().map(|o| (o.clone(), o.clone())))
                            .collect(),
                    );
                }
                AttrKind::Bool => {
                    f.options = Some(vec![
                        (String::new(), none.clone()),
                        ("true".into(), i.t("cmdb.yes").into()),
                        ("false".into(), i.t("cmdb.no").into()),
                    ]);
                }
                AttrKind::Ip => f.placeholder = "10.0.0.1".into(),
                AttrKind::Cidr => f.placeholder = "10.0.0.0/24".into(),
                AttrKind::Reference => {
                    f.placeholder = i.t("cmdb.key").into();
                    let targets: Vec<String> = x
                        .options
                        .iter()
                        .map(|code| {
                            classes
                                .iter()
                                .find(|k| &k.class.code == code)
                                .map(|k| name_of(lang, &k.class.name_zh, &k.class.name_en))
                                .unwrap_or_else(|| code.clone())
                        })
                        .collect();
                    f.hint = if targets.is_empty() {
                        i.t("cmdb.ref_hint").to_string()
                    } else {
                        format!(
                            "{}（{}）",
                            i.t("cmdb.ref_hint"),
                            targets.join(if lang == Lang::Zh { "、" } else { ", " })
                        )
                    };
                }
            }
            attrs.push(f.build(&values, bad));
        }
    }
    EditForm {
        shown: true,
        open,
        version: v.ci.version.to_string(),
        org: org.to_string(),
        class: class
            .map(|c| name_of(lang, &c.class.name_zh, &c.class.name_en))
            .unwrap_or_else(|| v.class_code.clone()),
        fields,
        attrs,
        can_retire: v.ci.status != "retired",
    }
}

/// A refusal as the page shows it: the message in the page's language, the field by its
/// label, and the stable code.
fn refusal(
    ui: &Ui,
    class: Option<&ClassDetail>,
    e: yunwei_service::Error,
) -> ((StatusCode, String), Option<String>) {
    let api = ui.ctx.err(e);
    let lang = ui.ctx.lang;
    let mut msg = api.code.message(lang).to_string();
    if let Some(f) = &api.field {
        let label = field_label(lang, class, f);
        if lang == Lang::Zh {
            msg.push_str(&format!("（{label}）"));
        } else {
            msg.push_str(&format!(" ({label})"));
        }
    }
    msg.push_str(&format!(" · {}", api.code.as_str()));
    ((status_of(api.code), msg), api.field)
}

fn not_found(ui: &Ui) -> Response {
    error_page(ErrorCode::NotFound, ui.ctx.lang, &ui.ctx.request_id)
}

fn fail(ui: &Ui, e: yunwei_service::Error) -> Response {
    error_page(ui.ctx.err(e).code, ui.ctx.lang, &ui.ctx.request_id)
}

/// The version the form was filled from (the item must still be at it when saved).
fn form_version(m: &HashMap<String, String>) -> Result<i64, DomainError> {
    m.get("version")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| DomainError::field(ErrorCode::Conflict, "version"))
}

/// Save the edit form.
pub async fn update(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let values: HashMap<String, String> = pairs.into_iter().collect();
    if let Err(r) = ui.check_csrf(values.get("_csrf").map(String::as_str).unwrap_or("")) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found(&ui);
    };
    let a = &ui.who.actor;
    // Refused before anything else (the service refuses too).
    if let Err(e) = a.require(Action::CmdbWrite) {
        return fail(&ui, e);
    }
    let current = match st.app.get_ci(a, id, None).await {
        Ok(v) => v,
        Err(e) => return fail(&ui, e),
    };
    let result = async {
        let version = form_version(&values)?;
        let input = input_from(&current.class_code, &values)?;
        st.app.update_ci(a, id, input, Some(version)).await
    }
    .await;
    match result {
        Ok(_) => redirect(&format!("/cmdb/cis/{id}?ok=saved")),
        Err(e) => {
            let classes = st.app.list_ci_classes(a).await.unwrap_or_default();
            let class = classes.iter().find(|c| c.class.id == current.ci.class_id);
            let (err, bad) = refusal(&ui, class, e);
            let mut values = values;
            values.remove("_csrf");
            render_ci_edit(
                &st,
                &ui,
                id,
                CiQ::default(),
                Some(err),
                Some(Sent { values, bad }),
            )
            .await
        }
    }
}

/// Retire the item (its lifecycle status becomes `retired`; it and its history stay).
pub async fn retire(
    State(st): State<AppState>,
    ui: Ui,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let values: HashMap<String, String> = pairs.into_iter().collect();
    if let Err(r) = ui.check_csrf(values.get("_csrf").map(String::as_str).unwrap_or("")) {
        return r;
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found(&ui);
    };
    let a = &ui.who.actor;
    if let Err(e) = a.require(Action::CmdbWrite) {
        return fail(&ui, e);
    }
    let current = match st.app.get_ci(a, id, None).await {
        Ok(v) => v,
        Err(e) => return fail(&ui, e),
    };
    let result = async {
        let version = form_version(&values)?;
        let mut now = values_of(&current);
        now.insert("status".into(), "retired".into());
        let input = input_from(&current.class_code, &now)?;
        st.app.update_ci(a, id, input, Some(version)).await
    }
    .await;
    match result {
        Ok(_) => redirect(&format!("/cmdb/cis/{id}?ok=saved")),
        Err(e) => {
            let classes = st.app.list_ci_classes(a).await.unwrap_or_default();
            let class = classes.iter().find(|c| c.class.id == current.ci.class_id);
            let (err, _) = refusal(&ui, class, e);
            render_ci_edit(&st, &ui, id, CiQ::default(), Some(err), None).await
        }
    }
}

/// Delete one of the item's relations (it must be one the caller sees on this item).
pub async fn delete_relation(
    State(st): State<AppState>,
    ui: Ui,
    Path((id, rel)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let values: HashMap<String, String> = pairs.into_iter().collect();
    if let Err(r) = ui.check_csrf(values.get("_csrf").map(String::as_str).unwrap_or("")) {
        return r;
    }
    let (Ok(id), Ok(rel)) = (id.parse::<Uuid>(), rel.parse::<Uuid>()) else {
        return not_found(&ui);
    };
    let a = &ui.who.actor;
    let rels = match st.app.ci_relations(a, id).await {
        Ok(r) => r,
        Err(e) => return fail(&ui, e),
    };
    if !rels.iter().any(|r| r.relation.id == rel) {
        return not_found(&ui);
    }
    match st.app.delete_ci_relation(a, rel).await {
        Ok(()) => redirect(&format!("/cmdb/cis/{id}?ok=deleted")),
        Err(e) => {
            let (err, _) = refusal(&ui, None, e);
            render_ci_edit(&st, &ui, id, CiQ::default(), Some(err), None).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_between_yuan_and_fen() {
        assert_eq!(fen("f", "1234").unwrap(), Some(123_400));
        assert_eq!(fen("f", "1234.5").unwrap(), Some(123_450));
        assert_eq!(fen("f", " ¥1,234.56 ").unwrap(), Some(123_456));
        assert_eq!(fen("f", "0.07").unwrap(), Some(7));
        assert_eq!(fen("f", "-3").unwrap(), Some(-300));
        assert_eq!(fen("f", "").unwrap(), None);
        for bad in ["1.234", "abc", "1e5", ".5", "1..2", "99999999999999999999"] {
            let e = fen("purchase_cost", bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ValidationFailed, "{bad}");
            assert_eq!(e.field.as_deref(), Some("purchase_cost"));
        }
        for f in [0, 7, 100, 123_456, 10_000_000] {
            assert_eq!(fen("f", &yuan(f)).unwrap(), Some(f));
        }
    }

    #[test]
    fn the_form_becomes_an_update() {
        let m: HashMap<String, String> = [
            ("name", " 财务系统 "),
            ("external_key", "APP-FIN"),
            ("status", "maintenance"),
            ("criticality", ""),
            ("department_id", ""),
            ("contract_end", "2030-06-30"),
            ("purchase_cost", "100000.00"),
            ("security_level", "3"),
            ("attr.mgmt_ip", " 10.0.0.9 "),
            ("attr.model", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let i = input_from("physical_server", &m).unwrap();
        assert_eq!(i.class, "physical_server");
        assert_eq!(i.name, "财务系统");
        assert_eq!(i.status.as_deref(), Some("maintenance"));
        assert_eq!(i.criticality, None);
        assert_eq!(i.purchase_cost, Some(10_000_000));
        assert_eq!(i.security_level, Some(3));
        assert_eq!(i.contract_end, chrono::NaiveDate::from_ymd_opt(2030, 6, 30));
        assert_eq!(i.attributes.len(), 1, "empty attributes are absent");
        assert_eq!(i.attributes["mgmt_ip"], "10.0.0.9");
        assert!(i.org_id.is_none(), "the organization is never changed here");

        for (k, v, code) in [
            ("contract_end", "2030-13-01", ErrorCode::ValidationFailed),
            ("security_level", "三", ErrorCode::ValidationFailed),
            ("department_id", "nope", ErrorCode::InvalidReference),
            ("calendar_id", "nope", ErrorCode::InvalidReference),
        ] {
            let mut bad = m.clone();
            bad.insert(k.into(), v.into());
            let e = input_from("physical_server", &bad).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (code, Some(k)), "{k}={v}");
        }
    }

    #[test]
    fn a_value_outside_the_options_is_kept_and_selected() {
        let o = vec![("A".to_string(), "A".to_string()), ("B".into(), "B".into())];
        let s = select(o.clone(), "B");
        assert_eq!(s.iter().filter(|x| x.2).count(), 1);
        assert!(s[1].2);
        let s = select(o, "Z");
        assert_eq!(s.len(), 3);
        assert_eq!(s[2], ("Z".into(), "Z".into(), true));
    }
}
