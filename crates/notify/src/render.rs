//! The words of a notification: a title and a plain-text body per ticket event, in zh-CN
//! (first) or English. The same [`Message`] feeds the inbox, the e-mail and every robot; the
//! transports only lay it out.

use serde::{Deserialize, Serialize};
use yunwei_domain::ticket::{Kind, Status};
use yunwei_domain::Lang;

/// The ticket a message is about (what receivers may key on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRef {
    pub number: String,
    pub subject: String,
    pub kind: String,
    pub status: String,
    pub priority: Option<i64>,
    pub org_id: String,
}

/// What happened, as the templates need it.
#[derive(Debug, Clone, Default)]
pub struct EventFacts<'a> {
    /// The ticket event kind: created, triage, assign, start, pend, resume, resolve, confirm,
    /// auto_confirm, reject, cancel, reply, note, priority, satisfaction …
    pub kind: &'a str,
    pub actor_name: &'a str,
    /// The event's text (reply, note, resolution …), if it may be shown to this reader.
    pub body: Option<&'a str>,
}

/// A rendered notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `zh-CN` or `en`.
    pub lang: String,
    /// The event kind (`test` for a channel test).
    pub event: String,
    /// Id of the ticket event, for receivers that deduplicate.
    pub event_id: Option<String>,
    pub title: String,
    pub body: String,
    /// Link to the ticket in the web UI, when the public address is configured.
    pub link: Option<String>,
    pub ticket: Option<TicketRef>,
}

/// The event kinds a notification can be about (also the keys of user preferences).
pub const EVENT_KINDS: &[&str] = &[
    "created",
    "triage",
    "assign",
    "start",
    "pend",
    "resume",
    "resolve",
    "confirm",
    "auto_confirm",
    "reject",
    "cancel",
    "reply",
    "note",
    "priority",
    "satisfaction",
    "sla_warning",
    "sla_breach",
];

/// What the event did, as a title label.
pub fn event_label(kind: &str, lang: Lang) -> &'static str {
    let (zh, en) = match kind {
        "created" => ("新工单", "New ticket"),
        "triage" | "assign" => ("工单已分派", "Ticket assigned"),
        "start" => ("工单开始处理", "Work started"),
        "pend" => ("工单已挂起", "Ticket pending"),
        "resume" => ("工单恢复处理", "Work resumed"),
        "resolve" => ("工单已解决，请确认", "Ticket resolved, please confirm"),
        "confirm" => ("工单已确认关闭", "Ticket confirmed and closed"),
        "auto_confirm" => ("工单已自动确认关闭", "Ticket closed automatically"),
        "reject" => ("解决方案被退回", "Resolution rejected"),
        "cancel" => ("工单已取消", "Ticket cancelled"),
        "reply" => ("工单有新回复", "New reply"),
        "note" => ("工单有新内部备注", "New internal note"),
        "priority" => ("工单优先级已调整", "Priority changed"),
        "satisfaction" => ("工单已评价", "Ticket rated"),
        "sla_warning" => ("工单即将超出 SLA 时限", "SLA deadline approaching"),
        "sla_breach" => (
            "工单已超出 SLA 时限并升级",
            "SLA breached, ticket escalated",
        ),
        "test" => ("通知渠道测试", "Notification channel test"),
        _ => ("工单已更新", "Ticket updated"),
    };
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub fn excerpt(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// One line: control characters (line breaks included) become spaces.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The message about a ticket event, in one language.
pub fn ticket_event(
    lang: Lang,
    t: &TicketRef,
    e: &EventFacts<'_>,
    event_id: Option<String>,
    link: Option<String>,
) -> Message {
    let zh = lang == Lang::Zh;
    let subject = one_line(&t.subject);
    let label = event_label(e.kind, lang);
    let title = if zh {
        format!("[{}] {label}：{}", t.number, excerpt(&subject, 80))
    } else {
        format!("[{}] {label}: {}", t.number, excerpt(&subject, 80))
    };
    let kind = Kind::parse(&t.kind)
        .map(|k| if zh { k.label_zh() } else { k.label_en() })
        .unwrap_or(t.kind.as_str());
    let status = Status::parse(&t.status)
        .map(|s| if zh { s.label_zh() } else { s.label_en() })
        .unwrap_or(t.status.as_str());
    let sep = if zh { "：" } else { ": " };
    let row =
        |k_zh: &str, k_en: &str, v: &str| format!("{}{sep}{v}\n", if zh { k_zh } else { k_en });
    let mut body = String::new();
    body.push_str(&row("工单", "Ticket", &t.number));
    body.push_str(&row("标题", "Subject", &subject));
    body.push_str(&row("类型", "Kind", kind));
    body.push_str(&row("状态", "Status", status));
    if let Some(p) = t.priority {
        body.push_str(&row("优先级", "Priority", &format!("P{p}")));
    }
    body.push_str(&row("操作人", "By", &one_line(e.actor_name)));
    if let Some(text) = e.body.map(str::trim).filter(|b| !b.is_empty()) {
        let head = match e.kind {
            "resolve" => ("解决方案", "Resolution"),
            "note" => ("内部备注", "Internal note"),
            "reply" => ("回复", "Reply"),
            _ => ("说明", "Note"),
        };
        body.push_str(&format!("{}{sep}\n", if zh { head.0 } else { head.1 }));
        body.push_str(&excerpt(text, 1000));
        body.push('\n');
    }
    Message {
        lang: lang.tag().into(),
        event: e.kind.into(),
        event_id,
        title,
        body,
        link,
        ticket: Some(t.clone()),
    }
}

impl Message {
    /// Title, a blank line, the body, and the link (the plain-text form every transport but
    /// Feishu's rich text uses).
    pub fn full_text(&self) -> String {
        let mut s = format!("{}\n\n{}", self.title, self.body);
        if let Some(l) = &self.link {
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(link_label(&self.lang));
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// "查看：" / "Open: ", before a link.
pub fn link_label(lang: &str) -> &'static str {
    if lang == "en" {
        "Open: "
    } else {
        "查看："
    }
}

/// The message a channel test sends.
pub fn test_message(lang: Lang, channel_name: &str) -> Message {
    let (title, body) = match lang {
        Lang::Zh => (
            format!("运维 yunwei：通知渠道“{}”测试", one_line(channel_name)),
            "这是一条测试消息。收到即表示该通知渠道配置正确。\n".to_string(),
        ),
        Lang::En => (
            format!(
                "yunwei: test of the notification channel \"{}\"",
                one_line(channel_name)
            ),
            "This is a test message. If it arrived, the channel is set up correctly.\n".to_string(),
        ),
    };
    Message {
        lang: lang.tag().into(),
        event: "test".into(),
        event_id: None,
        title,
        body,
        link: None,
        ticket: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> TicketRef {
        TicketRef {
            number: "INC-2026-000001".into(),
            subject: "打印机无法打印\n第二行".into(),
            kind: "incident".into(),
            status: "assigned".into(),
            priority: Some(2),
            org_id: "o".into(),
        }
    }

    #[test]
    fn chinese_first_and_english() {
        let e = EventFacts {
            kind: "reply",
            actor_name: "zuoxi",
            body: Some("已更换硒鼓"),
        };
        let m = ticket_event(
            Lang::Zh,
            &ticket(),
            &e,
            None,
            Some("https://yw.example/tickets/INC-2026-000001".into()),
        );
        assert_eq!(
            m.title,
            "[INC-2026-000001] 工单有新回复：打印机无法打印 第二行"
        );
        assert!(
            m.body.contains("类型：事件\n状态：已分派\n优先级：P2\n"),
            "{}",
            m.body
        );
        assert!(m.body.contains("回复：\n已更换硒鼓\n"));
        assert!(m.body.ends_with("回复：\n已更换硒鼓\n"), "{}", m.body);
        assert!(m
            .full_text()
            .ends_with("已更换硒鼓\n查看：https://yw.example/tickets/INC-2026-000001\n"));
        assert_eq!(m.lang, "zh-CN");

        let m = ticket_event(Lang::En, &ticket(), &e, None, None);
        assert_eq!(
            m.title,
            "[INC-2026-000001] New reply: 打印机无法打印 第二行"
        );
        assert!(m.body.contains("Kind: Incident\nStatus: Assigned\n"));
        assert!(!m.full_text().contains("Open:"));
    }

    #[test]
    fn every_event_kind_has_both_labels() {
        for k in EVENT_KINDS {
            let zh = event_label(k, Lang::Zh);
            let en = event_label(k, Lang::En);
            assert_ne!(zh, "工单已更新", "{k}");
            assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
            assert!(en.is_ascii());
        }
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(excerpt("一二三四五", 3), "一二三…");
        assert_eq!(excerpt(" ab ", 3), "ab");
        let long = "字".repeat(2000);
        let e = EventFacts {
            kind: "note",
            actor_name: "a",
            body: Some(&long),
        };
        let m = ticket_event(Lang::Zh, &ticket(), &e, None, None);
        assert!(m.body.chars().count() < 1200);
    }
}
