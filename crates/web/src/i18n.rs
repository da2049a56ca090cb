//! UI strings in zh-CN (first) and English. Templates call `l.i.t("key")`; a test checks that
//! every key a template uses is here, with both languages.

use yunwei_domain::Lang;

pub const STRINGS: &[(&str, &str, &str)] = &[
    ("app.name", "运维", "yunwei"),
    ("app.tagline", "IT 系统运维服务管理", "IT operation & maintenance service management"),
    ("nav.home", "工作台", "Home"),
    ("nav.orgs", "组织", "Organizations"),
    ("nav.users", "用户", "Users"),
    ("nav.teams", "团队", "Teams"),
    ("nav.tokens", "API 令牌", "API tokens"),
    ("nav.audit", "审计日志", "Audit log"),
    ("nav.api", "API 文档", "API docs"),
    ("nav.profile", "个人资料", "Profile"),
    ("nav.logout", "退出登录", "Sign out"),
    ("nav.admin", "系统管理", "Administration"),
    ("lang.other", "English", "中文"),
    ("lang.other_code", "en", "zh-CN"),
    ("login.title", "登录", "Sign in"),
    ("login.username", "用户名", "Username"),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Sign in"),
    ("common.save", "保存", "Save"),
    ("common.create", "创建", "Create"),
    ("common.name", "名称", "Name"),
    ("common.code", "编码", "Code"),
    ("common.contact", "联系方式", "Contact"),
    ("common.kind", "类型", "Kind"),
    ("common.status", "状态", "Status"),
    ("common.enabled", "启用", "Enabled"),
    ("common.disabled", "已停用", "Disabled"),
    ("common.disable", "停用", "Disable"),
    ("common.created_at", "创建时间", "Created"),
    ("common.none", "（无）", "(none)"),
    ("common.filter", "筛选", "Filter"),
    ("common.next_page", "下一页", "Next page"),
    ("common.description", "说明", "Description"),
    ("common.details", "详情", "Details"),
    ("common.empty", "暂无记录", "Nothing here yet"),
    ("common.all", "全部", "All"),
    ("common.all_orgs", "全部组织", "All organizations"),
    ("common.all_roles", "全部角色", "All roles"),
    ("common.request_id", "请求编号", "Request id"),
    ("common.error", "出错了", "Something went wrong"),
    ("common.home_link", "返回工作台", "Back to home"),
    ("flash.saved", "已保存", "Saved"),
    ("flash.created", "已创建", "Created"),
    ("org.kind.provider", "服务方", "Provider"),
    ("org.kind.customer", "客户", "Customer"),
    ("org.new", "新建客户组织", "New customer organization"),
    ("org.edit", "编辑组织", "Edit organization"),
    ("org.departments", "部门", "Departments"),
    ("org.users", "该组织的用户", "Users of this organization"),
    ("dept.new", "新建部门", "New department"),
    ("dept.parent", "上级部门", "Parent department"),
    ("user.new", "新建用户", "New user"),
    ("user.edit", "编辑用户", "Edit user"),
    ("user.username", "用户名", "Username"),
    ("user.display_name", "姓名", "Display name"),
    ("user.email", "电子邮箱", "E-mail"),
    ("user.phone", "电话", "Phone"),
    ("user.role", "角色", "Role"),
    ("user.org", "组织", "Organization"),
    ("user.department", "部门", "Department"),
    ("user.password", "初始密码（至少 10 个字符）", "Initial password (at least 10 characters)"),
    ("user.reset_password", "重置密码", "Reset password"),
    ("user.new_password", "新密码", "New password"),
    ("user.search", "按用户名或姓名搜索", "Search by username or name"),
    ("team.new", "新建团队", "New team"),
    ("team.edit", "编辑团队", "Edit team"),
    ("team.members", "成员", "Members"),
    ("team.add_member", "添加成员", "Add member"),
    ("team.remove", "移除", "Remove"),
    ("token.new", "新建 API 令牌", "New API token"),
    ("token.name", "令牌名称", "Token name"),
    ("token.expires_days", "有效天数（留空为永久）", "Valid for days (empty: no expiry)"),
    ("token.shown_once", "请立即复制此令牌，它只显示这一次：", "Copy this token now; it is shown only once:"),
    ("token.prefix", "前缀", "Prefix"),
    ("token.owner", "所属用户", "Owner"),
    ("token.last_used", "最近使用", "Last used"),
    ("token.expires", "到期", "Expires"),
    ("token.revoke", "吊销", "Revoke"),
    ("token.revoked", "已吊销", "Revoked"),
    ("token.never", "从不", "never"),
    ("audit.verify", "校验哈希链", "Verify the hash chain"),
    ("audit.intact", "审计日志完整：哈希链校验通过，条目数", "The audit log is intact: hash chain verified, entries"),
    ("audit.broken", "审计日志被篡改：", "The audit log was tampered with:"),
    ("audit.seq", "序号", "#"),
    ("audit.at", "时间", "Time"),
    ("audit.actor", "操作人", "Actor"),
    ("audit.action", "操作", "Action"),
    ("audit.entity", "对象", "Record"),
    ("audit.ip", "来源地址", "From"),
    ("audit.changes", "变更内容", "Changes"),
    ("audit.since", "起始时间", "Since"),
    ("audit.until", "截止时间", "Until"),
    ("audit.before", "变更前", "Before"),
    ("audit.after", "变更后", "After"),
    ("profile.change_password", "修改密码", "Change password"),
    ("profile.current_password", "当前密码", "Current password"),
    ("profile.new_password", "新密码（至少 10 个字符）", "New password (at least 10 characters)"),
    ("profile.language", "界面语言", "Interface language"),
    ("profile.password_changed", "密码已修改，其他会话已退出", "Password changed; your other sessions were ended"),
    ("home.welcome", "欢迎", "Welcome"),
    ("home.orgs", "客户组织", "Customer organizations"),
    ("home.users", "用户", "Users"),
    ("home.teams", "团队", "Teams"),
    ("home.intro", "本系统依据 DB21/T 1799.3《IT 系统运维》建设。服务台、配置管理等模块将陆续上线。", "yunwei implements DB21/T 1799.3 \"IT system operation and maintenance\". The service desk, CMDB and more arrive next."),
    ("nav.tickets", "工单", "Tickets"),
    ("nav.catalog", "服务目录", "Service catalog"),
    ("nav.reports", "服务台评价", "Desk evaluation"),
    ("eval.intro", "依据 DB21/T 1799.3 第 7.4 条，从可用性（响应、处理、人员素质）、技术能力与用户满意度评价服务台；统计所选期间内创建的工单（按北京时间，含起始日、不含结束日）。", "Evaluates the service desk per clause 7.4 of DB21/T 1799.3 on availability (response, handling, staff quality), technical capability and user satisfaction, over the tickets created in the period (China time, start day included, end day excluded)."),
    ("eval.from", "起始日", "From"),
    ("eval.to", "结束日（不含）", "To (exclusive)"),
    ("eval.team", "团队", "Team"),
    ("eval.all_teams", "全部团队", "All teams"),
    ("eval.show", "统计", "Evaluate"),
    ("eval.export_csv", "导出 CSV", "Export CSV"),
    ("eval.export_xlsx", "导出 Excel", "Export Excel"),
    ("eval.availability", "可用性与处理质量", "Availability and handling"),
    ("eval.tickets", "工单总数", "Tickets"),
    ("eval.response_median", "响应时间中位数", "Median response time"),
    ("eval.resolution_median", "解决时间中位数", "Median resolution time"),
    ("eval.minutes", "分钟", "minutes"),
    ("eval.fcr", "一次解决率", "First-contact resolution"),
    ("eval.reopen", "重开率", "Reopen rate"),
    ("eval.escalation", "升级率", "Escalation rate"),
    ("eval.auto_confirm", "自动确认占比", "Auto-confirmed"),
    ("eval.chart_kinds", "各类工单数量", "Tickets by kind"),
    ("eval.chart_sla", "解决时限达成率", "Resolution SLA attainment"),
    ("eval.chart_satisfaction", "满意度评分分布", "Satisfaction ratings"),
    ("eval.by_kind_status", "按类型与状态", "By kind and status"),
    ("eval.count", "工单数", "Tickets"),
    ("eval.sla", "SLA 达成情况", "SLA attainment"),
    ("eval.sla_response", "响应达成率", "Response attainment"),
    ("eval.sla_resolution", "解决达成率", "Resolution attainment"),
    ("eval.satisfaction", "用户满意度", "User satisfaction"),
    ("eval.sat_average", "满意度平均分", "Average rating"),
    ("eval.sat_rate", "评价率（已评价/已关闭）", "Rating rate (rated / closed)"),
    ("eval.feedback", "用户反馈", "Feedback"),
    ("eval.agents", "坐席与工程师", "Agents and engineers"),
    ("eval.assigned", "分派工单数", "Assigned"),
    ("eval.resolved", "已解决", "Resolved"),
    ("eval.teams", "团队", "Teams"),
    ("eval.staff", "人员素质与技术能力", "Staff quality and technical capability"),
    ("eval.staff_intro", "技能为当前记录；证书按期间最后一天是否有效统计；培训学时为期间内完成的培训。", "Skills as currently recorded; certifications valid on the period's last day; training hours completed in the period."),
    ("eval.skills", "技能数", "Skills"),
    ("eval.avg_level", "平均技能等级", "Average skill level"),
    ("eval.valid_certs", "有效证书", "Valid certifications"),
    ("eval.training_hours", "培训学时", "Training hours"),
    ("sla.response", "响应时限", "Response"),
    ("sla.resolution", "解决时限", "Resolution"),
    ("sla.due", "到期", "due"),
    ("sla.state.running", "计时中", "running"),
    ("sla.state.paused", "已暂停", "paused"),
    ("sla.state.met", "已达成", "met"),
    ("sla.state.breached", "已超时", "breached"),
    ("sla.state.stopped", "已停止", "stopped"),
    ("catalog.intro", "依据 DB21/T 1799.3 第 5、6 章预置的服务类型与服务内容；可按需调整。", "Service types and contents seeded from clauses 5 and 6 of DB21/T 1799.3; adjust as needed."),
    ("catalog.clause", "条款", "Clause"),
    ("nav.announcements", "公告", "Announcements"),
    ("ann.intro", "发布与服务相关的信息：计划维护、服务中断与通知（R-7.2c）。", "Service-related information: planned maintenance, outages and notices (R-7.2c)."),
    ("ann.time_note", "时间均为北京时间。", "Times are China Standard Time (UTC+8)."),
    ("ann.kind.maintenance", "计划维护", "Planned maintenance"),
    ("ann.kind.outage", "服务中断", "Outage"),
    ("ann.kind.notice", "通知", "Notice"),
    ("ann.new", "发布公告", "New announcement"),
    ("ann.title", "标题", "Title"),
    ("ann.body", "内容", "Details"),
    ("ann.starts_at", "开始时间", "Starts"),
    ("ann.ends_at", "结束时间（留空为不限）", "Ends (empty: open-ended)"),
    ("ann.open_ended", "不限", "open-ended"),
    ("ann.affected", "受影响的服务", "Affected services"),
    ("ann.audience", "发布范围", "Audience"),
    ("ann.audience_all", "全部组织", "All organizations"),
    ("ann.orgs", "指定组织（未选“全部组织”时）", "Selected organizations (when not all)"),
    ("ann.draft", "草稿", "Draft"),
    ("ann.publish", "发布", "Publish"),
    ("ann.unpublish", "撤回", "Withdraw"),
    ("ann.publish_now", "立即发布", "Publish now"),
    ("ann.current", "当前公告", "Current announcements"),
    ("ann.current_tag", "进行中或即将开始", "In force or upcoming"),
    ("class.basic", "基础服务", "Basic services"),
    ("class.performance", "性能优化服务", "Performance optimisation"),
    ("class.value_added", "增值服务", "Value-added services"),
    ("class.new_concept", "新概念运维", "New-concept O&M"),
    ("class.new_technology", "新技术运维", "New-technology O&M"),
    ("ticket.new", "提交工单", "New ticket"),
    ("ticket.number", "编号", "Number"),
    ("ticket.subject", "标题", "Subject"),
    ("ticket.description", "描述", "Description"),
    ("ticket.kind", "类型", "Kind"),
    ("ticket.status", "状态", "Status"),
    ("ticket.priority", "优先级", "Priority"),
    ("ticket.org", "组织", "Organization"),
    ("ticket.requester", "提交人", "Requester"),
    ("ticket.team", "处理团队", "Team"),
    ("ticket.assignee", "处理人", "Assignee"),
    ("ticket.channel", "渠道", "Channel"),
    ("ticket.category", "分类", "Category"),
    ("ticket.created", "提交时间", "Submitted"),
    ("ticket.resolution", "解决方案", "Resolution"),
    ("ticket.timeline", "处理记录", "Timeline"),
    ("ticket.reply", "回复", "Reply"),
    ("ticket.internal", "内部备注（客户不可见）", "Internal note (hidden from the customer)"),
    ("ticket.send", "发送", "Send"),
    ("ticket.mine", "分派给我的", "Assigned to me"),
    ("ticket.queue", "按优先级排队", "Queue order"),
    ("ticket.open_only", "仅未关闭", "Open only"),
    ("ticket.search", "搜索编号、标题或描述", "Search number, subject or description"),
    ("ticket.impact", "影响与紧急程度", "Impact and urgency"),
    ("ticket.criticality", "业务重要性", "Business criticality"),
    ("ticket.breadth", "影响范围", "Breadth"),
    ("ticket.urgency", "紧急程度", "Urgency"),
    ("ticket.unset", "（未定）", "(not set)"),
    ("ticket.actions", "处理", "Work"),
    ("ticket.do.triage", "分类定级并分派", "Classify, prioritise and assign"),
    ("ticket.do.start", "开始处理", "Start work"),
    ("ticket.do.pend", "挂起", "Put on hold"),
    ("ticket.do.resume", "恢复处理", "Resume"),
    ("ticket.do.resolve", "标记已解决", "Mark resolved"),
    ("ticket.do.confirm", "确认已解决", "Confirm it is resolved"),
    ("ticket.do.reject", "未解决，退回", "Not resolved: reopen"),
    ("ticket.do.cancel", "撤销工单", "Cancel the ticket"),
    ("ticket.note", "说明", "Note"),
    ("ticket.reject_reason", "退回原因", "Why it is not resolved"),
    ("ticket.override", "人工调整优先级", "Override priority"),
    ("ticket.reason", "理由", "Reason"),
    ("ticket.rate", "满意度评价", "Rate the service"),
    ("ticket.score", "评分（1–5）", "Score (1–5)"),
    ("ticket.comment", "意见", "Comment"),
    ("ticket.rated", "满意度", "Satisfaction"),
    ("ticket.auto_confirmed", "（超时自动确认）", "(auto-confirmed)"),
    ("ticket.reopened", "退回次数", "Reopened"),
    ("ticket.subtasks", "子任务", "Sub-tasks"),
    ("ticket.new_subtask", "分解子任务", "Add a sub-task"),
    ("ticket.parent", "上级工单", "Parent ticket"),
    ("ticket.awaiting_you", "请确认处理结果：问题是否已解决？", "Please confirm: is the problem solved?"),
    ("kind.incident", "事件（故障）", "Incident"),
    ("kind.request", "服务请求", "Service request"),
    ("kind.complaint", "投诉", "Complaint"),
    ("kind.opinion", "意见", "Opinion"),
    ("kind.suggestion", "建议", "Suggestion"),
    ("status.new", "新建", "New"),
    ("status.assigned", "已分派", "Assigned"),
    ("status.in_progress", "处理中", "In progress"),
    ("status.pending", "挂起", "Pending"),
    ("status.resolved", "待确认", "Awaiting confirmation"),
    ("status.closed", "已关闭", "Closed"),
    ("status.cancelled", "已取消", "Cancelled"),
    ("sub.waiting_customer", "等待客户", "Waiting for the customer"),
    ("sub.waiting_vendor", "等待厂商", "Waiting for a vendor"),
    ("sub.waiting_change", "等待变更", "Waiting for a change"),
    ("criticality.general", "一般业务", "General business"),
    ("criticality.critical", "关键业务", "Critical business"),
    ("breadth.one_department", "单个部门", "One department"),
    ("breadth.several_departments", "多个部门", "Several departments"),
    ("breadth.whole_organization", "整个单位", "The whole organization"),
    ("urgency.high", "高", "High"),
    ("urgency.medium", "中", "Medium"),
    ("urgency.low", "低", "Low"),
    ("channel.portal", "门户", "Portal"),
    ("channel.phone", "电话", "Phone"),
    ("channel.email", "电子邮件", "E-mail"),
    ("channel.api", "接口", "API"),
    ("channel.monitoring", "监控", "Monitoring"),
    ("event.created", "提交了工单", "submitted the ticket"),
    ("event.triage", "分类定级并分派", "classified, prioritised and assigned"),
    ("event.start", "开始处理", "started work"),
    ("event.pend", "挂起", "put the ticket on hold"),
    ("event.resume", "恢复处理", "resumed work"),
    ("event.resolve", "标记已解决", "marked it resolved"),
    ("event.confirm", "确认已解决", "confirmed the resolution"),
    ("event.reject", "退回（未解决）", "reopened it (not resolved)"),
    ("event.auto_confirm", "超时自动确认", "auto-confirmed it"),
    ("event.cancel", "撤销了工单", "cancelled the ticket"),
    ("event.reply", "回复", "replied"),
    ("event.note", "内部备注", "added an internal note"),
    ("event.priority", "调整优先级", "overrode the priority"),
    ("event.satisfaction", "评价了服务", "rated the service"),
    ("event.subtask", "分解子任务", "added a sub-task"),
];

/// Strings of one language.
#[derive(Debug, Clone, Copy)]
pub struct T(pub Lang);

impl T {
    pub fn t(&self, key: &str) -> &'static str {
        match STRINGS.iter().find(|(k, ..)| *k == key) {
            Some((_, zh, en)) => match self.0 {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => {
                tracing::warn!("missing UI string {key}");
                "?"
            }
        }
    }

    pub fn lang(&self) -> &'static str {
        self.0.tag()
    }

    /// The label of an enumerated value, e.g. `v("status", "new")` → 新建.
    pub fn v(&self, group: &str, value: &str) -> &'static str {
        let key = format!("{group}.{value}");
        match STRINGS.iter().find(|(k, ..)| *k == key) {
            Some((_, zh, en)) => match self.0 {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => "",
        }
    }

    pub fn role(&self, role: &str) -> &'static str {
        match (yunwei_domain::Role::parse(role), self.0) {
            (Some(r), Lang::Zh) => r.label_zh(),
            (Some(r), Lang::En) => r.label_en(),
            (None, _) => "?",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_bilingual() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in STRINGS {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
    }

    #[test]
    fn every_enumerated_value_has_a_label() {
        use yunwei_domain::ticket::{Kind, Status};
        for k in Kind::ALL {
            assert!(!T(Lang::Zh).v("kind", k.as_str()).is_empty(), "{k:?}");
        }
        for s in Status::ALL {
            assert!(!T(Lang::En).v("status", s.as_str()).is_empty(), "{s:?}");
        }
        for (g, vals) in [
            ("criticality", &["general", "critical"][..]),
            (
                "breadth",
                &[
                    "one_department",
                    "several_departments",
                    "whole_organization",
                ][..],
            ),
            ("urgency", &["high", "medium", "low"][..]),
            (
                "channel",
                &["portal", "phone", "email", "api", "monitoring"][..],
            ),
            (
                "sub",
                &["waiting_customer", "waiting_vendor", "waiting_change"][..],
            ),
            (
                "event",
                &[
                    "created",
                    "triage",
                    "start",
                    "pend",
                    "resume",
                    "resolve",
                    "confirm",
                    "reject",
                    "auto_confirm",
                    "cancel",
                    "reply",
                    "note",
                    "priority",
                    "satisfaction",
                    "subtask",
                ][..],
            ),
        ] {
            for v in vals {
                assert!(!T(Lang::Zh).v(g, v).is_empty(), "{g}.{v}");
            }
        }
    }

    #[test]
    fn every_key_used_by_a_template_exists() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).expect("templates dir") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read template");
            for piece in text.split("t(\"").skip(1) {
                let key = piece.split('"').next().unwrap_or("");
                assert!(
                    STRINGS.iter().any(|(k, ..)| *k == key),
                    "{} uses missing key {key}",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} keys found in templates");
    }
}
