//! Who may do what: the one table in code (docs/permissions.md is generated from it and a
//! test keeps the two equal).
//!
//! Two questions are asked of every read and write, in the service layer:
//! 1. may this role perform this action at all ([`permits`]);
//! 2. which organizations' records may it touch ([`Role::scope`]): customers only their own,
//!    everybody else all. A record outside the scope answers exactly like a missing one.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Agent,
    Engineer,
    Customer,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Manager,
        Role::Agent,
        Role::Engineer,
        Role::Customer,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::Engineer => "engineer",
            Role::Customer => "customer",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Admin => "管理员",
            Role::Manager => "经理",
            Role::Agent => "服务台坐席",
            Role::Engineer => "工程师",
            Role::Customer => "客户",
            Role::Auditor => "审计员",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::Manager => "Manager",
            Role::Agent => "Service-desk agent",
            Role::Engineer => "Engineer",
            Role::Customer => "Customer",
            Role::Auditor => "Auditor",
        }
    }

    /// Staff roles belong to the provider organization; the customer role to a customer
    /// organization.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Customer)
    }

    /// Which organizations' records a user of this role may see.
    pub fn scope(self, own_org: Uuid) -> Scope {
        match self {
            Role::Customer => Scope::Org(own_org),
            _ => Scope::All,
        }
    }
}

/// The organizations whose records a caller may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Org(Uuid),
}

impl Scope {
    pub fn allows(self, org: Uuid) -> bool {
        match self {
            Scope::All => true,
            Scope::Org(o) => o == org,
        }
    }
    /// The organization to filter queries by, if any.
    pub fn org_filter(self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::Org(o) => Some(o),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read organizations and their departments (customers: their own only).
    OrgRead,
    /// Create, rename and change organizations and departments.
    OrgWrite,
    /// Read the user directory (customers: their own organization only).
    UserRead,
    /// Create users, change their role, organization, department, enable or disable them,
    /// reset their password.
    UserWrite,
    /// Read teams (support groups) and their members.
    TeamRead,
    /// Create and change teams and their members.
    TeamWrite,
    /// Create, list and revoke one's own API tokens.
    TokenOwn,
    /// List and revoke anybody's API tokens.
    TokenAll,
    /// Browse and verify the audit log.
    AuditRead,
    /// Read the Prometheus metrics.
    MetricsRead,
    /// Read tickets (customers: their organization's, without internal notes).
    TicketRead,
    /// Submit tickets (customers: for their own organization).
    TicketCreate,
    /// Work tickets: classify, prioritise, assign, pend, resolve, internal notes.
    TicketWork,
    /// Override the priority the matrix gives, with a reason.
    TicketPriorityOverride,
    /// Read business calendars and SLA policies.
    SlaRead,
    /// Create and change business calendars and SLA policies.
    SlaWrite,
    /// Read the service catalog and service agreements (customers: their own agreements).
    CatalogRead,
    /// Change the catalog and agreements.
    CatalogWrite,
    /// Manage notification channels (e-mail server, webhooks, WeCom / DingTalk / Feishu
    /// robots) and the outbound address policy.
    NotifyAdmin,
    /// Read the service desk evaluation and the staff quality records (skills,
    /// certifications, trainings).
    EvaluationRead,
    /// Write and publish announcements (planned maintenance, outages, notices). Reading them
    /// follows `CatalogRead` (customers: published ones addressed to their organization).
    AnnouncementWrite,
    /// Read the CMDB: configuration items, relations, impact, availability (customers: their
    /// own organization's items only).
    CmdbRead,
    /// Create and change configuration items, their relations and patch records, import them.
    CmdbWrite,
    /// Extend the CMDB schema: add classes and attributes.
    CmdbSchema,
    /// Define the sub-statuses of the ticket flow's phases and whether they stop the SLA clock.
    SubStatusWrite,
    /// Read monitoring alerts and alert sources (never their secrets).
    AlertRead,
    /// Create, change, disable alert sources and renew their credentials.
    AlertSourceWrite,
}

/// The permission table: action, description (zh, en), roles allowed.
pub const TABLE: &[(Action, &str, &str, &[Role])] = {
    use Role::*;
    &[
        (
            Action::OrgRead,
            "查看组织与部门",
            "Read organizations and departments",
            &[Admin, Manager, Agent, Engineer, Customer, Auditor],
        ),
        (
            Action::OrgWrite,
            "管理组织与部门",
            "Manage organizations and departments",
            &[Admin, Manager],
        ),
        (
            Action::UserRead,
            "查看用户",
            "Read users",
            &[Admin, Manager, Agent, Engineer, Customer, Auditor],
        ),
        (Action::UserWrite, "管理用户", "Manage users", &[Admin]),
        (
            Action::TeamRead,
            "查看团队",
            "Read teams",
            &[Admin, Manager, Agent, Engineer, Auditor],
        ),
        (
            Action::TeamWrite,
            "管理团队",
            "Manage teams",
            &[Admin, Manager],
        ),
        (
            Action::TokenOwn,
            "管理自己的 API 令牌",
            "Manage one's own API tokens",
            &[Admin, Manager, Agent, Engineer, Customer, Auditor],
        ),
        (
            Action::TokenAll,
            "管理所有 API 令牌",
            "Manage everybody's API tokens",
            &[Admin],
        ),
        (
            Action::AuditRead,
            "查看审计日志",
            "Read the audit log",
            &[Admin, Auditor],
        ),
        (
            Action::MetricsRead,
            "查看运行指标",
            "Read the metrics",
            &[Admin, Auditor],
        ),
        (
            Action::TicketRead,
            "查看工单",
            "Read tickets",
            &[Admin, Manager, Agent, Engineer, Customer, Auditor],
        ),
        (
            Action::TicketCreate,
            "提交工单",
            "Submit tickets",
            &[Admin, Manager, Agent, Engineer, Customer],
        ),
        (
            Action::TicketWork,
            "处理工单（分类、定级、分派、解决、内部备注）",
            "Work tickets (classify, prioritise, assign, resolve, internal notes)",
            &[Admin, Manager, Agent, Engineer],
        ),
        (
            Action::TicketPriorityOverride,
            "人工调整优先级（须填写理由）",
            "Override priority (with a reason)",
            &[Admin, Manager, Agent],
        ),
        (
            Action::SlaRead,
            "查看工作日历与 SLA 策略",
            "Read business calendars and SLA policies",
            &[Admin, Manager, Agent, Engineer, Auditor],
        ),
        (
            Action::SlaWrite,
            "管理工作日历与 SLA 策略",
            "Manage business calendars and SLA policies",
            &[Admin, Manager],
        ),
        (
            Action::CatalogRead,
            "查看服务目录与服务协议",
            "Read the service catalog and agreements",
            &[Admin, Manager, Agent, Engineer, Customer, Auditor],
        ),
        (Action::CatalogWrite, "管理服务目录与服务协议", "Manage the service catalog and agreements", &[Admin, Manager]),
        (
            Action::NotifyAdmin,
            "管理通知渠道（邮件服务器、Webhook、企业微信/钉钉/飞书机器人）",
            "Manage notification channels (mail server, webhooks, WeCom / DingTalk / Feishu robots)",
            &[Admin],
        ),
        (
            Action::EvaluationRead,
            "查看服务台评价与人员素质记录",
            "Read the service desk evaluation and staff quality records",
            &[Admin, Manager, Auditor],
        ),
        (
            Action::AnnouncementWrite,
            "发布服务公告（计划维护、故障、通知）",
            "Publish announcements (planned maintenance, outages, notices)",
            &[Admin, Manager, Agent],
        ),
        (
            Action::CmdbRead,
            "查看配置管理数据库（客户仅限本单位的配置项）",
            "Read the CMDB (customers: their own organization's items)",
            &[Admin, Manager, Agent, Engineer, Customer, Auditor],
        ),
        (
            Action::CmdbWrite,
            "维护配置项、关系与补丁记录，导入配置项",
            "Maintain configuration items, relations and patch records; import them",
            &[Admin, Engineer],
        ),
        (
            Action::CmdbSchema,
            "扩展配置项类别与属性",
            "Extend configuration item classes and attributes",
            &[Admin],
        ),
        (
            Action::SubStatusWrite,
            "管理工单子状态（是否暂停 SLA 计时）",
            "Manage ticket sub-statuses (and whether they pause the SLA clock)",
            &[Admin],
        ),
        (
            Action::AlertRead,
            "查看监控告警与告警源",
            "Read monitoring alerts and alert sources",
            &[Admin, Manager, Agent, Engineer, Auditor],
        ),
        (
            Action::AlertSourceWrite,
            "管理告警源（接入监控系统、更换密钥、停用）",
            "Manage alert sources (connect monitoring systems, renew secrets, disable)",
            &[Admin, Manager],
        ),
    ]
};

/// May a user of this role perform the action at all?
pub fn permits(role: Role, action: Action) -> bool {
    TABLE
        .iter()
        .find(|(a, ..)| *a == action)
        .map(|(_, _, _, roles)| roles.contains(&role))
        .unwrap_or(false)
}

/// The table as Markdown (docs/permissions.md is this text).
pub fn table_markdown() -> String {
    let mut s = String::from(
        "# 权限表 / Permissions\n\n\
         Generated from `crates/domain/src/authz.rs` (a test keeps this file equal to the code).\n\
         Scope: customers see only their own organization's records; a record of another\n\
         organization answers exactly like a missing one (404). Every other role sees all\n\
         organizations. Auditors may read everything and change nothing but their own tokens.\n\n",
    );
    s.push_str("| action | 操作 |");
    for r in Role::ALL {
        s.push_str(&format!(" {} |", r.as_str()));
    }
    s.push_str("\n|---|---|");
    for _ in Role::ALL {
        s.push_str("---|");
    }
    s.push('\n');
    for (action, zh, en, _) in TABLE {
        s.push_str(&format!("| {en} | {zh} |"));
        for r in Role::ALL {
            s.push_str(if permits(r, *action) { " ✓ |" } else { " |" });
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_in_the_table_once() {
        let all = [
            Action::OrgRead,
            Action::OrgWrite,
            Action::UserRead,
            Action::UserWrite,
            Action::TeamRead,
            Action::TeamWrite,
            Action::TokenOwn,
            Action::TokenAll,
            Action::AuditRead,
            Action::MetricsRead,
            Action::TicketRead,
            Action::TicketCreate,
            Action::TicketWork,
            Action::TicketPriorityOverride,
            Action::SlaRead,
            Action::SlaWrite,
            Action::CatalogRead,
            Action::CatalogWrite,
            Action::NotifyAdmin,
            Action::EvaluationRead,
            Action::AnnouncementWrite,
            Action::SubStatusWrite,
            Action::CmdbRead,
            Action::CmdbWrite,
            Action::CmdbSchema,
            Action::AlertRead,
            Action::AlertSourceWrite,
        ];
        for a in all {
            assert_eq!(TABLE.iter().filter(|(x, ..)| *x == a).count(), 1, "{a:?}");
        }
    }

    #[test]
    fn auditor_writes_nothing_but_own_tokens() {
        for (a, ..) in TABLE {
            let is_write = matches!(
                a,
                Action::OrgWrite
                    | Action::UserWrite
                    | Action::TeamWrite
                    | Action::TokenAll
                    | Action::SlaWrite
                    | Action::CatalogWrite
                    | Action::NotifyAdmin
                    | Action::AnnouncementWrite
                    | Action::CmdbWrite
                    | Action::CmdbSchema
                    | Action::SubStatusWrite
                    | Action::AlertSourceWrite
                    | Action::TicketCreate
                    | Action::TicketWork
                    | Action::TicketPriorityOverride
            );
            if is_write {
                assert!(!permits(Role::Auditor, *a), "{a:?}");
            }
        }
    }

    #[test]
    fn customer_scope_is_own_org() {
        let o = Uuid::now_v7();
        let other = Uuid::now_v7();
        assert!(Role::Customer.scope(o).allows(o));
        assert!(!Role::Customer.scope(o).allows(other));
        assert!(Role::Agent.scope(o).allows(other));
    }

    #[test]
    fn docs_table_matches_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/permissions.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        if on_disk != table_markdown() {
            if std::env::var("YUNWEI_BLESS").is_ok() {
                std::fs::write(path, table_markdown()).expect("write docs/permissions.md");
            } else {
                panic!("docs/permissions.md differs from the code; run with YUNWEI_BLESS=1 to rewrite it");
            }
        }
    }
}
