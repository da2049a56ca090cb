//! Plausible Chinese IT O&M ticket texts: systems × symptoms × departments × times, so that
//! searches hit a realistic share of tickets and bodies have realistic lengths (80–250 chars).

/// A small, fast, deterministic generator (splitmix64).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.below(s.len() as u64) as usize]
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    /// Inclusive range.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// Index by weights.
    pub fn weighted(&mut self, w: &[u32]) -> usize {
        let total: u32 = w.iter().sum();
        let mut x = self.below(total as u64) as u32;
        for (i, &wi) in w.iter().enumerate() {
            if x < wi {
                return i;
            }
            x -= wi;
        }
        w.len() - 1
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Cat {
    App,
    Net,
    Device,
    Infra,
}

pub const SYSTEMS: &[(&str, Cat)] = &[
    ("财务系统", Cat::App),
    ("OA办公系统", Cat::App),
    ("邮件系统", Cat::App),
    ("VPN", Cat::Net),
    ("ERP系统", Cat::App),
    ("人事管理系统", Cat::App),
    ("HIS系统", Cat::App),
    ("门户网站", Cat::App),
    ("视频会议系统", Cat::App),
    ("考勤系统", Cat::App),
    ("CRM系统", Cat::App),
    ("档案管理系统", Cat::App),
    ("网上报销系统", Cat::App),
    ("政务服务平台", Cat::App),
    ("核心数据库", Cat::Infra),
    ("备份系统", Cat::Infra),
    ("域控服务器", Cat::Infra),
    ("文件服务器", Cat::Infra),
    ("虚拟化平台", Cat::Infra),
    ("存储阵列", Cat::Infra),
    ("云桌面", Cat::Infra),
    ("机房空调", Cat::Infra),
    ("UPS电源", Cat::Infra),
    ("无线网络", Cat::Net),
    ("有线网络", Cat::Net),
    ("核心交换机", Cat::Net),
    ("接入交换机", Cat::Net),
    ("防火墙", Cat::Net),
    ("负载均衡", Cat::Net),
    ("打印机", Cat::Device),
    ("复印机", Cat::Device),
    ("扫描仪", Cat::Device),
    ("投影仪", Cat::Device),
    ("台式电脑", Cat::Device),
    ("笔记本电脑", Cat::Device),
    ("显示器", Cat::Device),
    ("IP电话", Cat::Device),
    ("监控摄像头", Cat::Device),
];

const SYM_APP: &[&str] = &[
    "无法登录",
    "响应缓慢",
    "页面打不开",
    "报错",
    "登录后白屏",
    "提示权限不足",
    "导出报表失败",
    "附件上传失败",
    "数据不同步",
    "账号被锁定",
    "证书过期",
    "打开后卡死",
];
const SYM_NET: &[&str] = &[
    "网络不通",
    "频繁断线",
    "丢包严重",
    "网速很慢",
    "无法获取IP地址",
    "端口闪断",
    "无法访问外网",
    "无法连接",
];
const SYM_DEV: &[&str] = &[
    "卡纸",
    "无法打印",
    "无法开机",
    "蓝屏",
    "显示花屏",
    "无法连接网络",
    "频繁死机",
    "没有声音",
    "驱动异常",
    "硒鼓缺粉",
];
const SYM_INFRA: &[&str] = &[
    "宕机",
    "CPU使用率过高",
    "磁盘空间不足",
    "告警",
    "服务异常重启",
    "内存占用过高",
    "备份任务失败",
    "时间不同步",
    "温度过高告警",
    "响应缓慢",
];

pub const DEPARTMENTS: &[&str] = &[
    "财务部",
    "人力资源部",
    "办公室",
    "市场部",
    "销售部",
    "信息中心",
    "审计部",
    "法务部",
    "采购部",
    "行政部",
    "客服中心",
    "研发部",
    "生产部",
    "质量管理部",
    "党群工作部",
    "后勤保障部",
];

pub const CITIES: &[&str] = &[
    "沈阳", "大连", "鞍山", "抚顺", "本溪", "丹东", "锦州", "营口", "阜新", "辽阳", "盘锦", "铁岭",
    "朝阳", "葫芦岛",
];
pub const ORG_KINDS: &[&str] = &[
    "市人民医院",
    "市财政局",
    "市税务局",
    "市第一中学",
    "港务集团有限公司",
    "热电有限公司",
    "农村商业银行",
    "市政务服务中心",
    "市自然资源局",
    "燃气集团有限公司",
    "市中心医院",
    "市公积金管理中心",
];

pub const TEAMS: &[&str] = &[
    "服务台",
    "桌面运维组",
    "网络运维组",
    "系统运维组",
    "数据库运维组",
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "建华", "志强", "海燕", "晓东", "文博",
];
const TITLES: &[&str] = &["老师", "经理", "主任", "科长", "工程师", "同事"];
const WHEN: &[&str] = &[
    "今天上午9点20分",
    "今天早上8点半",
    "昨天下午3点",
    "刚才",
    "本周一开始",
    "今天中午12点左右",
    "昨晚11点",
    "今天上午10点多",
    "从上周五起",
];
const IMPACT: &[&str] = &[
    "影响全部门约30人正常办公",
    "影响月底结账",
    "窗口无法办理业务，群众排队",
    "目前仅本人受影响",
    "影响领导下午的会议",
    "多个部门同时出现",
    "急需处理报送材料",
    "影响门诊挂号收费",
];
const TRIED: &[&str] = &[
    "已重启电脑",
    "已清除浏览器缓存",
    "已更换网线",
    "已重新插拔电源",
    "已尝试其他账号登录",
    "已重启设备",
    "已按手册重新配置",
];
const ASK: &[&str] = &[
    "请尽快派工程师处理。",
    "请远程协助。",
    "情况紧急，请优先处理。",
    "",
    "麻烦尽快回复。",
];
const ERRORS: &[&str] = &[
    "，提示“连接超时”",
    "，提示“用户名或密码错误”",
    "，错误代码0x80070005",
    "，提示“服务器内部错误(500)”",
    "，提示“证书不受信任”",
    "",
    "",
];
const REQUESTS: &[&str] = &[
    "申请开通{s}账号",
    "申请{s}权限变更",
    "申请更换{d}",
    "申请新员工电脑及账号配置",
    "申请邮箱容量扩容",
    "申请开通VPN远程访问",
    "申请会议室视频会议保障",
    "申请恢复误删文件",
    "申请分配固定IP地址",
    "申请安装办公软件",
];
const COMPLAINTS: &[&str] = &[
    "{s}故障处理不及时",
    "工程师上门迟到",
    "{s}问题反复出现未彻底解决",
    "服务台电话长时间无人接听",
];
const OPINIONS: &[&str] = &[
    "希望{s}操作界面更简洁",
    "对{s}升级安排的意见",
    "节假日值班安排的意见",
];
const SUGGESTIONS: &[&str] = &[
    "建议增加{s}使用培训",
    "建议延长服务台值班时间",
    "建议为{s}增加短信提醒",
];
pub const RESOLUTIONS: &[&str] = &[
    "已重启相关服务，系统恢复正常。",
    "已更换硬件配件，设备恢复正常。",
    "已清理磁盘空间并调整告警阈值。",
    "已重置账号密码并解锁。",
    "已更新证书，访问恢复。",
    "已调整交换机端口配置，网络恢复。",
    "已远程协助完成配置。",
    "厂商已修复缺陷并升级补丁。",
];
pub const REPLIES: &[&str] = &[
    "您好，工程师已到现场处理，请稍候。",
    "您好，已远程查看，正在排查原因。",
    "请提供一下报错截图，谢谢。",
    "已联系厂商技术支持，预计今天下午给出方案。",
    "问题已定位，正在处理中。",
];

/// Words a search for which finds a few per cent of tickets each.
pub const SEARCH_COMMON: &[&str] = &[
    "打印机",
    "VPN",
    "邮件系统",
    "财务系统",
    "无法登录",
    "卡纸",
    "交换机",
    "响应缓慢",
    "核心数据库",
    "蓝屏",
];
/// Words no generated ticket contains: a search for them reads every ticket.
pub const SEARCH_NONE: &[&str] = &["量子计算", "区块链节点", "卫星电话", "无人机"];

pub fn person(r: &mut Rng) -> String {
    format!("{}{}", r.pick(SURNAMES), r.pick(GIVEN))
}

pub fn person_title(r: &mut Rng) -> String {
    format!("{}{}", r.pick(SURNAMES), r.pick(TITLES))
}

fn symptom(r: &mut Rng, c: Cat) -> &'static str {
    match c {
        Cat::App => *r.pick(SYM_APP),
        Cat::Net => *r.pick(SYM_NET),
        Cat::Device => *r.pick(SYM_DEV),
        Cat::Infra => *r.pick(SYM_INFRA),
    }
}

fn device(r: &mut Rng) -> &'static str {
    loop {
        let (s, c) = *r.pick(SYSTEMS);
        if c == Cat::Device {
            return s;
        }
    }
}

fn app(r: &mut Rng) -> &'static str {
    loop {
        let (s, c) = *r.pick(SYSTEMS);
        if c == Cat::App {
            return s;
        }
    }
}

/// (subject, description) of a ticket of `kind` raised from `dept`.
pub fn ticket_text(r: &mut Rng, kind: &str, dept: &str) -> (String, String) {
    let who = person_title(r);
    let phone = format!("139{:08}", r.below(100_000_000));
    match kind {
        "incident" => {
            let (sys, cat) = *r.pick(SYSTEMS);
            let sym = symptom(r, cat);
            let loc = if cat == Cat::Device {
                format!("{}楼", r.range(1, 18))
            } else {
                String::new()
            };
            let subject = format!("{dept}{loc}{sys}{sym}");
            let desc = format!(
                "{dept}{who}来电反映：{}起，{loc}{sys}{sym}{}，{}。{}，问题依旧。{}联系电话：{phone}。",
                r.pick(WHEN),
                r.pick(ERRORS),
                r.pick(IMPACT),
                r.pick(TRIED),
                r.pick(ASK)
            );
            (subject, desc)
        }
        _ => {
            let pool = match kind {
                "request" => REQUESTS,
                "complaint" => COMPLAINTS,
                "opinion" => OPINIONS,
                _ => SUGGESTIONS,
            };
            let subject = r
                .pick(pool)
                .replace("{s}", app(r))
                .replace("{d}", device(r));
            let desc = format!(
                "{dept}{who}提出：{subject}。具体情况：{}起{}，{}。{}联系电话：{phone}。",
                r.pick(WHEN),
                if kind == "request" {
                    "因工作需要".to_string()
                } else {
                    format!("多次遇到{}{}", app(r), r.pick(SYM_APP))
                },
                r.pick(IMPACT),
                r.pick(ASK)
            );
            (subject, desc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_plausible() {
        let mut r = Rng::new(7);
        for k in ["incident", "request", "complaint", "opinion", "suggestion"] {
            let (s, d) = ticket_text(&mut r, k, "财务部");
            assert!(!s.is_empty() && s.chars().count() <= 200, "{s}");
            assert!(d.chars().count() > 40, "{d}");
            assert!(!s.contains('{') && !d.contains('{'));
        }
        // no generated text contains a "no match" search word
        for _ in 0..20_000 {
            let (s, d) = ticket_text(&mut r, "incident", "信息中心");
            for w in SEARCH_NONE {
                assert!(!s.contains(w) && !d.contains(w));
            }
        }
    }
}
