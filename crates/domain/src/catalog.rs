//! The service catalog seeded from the standard (R-5.1, R-5.2, R-6.x): every service type and
//! every service content item of §5–§6, with its class and clause, in Chinese and English.

use serde::{Deserialize, Serialize};

/// The class of a catalog item (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 基础服务 (§5.2.1a, §6.2)
    Basic,
    /// 性能优化服务 (§5.2.1b, §6.3)
    Performance,
    /// 增值服务 (§5.2.1c, §6.4)
    ValueAdded,
    /// 新概念运维 (§5.2.2)
    NewConcept,
    /// 新技术运维 (§5.2.3)
    NewTechnology,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::Basic,
        Class::Performance,
        Class::ValueAdded,
        Class::NewConcept,
        Class::NewTechnology,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Basic => "basic",
            Class::Performance => "performance",
            Class::ValueAdded => "value_added",
            Class::NewConcept => "new_concept",
            Class::NewTechnology => "new_technology",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One seeded item: code (unique, stable), clause, class, Chinese and English names.
pub struct Seed {
    pub code: &'static str,
    pub clause: &'static str,
    pub class: Class,
    pub name_zh: &'static str,
    pub name_en: &'static str,
}

const fn s(
    code: &'static str,
    clause: &'static str,
    class: Class,
    name_zh: &'static str,
    name_en: &'static str,
) -> Seed {
    Seed {
        code,
        clause,
        class,
        name_zh,
        name_en,
    }
}

use Class::*;

/// Every service type and content item of §5–§6.
pub const SEED: &[Seed] = &[
    s("5.1a-monitoring", "5.1a", Basic, "系统运行监测和预警", "Operation monitoring and early warning"),
    s("5.1a-emergency", "5.1a", Basic, "应急故障处理", "Emergency fault handling"),
    s("5.1a-support", "5.1a", Basic, "运行维护组织、人员与制度保障", "O&M organization, staffing and rules"),
    s("6.2.1", "6.2.1", Basic, "规划设计评审", "Planning and design review"),
    s("6.2.2", "6.2.2", Basic, "信息资源管理", "Information resources"),
    s("6.2.3.1", "6.2.3.1", Basic, "机房管理和维护", "Machine room management and maintenance"),
    s("6.2.3.2", "6.2.3.2", Basic, "布线、门禁及监控系统管理和维护", "Cabling, access control and video surveillance maintenance"),
    s("6.2.4", "6.2.4", Basic, "网络基础设施管理和维护", "Network infrastructure management and maintenance"),
    s("6.2.5", "6.2.5", Basic, "系统平台管理（操作系统、数据库、中间件）", "System platform management (OS, database, middleware)"),
    s("6.2.6", "6.2.6", Basic, "应用系统管理和维护", "Application system management and maintenance"),
    s("6.2.7.2", "6.2.7.2", Basic, "数据存储设施管理和维护", "Data storage facilities"),
    s("6.2.7.3", "6.2.7.3", Basic, "数据安全性管理和维护", "Data security management"),
    s("6.2.7.4", "6.2.7.4", Basic, "媒介安全性管理和维护", "Media security management"),
    s("6.2.7-backup", "6.2.7", Basic, "数据备份、容灾与恢复", "Data backup, disaster recovery and restore"),
    s("6.2.8.1", "6.2.8.1", Basic, "物理与运行安全（含补丁管理）", "Physical and operational security (incl. patch management)"),
    s("6.2.8.2", "6.2.8.2", Basic, "安全风险评估", "Security risk assessment"),
    s("6.2.8.3", "6.2.8.3", Basic, "安全策略与信息安全教育", "Security policy and security education"),
    s("6.2.8.4", "6.2.8.4", Basic, "安全级别（GB 17859）管理", "Security level management (GB 17859)"),
    s("6.2.8.5", "6.2.8.5", Basic, "安全机制（加密、访问控制、认证、完整性、签名）", "Security mechanisms (encryption, access control, authentication, integrity, signatures)"),
    s("6.2.8.6", "6.2.8.6", Basic, "安全数据交换", "Secure data exchange"),
    s("6.2.8.7", "6.2.8.7", Basic, "病毒防护", "Virus protection"),
    s("6.2.9", "6.2.9", Basic, "子网管理和维护", "Subnet management and maintenance"),
    s("6.2.10", "6.2.10", Basic, "桌面（个人终端）管理", "Desktop (personal terminal) management"),
    s("6.2.11", "6.2.11", Basic, "标准化日常操作管理", "Standardised daily operations"),
    s("6.3.1", "6.3.1", Performance, "环境评估", "Environment assessment"),
    s("6.3.2", "6.3.2", Performance, "基础平台性能评估", "Base platform performance assessment"),
    s("6.3.3", "6.3.3", Performance, "软件系统性能评估", "Software system performance assessment"),
    s("6.3.4", "6.3.4", Performance, "数据管理和通信安全评估", "Data management and communication security assessment"),
    s("6.3.5", "6.3.5", Performance, "系统整体安全性能评估", "Overall system security assessment"),
    s("6.3.6", "6.3.6", Performance, "系统安全平台性能评估", "Security platform performance assessment"),
    s("6.3.7", "6.3.7", Performance, "业务整合", "Business integration"),
    s("6.4.1", "6.4.1", ValueAdded, "规划管理", "Planning management"),
    s("6.4.2", "6.4.2", ValueAdded, "可用性管理", "Availability management"),
    s("6.4.3", "6.4.3", ValueAdded, "核心应用管理", "Core application management"),
    s("6.4.4", "6.4.4", ValueAdded, "深度安全分析与安全管理", "In-depth security analysis and management"),
    s("6.4.5", "6.4.5", ValueAdded, "投资保护（TCO 分析）", "Investment protection (TCO analysis)"),
    s("6.4.6", "6.4.6", ValueAdded, "系统运营策略和应用拓展", "Operations strategy and application expansion"),
    s("5.2.2a", "5.2.2a", NewConcept, "融合服务集成的 IT 系统运行维护", "O&M of IT systems integrating converged services"),
    s("5.2.2b", "5.2.2b", NewConcept, "多学科、多领域融合的场地与环境运维", "Site and environment O&M across disciplines and domains"),
    s("5.2.3a", "5.2.3a", NewTechnology, "信息资源（大数据、云服务、物联网）梳理、分析、整合与优化", "Information resources (big data, cloud, IoT): sorting, analysis, integration, optimisation"),
    s("5.2.3b", "5.2.3b", NewTechnology, "复合型知识技能的规范化、科学化与专业化", "Standardising compound knowledge and skills"),
    s("5.2.3c", "5.2.3c", NewTechnology, "复合型 IT 系统运行维护", "O&M of compound IT systems"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_codes_are_unique_and_every_clause_of_6_is_covered() {
        let mut codes: Vec<&str> = SEED.iter().map(|x| x.code).collect();
        codes.sort();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n);
        for clause in [
            "6.2.1", "6.2.2", "6.2.3.1", "6.2.3.2", "6.2.4", "6.2.5", "6.2.6", "6.2.7.2",
            "6.2.7.3", "6.2.7.4", "6.2.8.1", "6.2.8.2", "6.2.8.3", "6.2.8.4", "6.2.8.5", "6.2.8.6",
            "6.2.8.7", "6.2.9", "6.2.10", "6.2.11", "6.3.1", "6.3.2", "6.3.3", "6.3.4", "6.3.5",
            "6.3.6", "6.3.7", "6.4.1", "6.4.2", "6.4.3", "6.4.4", "6.4.5", "6.4.6", "5.2.2a",
            "5.2.2b", "5.2.3a", "5.2.3b", "5.2.3c",
        ] {
            assert!(SEED.iter().any(|x| x.clause == clause), "{clause} missing");
        }
        for c in Class::ALL {
            assert!(SEED.iter().any(|x| x.class == c), "{c:?} has no item");
        }
        assert!(SEED
            .iter()
            .all(|x| !x.name_zh.is_empty() && x.name_en.is_ascii()));
    }
}
