//! The configuration management database (R-10.2: identify, integrate, define and classify
//! every resource maintained; §6.2.3–§6.2.10, §5.2.3).
//!
//! Pure rules, no I/O:
//! * the **classes** seeded from the standard, each with a typed attribute schema
//!   ([`SEED`]), in Chinese and English; administrators add classes and attributes later;
//! * **attribute validation** against a schema ([`validate_attributes`]): text, number, date,
//!   enum, boolean, IP address, CIDR network, reference (another CI's external key);
//! * **relation rules** by class category ([`relation_allowed`]);
//! * **impact traversal** over an adjacency map ([`reach`]), cycle-safe;
//! * **availability** over outage intervals and a service calendar ([`availability`]);
//! * the **impact suggestion** for a ticket from the CIs it affects ([`suggest_impact`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::calendar::Calendar;
use crate::error::{DomainError, ErrorCode};

// ---------------------------------------------------------------------------------------------
// Lifecycle, criticality, levels
// ---------------------------------------------------------------------------------------------

/// Lifecycle status of a configuration item.
pub const STATUSES: [&str; 4] = ["planned", "in_use", "maintenance", "retired"];

pub fn status_zh(s: &str) -> &'static str {
    match s {
        "planned" => "规划",
        "in_use" => "在用",
        "maintenance" => "维护中",
        "retired" => "退役",
        _ => "",
    }
}

/// Read a status from its code or its Chinese name.
pub fn parse_status(s: &str) -> Option<&'static str> {
    let s = s.trim();
    STATUSES.into_iter().find(|c| *c == s || status_zh(c) == s)
}

/// Business criticality (R-7.5.1: general or critical business).
pub const CRITICALITIES: [&str; 2] = ["general", "critical"];

pub fn criticality_zh(s: &str) -> &'static str {
    match s {
        "general" => "一般",
        "critical" => "关键",
        _ => "",
    }
}

pub fn parse_criticality(s: &str) -> Option<&'static str> {
    let s = s.trim();
    CRITICALITIES
        .into_iter()
        .find(|c| *c == s || criticality_zh(c) == s)
}

/// Data security levels of storage (R-6.2.7.2e), after the Data Security Law's
/// general / important / core data.
pub const DATA_LEVELS: [&str; 3] = ["general", "important", "core"];

pub fn data_level_zh(s: &str) -> &'static str {
    match s {
        "general" => "一般数据",
        "important" => "重要数据",
        "core" => "核心数据",
        _ => "",
    }
}

pub fn parse_data_level(s: &str) -> Option<&'static str> {
    let s = s.trim();
    DATA_LEVELS
        .into_iter()
        .find(|c| *c == s || data_level_zh(c) == s)
}

/// GB 17859 security protection levels are 1 (user self-protection) … 5 (access verification).
pub fn security_level_ok(level: i64) -> bool {
    (1..=5).contains(&level)
}

/// Longest name of a CI, in characters.
pub const NAME_MAX: usize = 200;
/// Longest external key.
pub const KEY_MAX: usize = 100;
/// Longest free-text field (location, vendor, contract number).
pub const FIELD_MAX: usize = 200;
/// Longest text attribute value.
pub const TEXT_ATTR_MAX: usize = 1000;

/// An external key: 1–100 printable characters without surrounding spaces.
pub fn external_key(s: &str) -> Result<String, DomainError> {
    let v = s.trim();
    if v.is_empty() || v.chars().count() > KEY_MAX || v.chars().any(char::is_control) {
        return Err(DomainError::invalid("external_key"));
    }
    Ok(v.to_string())
}

// ---------------------------------------------------------------------------------------------
// Classes and attribute schemas
// ---------------------------------------------------------------------------------------------

/// What kind of resource a class describes; the relation rules are written over categories,
/// so a class an administrator adds takes part in them through the category it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Spaces that hold equipment: machine rooms, racks.
    Space,
    /// Power supply: UPS, PDU.
    Power,
    /// Other machine-room facilities: cooling, sensors, grounding, fire, cabling, access, video.
    Facility,
    /// Network devices: routers, switches, firewalls, wireless controllers.
    Network,
    /// Address spaces: subnets, VLANs.
    Segment,
    /// Physical servers.
    Server,
    /// Virtualization and cloud clusters.
    Cluster,
    /// Virtual machines, cloud instances.
    Virtual,
    /// Storage arrays, SAN.
    Storage,
    /// Backup systems.
    Backup,
    /// Operating systems, databases, middleware, applications.
    Software,
    /// Business services.
    Service,
    /// Data sets.
    Data,
    /// Desktops, terminals, IoT devices.
    Endpoint,
    /// Security devices.
    Security,
}

impl Category {
    pub const ALL: [Category; 15] = [
        Category::Space,
        Category::Power,
        Category::Facility,
        Category::Network,
        Category::Segment,
        Category::Server,
        Category::Cluster,
        Category::Virtual,
        Category::Storage,
        Category::Backup,
        Category::Software,
        Category::Service,
        Category::Data,
        Category::Endpoint,
        Category::Security,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Space => "space",
            Category::Power => "power",
            Category::Facility => "facility",
            Category::Network => "network",
            Category::Segment => "segment",
            Category::Server => "server",
            Category::Cluster => "cluster",
            Category::Virtual => "virtual",
            Category::Storage => "storage",
            Category::Backup => "backup",
            Category::Software => "software",
            Category::Service => "service",
            Category::Data => "data",
            Category::Endpoint => "endpoint",
            Category::Security => "security",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s.trim())
    }

    /// Things with a physical body (may be located in a room or rack, powered).
    pub fn is_physical(self) -> bool {
        matches!(
            self,
            Category::Space
                | Category::Power
                | Category::Facility
                | Category::Network
                | Category::Server
                | Category::Storage
                | Category::Backup
                | Category::Endpoint
                | Category::Security
        )
    }

    /// Things on a network.
    pub fn is_networked(self) -> bool {
        !matches!(
            self,
            Category::Space | Category::Software | Category::Service | Category::Data
        )
    }
}

/// The type of an attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrKind {
    Text,
    Number,
    Date,
    Enum,
    Bool,
    Ip,
    Cidr,
    /// Another CI's external key (same organization); `options`, when given, lists the class
    /// codes it may point at.
    Reference,
}

impl AttrKind {
    pub const ALL: [AttrKind; 8] = [
        AttrKind::Text,
        AttrKind::Number,
        AttrKind::Date,
        AttrKind::Enum,
        AttrKind::Bool,
        AttrKind::Ip,
        AttrKind::Cidr,
        AttrKind::Reference,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttrKind::Text => "text",
            AttrKind::Number => "number",
            AttrKind::Date => "date",
            AttrKind::Enum => "enum",
            AttrKind::Bool => "bool",
            AttrKind::Ip => "ip",
            AttrKind::Cidr => "cidr",
            AttrKind::Reference => "reference",
        }
    }

    pub fn parse(s: &str) -> Option<AttrKind> {
        AttrKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// One attribute of a class schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrDef {
    pub code: String,
    pub kind: AttrKind,
    pub required: bool,
    /// Enum values, or the class codes a reference may point at.
    pub options: Vec<String>,
}

/// An attribute code: 1–64 of lower-case ASCII letters, digits and `_`, starting with a letter.
pub fn code_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// A seeded attribute.
pub struct SeedAttr {
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub kind: AttrKind,
    pub required: bool,
    pub options: &'static [&'static str],
}

/// A seeded class.
pub struct SeedClass {
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub category: Category,
    /// The clause of the standard the class comes from.
    pub clause: &'static str,
    /// Carries the GB 17859 security protection level (R-6.2.8.4).
    pub has_security_level: bool,
    /// Carries a data security level (R-6.2.7.2e).
    pub has_data_level: bool,
    pub attrs: &'static [SeedAttr],
}

const fn a(
    code: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    kind: AttrKind,
) -> SeedAttr {
    SeedAttr {
        code,
        name_zh,
        name_en,
        kind,
        required: false,
        options: &[],
    }
}

const fn req(mut s: SeedAttr) -> SeedAttr {
    s.required = true;
    s
}

const fn opts(mut s: SeedAttr, options: &'static [&'static str]) -> SeedAttr {
    s.options = options;
    s
}

use AttrKind::{Bool, Cidr, Date, Enum, Ip, Number, Text};

const RACK_POSITION: SeedAttr = a("rack_position", "起始 U 位", "Rack unit (lowest)", Number);
const U_SIZE: SeedAttr = a("u_size", "占用 U 数", "Height (U)", Number);
const MGMT_IP: SeedAttr = a("mgmt_ip", "管理地址", "Management IP", Ip);
const IP: SeedAttr = a("ip_address", "IP 地址", "IP address", Ip);
const MODEL: SeedAttr = a("model", "型号", "Model", Text);
const SERIAL: SeedAttr = a("serial", "序列号", "Serial number", Text);
const FIRMWARE: SeedAttr = a("firmware", "固件版本", "Firmware", Text);
const VERSION: SeedAttr = a("version", "版本", "Version", Text);
const PORT: SeedAttr = a("port", "端口", "Port", Number);

/// The classes seeded from the standard.
pub const SEED: &[SeedClass] = {
    use Category::*;
    const fn c(
        code: &'static str,
        name_zh: &'static str,
        name_en: &'static str,
        category: Category,
        clause: &'static str,
        attrs: &'static [SeedAttr],
    ) -> SeedClass {
        SeedClass {
            code,
            name_zh,
            name_en,
            category,
            clause,
            has_security_level: false,
            has_data_level: false,
            attrs,
        }
    }
    const fn sec(mut s: SeedClass) -> SeedClass {
        s.has_security_level = true;
        s
    }
    const fn data(mut s: SeedClass) -> SeedClass {
        s.has_data_level = true;
        s
    }
    &[
        c(
            "machine_room",
            "机房",
            "Machine room",
            Space,
            "6.2.3.1",
            &[
                a("address", "地址", "Address", Text),
                a("area_m2", "面积（平方米）", "Area (m²)", Number),
                opts(
                    a("tier", "机房等级（GB 50174）", "Tier (GB 50174)", Enum),
                    &["A", "B", "C"],
                ),
            ],
        ),
        c(
            "rack",
            "机柜",
            "Rack",
            Space,
            "6.2.3.1",
            &[
                a("u_height", "机柜高度（U）", "Height (U)", Number),
                a("row_label", "列号", "Row", Text),
                a(
                    "rated_power_kw",
                    "额定功率（kW）",
                    "Rated power (kW)",
                    Number,
                ),
            ],
        ),
        c(
            "ups",
            "不间断电源（UPS）",
            "UPS",
            Power,
            "6.2.3.1",
            &[
                a("capacity_kva", "容量（kVA）", "Capacity (kVA)", Number),
                a(
                    "battery_minutes",
                    "后备时间（分钟）",
                    "Battery runtime (min)",
                    Number,
                ),
                a(
                    "battery_replaced_on",
                    "电池更换日期",
                    "Battery replaced on",
                    Date,
                ),
                MODEL,
                RACK_POSITION,
                U_SIZE,
            ],
        ),
        c(
            "pdu",
            "电源分配单元（PDU）",
            "PDU",
            Power,
            "6.2.3.1",
            &[
                a("outlets", "插座数", "Outlets", Number),
                a(
                    "rated_current_a",
                    "额定电流（A）",
                    "Rated current (A)",
                    Number,
                ),
                RACK_POSITION,
                U_SIZE,
            ],
        ),
        c(
            "precision_ac",
            "精密空调",
            "Precision air-conditioner",
            Facility,
            "6.2.3.1",
            &[
                a(
                    "cooling_kw",
                    "制冷量（kW）",
                    "Cooling capacity (kW)",
                    Number,
                ),
                a(
                    "set_temperature",
                    "设定温度（℃）",
                    "Set temperature (°C)",
                    Number,
                ),
                a("set_humidity", "设定湿度（%）", "Set humidity (%)", Number),
                MODEL,
            ],
        ),
        c(
            "env_sensor",
            "环境传感器",
            "Environment sensor",
            Facility,
            "6.2.3.1",
            &[
                req(opts(
                    a("sensor_type", "传感器类型", "Sensor type", Enum),
                    &["temperature", "humidity", "water", "smoke"],
                )),
                a("low_threshold", "下限阈值", "Low threshold", Number),
                a("high_threshold", "上限阈值", "High threshold", Number),
            ],
        ),
        c(
            "grounding",
            "防雷接地",
            "Grounding & lightning protection",
            Facility,
            "6.2.3.1",
            &[
                a(
                    "resistance_ohm",
                    "接地电阻（Ω）",
                    "Earth resistance (Ω)",
                    Number,
                ),
                a("last_tested_on", "最近检测日期", "Last tested on", Date),
            ],
        ),
        c(
            "fire_suppression",
            "消防灭火系统",
            "Fire suppression",
            Facility,
            "6.2.3.1",
            &[
                opts(
                    a("agent", "灭火介质", "Agent", Enum),
                    &["gas", "water_mist", "sprinkler", "aerosol"],
                ),
                a(
                    "last_inspected_on",
                    "最近检查日期",
                    "Last inspected on",
                    Date,
                ),
            ],
        ),
        c(
            "cabling",
            "综合布线/配线架",
            "Cabling / patch panel",
            Facility,
            "6.2.3.2",
            &[
                a("ports", "端口数", "Ports", Number),
                opts(a("medium", "介质", "Medium", Enum), &["copper", "fiber"]),
                RACK_POSITION,
                U_SIZE,
            ],
        ),
        c(
            "access_control",
            "门禁",
            "Access control",
            Facility,
            "6.2.3.1",
            &[a("reader_count", "读卡器数量", "Readers", Number), IP],
        ),
        c(
            "camera",
            "摄像机",
            "Camera",
            Facility,
            "6.2.3.1",
            &[
                IP,
                a(
                    "retention_days",
                    "录像保存天数",
                    "Recording retention (days)",
                    Number,
                ),
            ],
        ),
        c(
            "router",
            "路由器",
            "Router",
            Network,
            "6.2.4",
            &[MGMT_IP, MODEL, SERIAL, FIRMWARE, RACK_POSITION, U_SIZE],
        ),
        c(
            "switch",
            "交换机",
            "Switch",
            Network,
            "6.2.4",
            &[
                MGMT_IP,
                MODEL,
                SERIAL,
                FIRMWARE,
                a("ports", "端口数", "Ports", Number),
                opts(a("layer", "交换层级", "Layer", Enum), &["l2", "l3"]),
                RACK_POSITION,
                U_SIZE,
            ],
        ),
        sec(c(
            "firewall",
            "防火墙",
            "Firewall",
            Network,
            "6.2.4",
            &[MGMT_IP, MODEL, SERIAL, FIRMWARE, RACK_POSITION, U_SIZE],
        )),
        c(
            "wireless_controller",
            "无线控制器",
            "Wireless controller",
            Network,
            "6.2.4",
            &[
                MGMT_IP,
                MODEL,
                FIRMWARE,
                a("ap_count", "接入点数量", "Access points", Number),
                RACK_POSITION,
                U_SIZE,
            ],
        ),
        c(
            "subnet_vlan",
            "子网/VLAN",
            "Subnet / VLAN",
            Segment,
            "6.2.4",
            &[
                req(a("cidr", "网段", "Network (CIDR)", Cidr)),
                a("vlan_id", "VLAN 号", "VLAN ID", Number),
                a("gateway", "网关", "Gateway", Ip),
            ],
        ),
        sec(c(
            "physical_server",
            "物理服务器",
            "Physical server",
            Server,
            "6.2.5",
            &[
                MGMT_IP,
                MODEL,
                SERIAL,
                a("cpu_cores", "CPU 核数", "CPU cores", Number),
                a("memory_gb", "内存（GB）", "Memory (GB)", Number),
                RACK_POSITION,
                U_SIZE,
            ],
        )),
        sec(c(
            "virtualization_cluster",
            "虚拟化集群",
            "Virtualization cluster",
            Cluster,
            "6.2.5",
            &[
                a("platform", "虚拟化平台", "Platform", Text),
                a("host_count", "主机数量", "Hosts", Number),
            ],
        )),
        sec(c(
            "virtual_machine",
            "虚拟机",
            "Virtual machine",
            Virtual,
            "6.2.5",
            &[
                IP,
                a("vcpus", "虚拟 CPU 数", "vCPUs", Number),
                a("memory_gb", "内存（GB）", "Memory (GB)", Number),
                a("disk_gb", "磁盘（GB）", "Disk (GB)", Number),
            ],
        )),
        sec(c(
            "cloud_instance",
            "云主机",
            "Cloud instance",
            Virtual,
            "5.2.3",
            &[
                a("provider", "云服务商", "Cloud provider", Text),
                a("region", "地域", "Region", Text),
                a("instance_id", "实例编号", "Instance ID", Text),
                IP,
                a("spec", "规格", "Specification", Text),
            ],
        )),
        data(c(
            "storage_array",
            "存储阵列/SAN",
            "Storage array / SAN",
            Storage,
            "6.2.7",
            &[
                MGMT_IP,
                MODEL,
                SERIAL,
                a("capacity_tb", "容量（TB）", "Capacity (TB)", Number),
                opts(
                    a("protocol", "访问协议", "Protocol", Enum),
                    &["fc", "iscsi", "nfs", "smb", "object"],
                ),
                RACK_POSITION,
                U_SIZE,
            ],
        )),
        data(c(
            "backup_system",
            "备份系统",
            "Backup system",
            Backup,
            "6.2.7",
            &[
                a("software", "备份软件", "Backup software", Text),
                a("capacity_tb", "容量（TB）", "Capacity (TB)", Number),
                a("retention_days", "保留天数", "Retention (days)", Number),
                a(
                    "last_restore_test_on",
                    "最近恢复验证日期",
                    "Last restore test on",
                    Date,
                ),
                RACK_POSITION,
                U_SIZE,
            ],
        )),
        sec(c(
            "operating_system",
            "操作系统",
            "Operating system",
            Software,
            "6.2.6",
            &[
                a("os_name", "系统名称", "OS name", Text),
                VERSION,
                a("hostname", "主机名", "Hostname", Text),
            ],
        )),
        data(sec(c(
            "database",
            "数据库",
            "Database",
            Software,
            "6.2.6",
            &[a("engine", "数据库类型", "Engine", Text), VERSION, PORT],
        ))),
        sec(c(
            "middleware",
            "中间件",
            "Middleware",
            Software,
            "6.2.6",
            &[a("product", "产品", "Product", Text), VERSION, PORT],
        )),
        sec(c(
            "application_system",
            "应用系统",
            "Application system",
            Software,
            "6.2.6",
            &[
                a("url", "访问地址", "URL", Text),
                VERSION,
                a("developer", "开发单位", "Developer", Text),
            ],
        )),
        sec(c(
            "business_service",
            "业务服务",
            "Business service",
            Service,
            "6.2.9",
            &[
                a("users_count", "用户数", "Users", Number),
                a("rto_minutes", "恢复时间目标（分钟）", "RTO (min)", Number),
                a("rpo_minutes", "恢复点目标（分钟）", "RPO (min)", Number),
            ],
        )),
        data(c(
            "data_set",
            "数据集",
            "Data set",
            Data,
            "6.2.7",
            &[
                a("format", "格式", "Format", Text),
                a("volume_gb", "数据量（GB）", "Volume (GB)", Number),
                a(
                    "personal_info",
                    "含个人信息",
                    "Holds personal information",
                    Bool,
                ),
            ],
        )),
        c(
            "desktop_terminal",
            "桌面终端",
            "Desktop / terminal",
            Endpoint,
            "6.2.10",
            &[
                a("user_name", "使用人", "User", Text),
                IP,
                a("mac", "MAC 地址", "MAC address", Text),
                a("os", "操作系统", "Operating system", Text),
            ],
        ),
        sec(c(
            "security_device",
            "安全设备",
            "Security device",
            Security,
            "6.2.8",
            &[
                req(opts(
                    a("device_type", "设备类型", "Device type", Enum),
                    &[
                        "ids",
                        "ips",
                        "waf",
                        "audit",
                        "vpn",
                        "antivirus",
                        "bastion",
                        "other",
                    ],
                )),
                MGMT_IP,
                MODEL,
                RACK_POSITION,
                U_SIZE,
            ],
        )),
        c(
            "iot_device",
            "物联网设备",
            "IoT device",
            Endpoint,
            "5.2.3",
            &[a("protocol", "通信协议", "Protocol", Text), IP, FIRMWARE],
        ),
    ]
};

/// The seeded class of a code.
pub fn seed_class(code: &str) -> Option<&'static SeedClass> {
    SEED.iter().find(|c| c.code == code)
}

// ---------------------------------------------------------------------------------------------
// Attribute validation
// ---------------------------------------------------------------------------------------------

fn attr_err(code: &str) -> DomainError {
    DomainError::field(ErrorCode::CiAttributeInvalid, format!("attributes.{code}"))
}

/// A value as text, whether it came as a JSON string, number or boolean.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Normalize one value of an attribute, or refuse it.
pub fn normalize_value(def: &AttrDef, v: &Value) -> Result<Value, DomainError> {
    let bad = || attr_err(&def.code);
    let text = as_text(v).ok_or_else(bad)?;
    match def.kind {
        AttrKind::Text => {
            if text.chars().count() > TEXT_ATTR_MAX
                || text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(bad());
            }
            Ok(Value::String(text))
        }
        AttrKind::Number => {
            let n: f64 = text.parse().map_err(|_| bad())?;
            if !n.is_finite() {
                return Err(bad());
            }
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Ok(Value::from(n as i64))
            } else {
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .ok_or_else(bad)
            }
        }
        AttrKind::Date => {
            let d = NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| bad())?;
            Ok(Value::String(d.format("%Y-%m-%d").to_string()))
        }
        AttrKind::Enum => {
            if def.options.contains(&text) {
                Ok(Value::String(text))
            } else {
                Err(bad())
            }
        }
        AttrKind::Bool => match text.as_str() {
            "true" | "1" | "是" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "否" | "no" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        AttrKind::Ip => {
            let ip: IpAddr = text.parse().map_err(|_| bad())?;
            Ok(Value::String(ip.to_string()))
        }
        AttrKind::Cidr => {
            let (addr, len) = text.split_once('/').ok_or_else(bad)?;
            let ip: IpAddr = addr.trim().parse().map_err(|_| bad())?;
            let len: u8 = len.trim().parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if len > max {
                return Err(bad());
            }
            Ok(Value::String(format!("{ip}/{len}")))
        }
        AttrKind::Reference => {
            let k = external_key(&text).map_err(|_| bad())?;
            Ok(Value::String(k))
        }
    }
}

/// Check attribute values against a class schema: every key known, every required one present,
/// every value of its type. Empty strings and nulls mean "absent". Returns the normalized
/// values, sorted by key.
pub fn validate_attributes(
    schema: &[AttrDef],
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, DomainError> {
    let mut out = BTreeMap::new();
    for (k, v) in input {
        let def = schema
            .iter()
            .find(|d| d.code == *k)
            .ok_or_else(|| attr_err(k))?;
        let absent = v.is_null() || matches!(v, Value::String(s) if s.trim().is_empty());
        if absent {
            continue;
        }
        out.insert(k.clone(), normalize_value(def, v)?);
    }
    for d in schema {
        if d.required && !out.contains_key(&d.code) {
            return Err(attr_err(&d.code));
        }
    }
    Ok(out.into_iter().collect())
}

/// The references among normalized attribute values: (attribute code, external key, allowed
/// class codes).
pub fn references<'a>(
    schema: &'a [AttrDef],
    attrs: &'a Map<String, Value>,
) -> Vec<(&'a str, &'a str, &'a [String])> {
    schema
        .iter()
        .filter(|d| d.kind == AttrKind::Reference)
        .filter_map(|d| {
            attrs
                .get(&d.code)
                .and_then(Value::as_str)
                .map(|k| (d.code.as_str(), k, d.options.as_slice()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Relations
// ---------------------------------------------------------------------------------------------

/// A typed relation `source → target`, read "source runs on / depends on / … target". When the
/// target fails, the source is affected, except for `backed_up_by` (losing the backup does not
/// stop what it protects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelKind {
    RunsOn,
    DependsOn,
    ConnectedTo,
    LocatedIn,
    PoweredBy,
    BackedUpBy,
    MemberOf,
}

impl RelKind {
    pub const ALL: [RelKind; 7] = [
        RelKind::RunsOn,
        RelKind::DependsOn,
        RelKind::ConnectedTo,
        RelKind::LocatedIn,
        RelKind::PoweredBy,
        RelKind::BackedUpBy,
        RelKind::MemberOf,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelKind::RunsOn => "runs_on",
            RelKind::DependsOn => "depends_on",
            RelKind::ConnectedTo => "connected_to",
            RelKind::LocatedIn => "located_in",
            RelKind::PoweredBy => "powered_by",
            RelKind::BackedUpBy => "backed_up_by",
            RelKind::MemberOf => "member_of",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            RelKind::RunsOn => "运行于",
            RelKind::DependsOn => "依赖",
            RelKind::ConnectedTo => "连接到",
            RelKind::LocatedIn => "位于",
            RelKind::PoweredBy => "供电自",
            RelKind::BackedUpBy => "备份到",
            RelKind::MemberOf => "隶属于",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            RelKind::RunsOn => "runs on",
            RelKind::DependsOn => "depends on",
            RelKind::ConnectedTo => "connected to",
            RelKind::LocatedIn => "located in",
            RelKind::PoweredBy => "powered by",
            RelKind::BackedUpBy => "backed up by",
            RelKind::MemberOf => "member of",
        }
    }

    /// From the code or the Chinese name.
    pub fn parse(s: &str) -> Option<RelKind> {
        let s = s.trim();
        RelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s || k.zh() == s)
    }

    /// Does the source stop when the target fails?
    pub fn propagates_impact(self) -> bool {
        !matches!(self, RelKind::BackedUpBy)
    }
}

/// May a CI of category `source` have a relation of this kind to one of category `target`?
pub fn relation_allowed(kind: RelKind, source: Category, target: Category) -> bool {
    use Category::*;
    match kind {
        RelKind::RunsOn => match source {
            Software | Service => matches!(target, Server | Cluster | Virtual | Software),
            Virtual => matches!(target, Server | Cluster),
            _ => false,
        },
        RelKind::DependsOn => true,
        RelKind::ConnectedTo => {
            source.is_networked() && matches!(target, Network | Segment | Security | Facility)
        }
        RelKind::LocatedIn => source.is_physical() && target == Space,
        RelKind::PoweredBy => source.is_physical() && source != Space && target == Power,
        RelKind::BackedUpBy => {
            matches!(
                source,
                Software | Data | Server | Virtual | Cluster | Storage | Service
            ) && matches!(target, Backup | Storage)
        }
        RelKind::MemberOf => match target {
            Cluster => matches!(source, Server | Virtual),
            Segment => source.is_networked(),
            Service => !matches!(source, Space | Power | Facility | Service),
            _ => false,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Impact traversal
// ---------------------------------------------------------------------------------------------

/// Everything reachable from `roots` along `adj` (breadth first), with its distance from the
/// nearest root. Roots themselves are not in the answer unless reached from another root.
/// Cycles, self-loops and repeated edges are harmless: each node is visited once.
///
/// For impact analysis `adj` maps a CI to the CIs that depend on it (the sources of relations
/// whose target it is); for "what does it depend on", to the targets.
pub fn reach<K: Copy + Eq + Hash>(adj: &HashMap<K, Vec<K>>, roots: &[K]) -> Vec<(K, u32)> {
    let mut seen: HashSet<K> = roots.iter().copied().collect();
    let mut queue: VecDeque<(K, u32)> = roots.iter().map(|r| (*r, 0)).collect();
    let mut out = Vec::new();
    while let Some((n, d)) = queue.pop_front() {
        if let Some(next) = adj.get(&n) {
            for m in next {
                if seen.insert(*m) {
                    out.push((*m, d + 1));
                    queue.push_back((*m, d + 1));
                }
            }
        }
    }
    out
}

/// The suggested impact of a ticket (R-7.5.1), from the CIs it affects and what depends on
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactSuggestion {
    /// one_department, several_departments or whole_organization.
    pub breadth: String,
    /// general or critical.
    pub criticality: String,
}

/// One CI reached by an impact analysis, as the suggestion needs it.
#[derive(Debug, Clone)]
pub struct Reached<O, D> {
    pub org: O,
    /// Owned by a department; `None` means the organization as a whole.
    pub department: Option<D>,
    pub is_business_service: bool,
    pub critical: bool,
}

/// Breadth: more than one organization, or a CI owned by an organization as a whole, or
/// every department of it → the whole organization; two or more departments → several;
/// otherwise one. Criticality: critical when a business service reached is critical; when no
/// business service is reached, when any CI reached is.
pub fn suggest_impact<O: Eq + Hash + Copy, D: Eq + Hash + Copy>(
    reached: &[Reached<O, D>],
    departments_of_org: usize,
) -> Option<ImpactSuggestion> {
    if reached.is_empty() {
        return None;
    }
    let orgs: HashSet<O> = reached.iter().map(|r| r.org).collect();
    let depts: HashSet<D> = reached.iter().filter_map(|r| r.department).collect();
    let org_wide = reached.iter().any(|r| r.department.is_none());
    let breadth = if orgs.len() > 1
        || org_wide
        || (departments_of_org >= 2 && depts.len() >= departments_of_org)
    {
        "whole_organization"
    } else if depts.len() >= 2 {
        "several_departments"
    } else {
        "one_department"
    };
    let services: Vec<_> = reached.iter().filter(|r| r.is_business_service).collect();
    let critical = if services.is_empty() {
        reached.iter().any(|r| r.critical)
    } else {
        services.iter().any(|r| r.critical)
    };
    Some(ImpactSuggestion {
        breadth: breadth.into(),
        criticality: if critical { "critical" } else { "general" }.into(),
    })
}

// ---------------------------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------------------------

/// Merge intervals into sorted, disjoint ones (touching intervals merge; empty ones vanish).
pub fn union(mut v: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    v.retain(|(a, b)| a < b);
    v.sort();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => {
                if b > last.1 {
                    last.1 = b;
                }
            }
            _ => out.push((a, b)),
        }
    }
    out
}

/// The service hours of `[from, to)` under a calendar, as sorted disjoint UTC intervals.
pub fn service_windows(
    cal: &Calendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (Some(d0), Some(d1)) = (cal.local_date(from), cal.local_date(to)) else {
        return vec![];
    };
    let mut v = Vec::new();
    let mut d = d0;
    while d <= d1 {
        for (a, b) in cal.working_intervals_utc(d) {
            let (a, b) = (a.max(from), b.min(to));
            if a < b {
                v.push((a, b));
            }
        }
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    union(v)
}

/// Availability over a period (R-6.4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// Service time in the period, in seconds.
    pub service_seconds: i64,
    /// Service time lost to outages, in seconds.
    pub outage_seconds: i64,
    /// (service − outage) / service; 1 when there is no service time.
    pub ratio: f64,
}

/// Availability of `[from, to)`: the service hours of the calendar minus the union of the
/// outage intervals (an outage without an end lasts until `to`).
pub fn availability(
    cal: &Calendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    outages: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
) -> Availability {
    let windows = service_windows(cal, from, to);
    let service: i64 = windows.iter().map(|(a, b)| (*b - *a).num_seconds()).sum();
    let down = union(
        outages
            .iter()
            .map(|(s, e)| ((*s).max(from), e.unwrap_or(to).min(to)))
            .collect(),
    );
    // Both lists are sorted and disjoint: sweep them together.
    let (mut i, mut j, mut lost) = (0, 0, 0i64);
    while i < windows.len() && j < down.len() {
        let (a, b) = (windows[i].0.max(down[j].0), windows[i].1.min(down[j].1));
        if a < b {
            lost += (b - a).num_seconds();
        }
        if windows[i].1 < down[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    Availability {
        service_seconds: service,
        outage_seconds: lost,
        ratio: if service == 0 {
            1.0
        } else {
            (service - lost) as f64 / service as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn def(code: &str, kind: AttrKind, required: bool, options: &[&str]) -> AttrDef {
        AttrDef {
            code: code.into(),
            kind,
            required,
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_seed_covers_the_standard_and_is_consistent() {
        assert!(SEED.len() >= 31);
        let mut codes = HashSet::new();
        for c in SEED {
            assert!(code_ok(c.code), "{}", c.code);
            assert!(codes.insert(c.code), "duplicate {}", c.code);
            assert!(!c.name_zh.is_empty() && c.name_en.is_ascii(), "{}", c.code);
            let mut attrs = HashSet::new();
            for x in c.attrs {
                assert!(code_ok(x.code), "{}.{}", c.code, x.code);
                assert!(attrs.insert(x.code), "duplicate {}.{}", c.code, x.code);
                assert_eq!(
                    x.kind == AttrKind::Enum,
                    !x.options.is_empty(),
                    "{}",
                    x.code
                );
            }
        }
        for want in [
            "machine_room",
            "rack",
            "ups",
            "pdu",
            "precision_ac",
            "env_sensor",
            "grounding",
            "fire_suppression",
            "cabling",
            "access_control",
            "camera",
            "router",
            "switch",
            "firewall",
            "wireless_controller",
            "subnet_vlan",
            "physical_server",
            "virtualization_cluster",
            "virtual_machine",
            "cloud_instance",
            "storage_array",
            "backup_system",
            "operating_system",
            "database",
            "middleware",
            "application_system",
            "business_service",
            "data_set",
            "desktop_terminal",
            "security_device",
            "iot_device",
        ] {
            assert!(seed_class(want).is_some(), "{want}");
        }
        assert!(seed_class("application_system").unwrap().has_security_level);
        assert!(seed_class("storage_array").unwrap().has_data_level);
        assert!(!seed_class("rack").unwrap().has_security_level);
    }

    #[test]
    fn attributes_are_typed_and_normalized() {
        let schema = vec![
            def("ip", AttrKind::Ip, false, &[]),
            def("net", AttrKind::Cidr, true, &[]),
            def("n", AttrKind::Number, false, &[]),
            def("d", AttrKind::Date, false, &[]),
            def("e", AttrKind::Enum, false, &["a", "b"]),
            def("b", AttrKind::Bool, false, &[]),
            def("r", AttrKind::Reference, false, &["rack"]),
            def("t", AttrKind::Text, false, &[]),
        ];
        let input = serde_json::json!({
            "ip": " 10.0.0.1 ", "net": "10.0.0.0 / 24", "n": "42", "d": "2026-03-01",
            "e": "b", "b": "是", "r": "RACK-01", "t": "",
        });
        let out = validate_attributes(&schema, input.as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(out.clone()),
            serde_json::json!({"b": true, "d": "2026-03-01", "e": "b", "ip": "10.0.0.1",
                "n": 42, "net": "10.0.0.0/24", "r": "RACK-01"})
        );
        assert_eq!(
            references(&schema, &out),
            vec![("r", "RACK-01", &["rack".to_string()][..])]
        );
        for (k, v) in [
            ("ip", "300.1.1.1"),
            ("net", "10.0.0.0/33"),
            ("n", "lots"),
            ("d", "2026-02-30"),
            ("e", "c"),
            ("b", "maybe"),
            ("unknown", "x"),
        ] {
            let mut m = input.as_object().unwrap().clone();
            m.insert(k.into(), Value::String(v.into()));
            let e = validate_attributes(&schema, &m).unwrap_err();
            assert_eq!(e.code, ErrorCode::CiAttributeInvalid);
            assert_eq!(e.field.as_deref(), Some(format!("attributes.{k}").as_str()));
        }
        // A required attribute may not be missing.
        let e = validate_attributes(&schema, &Map::new()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("attributes.net"));
        assert_eq!(
            normalize_value(
                &def("n", AttrKind::Number, false, &[]),
                &serde_json::json!(1.5)
            )
            .unwrap(),
            serde_json::json!(1.5)
        );
    }

    #[test]
    fn relation_rules_follow_the_classes() {
        use Category::*;
        assert!(relation_allowed(RelKind::RunsOn, Software, Virtual));
        assert!(relation_allowed(RelKind::RunsOn, Virtual, Cluster));
        assert!(!relation_allowed(RelKind::RunsOn, Server, Software));
        assert!(relation_allowed(RelKind::LocatedIn, Server, Space));
        assert!(relation_allowed(RelKind::LocatedIn, Space, Space));
        assert!(!relation_allowed(RelKind::LocatedIn, Software, Space));
        assert!(!relation_allowed(RelKind::LocatedIn, Server, Server));
        assert!(relation_allowed(RelKind::PoweredBy, Server, Power));
        assert!(!relation_allowed(RelKind::PoweredBy, Virtual, Power));
        assert!(relation_allowed(RelKind::BackedUpBy, Software, Backup));
        assert!(!relation_allowed(RelKind::BackedUpBy, Facility, Backup));
        assert!(relation_allowed(RelKind::MemberOf, Virtual, Cluster));
        assert!(relation_allowed(RelKind::MemberOf, Software, Service));
        assert!(!relation_allowed(RelKind::MemberOf, Software, Cluster));
        assert!(relation_allowed(RelKind::ConnectedTo, Server, Network));
        assert!(!relation_allowed(RelKind::ConnectedTo, Data, Network));
        for k in RelKind::ALL {
            assert_eq!(RelKind::parse(k.as_str()), Some(k));
            assert_eq!(RelKind::parse(k.zh()), Some(k));
        }
        assert!(!RelKind::BackedUpBy.propagates_impact());
    }

    #[test]
    fn impact_suggestion_counts_departments_and_services() {
        let r = |org: u8, dept: Option<u8>, svc: bool, crit: bool| Reached {
            org,
            department: dept,
            is_business_service: svc,
            critical: crit,
        };
        assert_eq!(suggest_impact::<u8, u8>(&[], 3), None);
        let s = suggest_impact(&[r(1, Some(1), false, true)], 3).unwrap();
        assert_eq!(
            (s.breadth.as_str(), s.criticality.as_str()),
            ("one_department", "critical")
        );
        let s =
            suggest_impact(&[r(1, Some(1), false, true), r(1, Some(2), true, false)], 3).unwrap();
        assert_eq!(
            (s.breadth.as_str(), s.criticality.as_str()),
            ("several_departments", "general"),
            "the business service decides criticality"
        );
        let s = suggest_impact(
            &[r(1, Some(1), false, false), r(1, Some(2), false, false)],
            2,
        )
        .unwrap();
        assert_eq!(s.breadth, "whole_organization", "every department");
        let s = suggest_impact(&[r(1, None, true, true)], 5).unwrap();
        assert_eq!(
            (s.breadth.as_str(), s.criticality.as_str()),
            ("whole_organization", "critical")
        );
        let s = suggest_impact(
            &[r(1, Some(1), false, false), r(2, Some(9), false, false)],
            5,
        )
        .unwrap();
        assert_eq!(s.breadth, "whole_organization", "two organizations");
    }

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn availability_counts_outages_within_service_hours_only() {
        let always = Calendar::always_open(480).unwrap();
        let a = availability(
            &always,
            t(0),
            t(100),
            &[(t(10), Some(t(15))), (t(12), Some(t(20)))],
        );
        assert_eq!(a.service_seconds, 100 * 3600);
        assert_eq!(a.outage_seconds, 10 * 3600);
        assert!((a.ratio - 0.9).abs() < 1e-9);
        // An open outage lasts to the end of the period; outages outside do not count.
        let a = availability(&always, t(0), t(10), &[(t(8), None), (t(-5), Some(t(-1)))]);
        assert_eq!(a.outage_seconds, 2 * 3600);
        // Office hours: 2026-03-02 is a Monday; 09:00–12:00, 13:00–18:00 at UTC+8 are
        // 01:00–04:00 and 05:00–10:00 UTC. An outage 00:00–06:00 UTC costs 3 h + 1 h.
        let office = Calendar::china_default();
        let a = availability(&office, t(0), t(24), &[(t(0), Some(t(6)))]);
        assert_eq!(a.service_seconds, 8 * 3600);
        assert_eq!(a.outage_seconds, 4 * 3600);
        // No service time: fully available by definition.
        let a = availability(&office, t(0), t(0), &[]);
        assert_eq!((a.service_seconds, a.ratio), (0, 1.0));
    }

    /// The naive closure: repeat until nothing new is added.
    fn closure(edges: &[(u8, u8)], roots: &[u8]) -> HashSet<u8> {
        let mut set: HashSet<u8> = HashSet::new();
        let mut frontier: HashSet<u8> = roots.iter().copied().collect();
        loop {
            let mut added = false;
            for (a, b) in edges {
                if (frontier.contains(a) || set.contains(a)) && set.insert(*b) {
                    added = true;
                }
            }
            if !added {
                return set;
            }
            frontier.clear();
        }
    }

    proptest! {
        #[test]
        fn reach_is_the_closure_and_visits_each_node_once(
            edges in proptest::collection::vec((0u8..30, 0u8..30), 0..120),
            roots in proptest::collection::vec(0u8..30, 1..4),
        ) {
            let mut adj: HashMap<u8, Vec<u8>> = HashMap::new();
            for (a, b) in &edges {
                adj.entry(*a).or_default().push(*b);
            }
            let got = reach(&adj, &roots);
            let ids: Vec<u8> = got.iter().map(|x| x.0).collect();
            let set: HashSet<u8> = ids.iter().copied().collect();
            prop_assert_eq!(set.len(), ids.len(), "each node once");
            let mut want = closure(&edges, &roots);
            for r in &roots {
                want.remove(r);
            }
            prop_assert_eq!(set, want);
            // Depths are breadth-first: non-decreasing, and each node's depth is one more
            // than some predecessor's (roots at 0).
            let depth: HashMap<u8, u32> = got.iter().copied().chain(roots.iter().map(|r| (*r, 0))).collect();
            for w in got.windows(2) {
                prop_assert!(w[0].1 <= w[1].1);
            }
            for (n, d) in &got {
                prop_assert!(edges.iter().any(|(a, b)| b == n && depth.get(a).is_some_and(|x| x + 1 == *d)));
            }
        }

        #[test]
        fn availability_stays_within_bounds(
            outages in proptest::collection::vec((0i64..200, 0i64..50, any::<bool>()), 0..12),
        ) {
            let cal = Calendar::china_default();
            let list: Vec<_> = outages
                .iter()
                .map(|(s, len, open)| (t(*s), (!open).then(|| t(s + len))))
                .collect();
            let a = availability(&cal, t(0), t(168), &list);
            prop_assert!(a.outage_seconds >= 0 && a.outage_seconds <= a.service_seconds);
            prop_assert!((0.0..=1.0).contains(&a.ratio));
            // Adding the same outages again changes nothing (union).
            let mut twice = list.clone();
            twice.extend(list.iter().copied());
            prop_assert_eq!(availability(&cal, t(0), t(168), &twice), a);
        }

        #[test]
        fn union_is_sorted_disjoint_and_covers_the_same_time(
            v in proptest::collection::vec((0i64..100, 0i64..30), 0..20),
        ) {
            let iv: Vec<_> = v.iter().map(|(s, l)| (t(*s), t(s + l))).collect();
            let u = union(iv.clone());
            for w in u.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
            for h in 0..130 {
                let p = t(h) + Duration::minutes(30);
                let inside = iv.iter().any(|(a, b)| *a <= p && p < *b);
                prop_assert_eq!(inside, u.iter().any(|(a, b)| *a <= p && p < *b));
            }
        }
    }
}
