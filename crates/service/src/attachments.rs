//! Attachments on tickets: screenshots, logs, documents. Files are kept in the database (nodes
//! share nothing else) under an internal id; the original name is sanitised metadata only.
//!
//! A file is accepted only when three things agree: its extension, the type the client
//! declared (when it declared one other than `application/octet-stream`) and the type sniffed
//! from its bytes — PNG, JPEG, GIF, WebP, PDF, UTF-8 text (TXT, CSV, LOG), Office Open XML
//! (DOCX, XLSX, PPTX, checked inside the ZIP), ZIP, 7z and e-mail (EML). It is at most
//! [`crate::Settings::attachment_max_bytes`] (20 MiB by default). It is served later with the
//! sniffed type, never as HTML.
//!
//! Who sees what follows the ticket: whoever may read the ticket may read its attachments,
//! except that attachments to internal notes are for provider staff (and auditors) only.
//! Uploading is like replying (customers on their organization's open tickets); internal
//! attachments are for staff who work tickets. Each upload is a timeline entry and an audit
//! entry (`attach` on entity `ticket`, entity id the ticket number, the file name in `after`).

use sha2::{Digest, Sha256};
use uuid::Uuid;
use yunwei_domain::ticket::Status;
use yunwei_domain::{Action, DomainError, ErrorCode, Role};
use yunwei_store::attachments::{self, Attachment};
use yunwei_store::audit;
use yunwei_store::tickets::{self, Event};

use crate::{snapshot, Actor, App, Result};

/// The longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The kinds of file accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
    Text,
    Csv,
    Log,
    Docx,
    Xlsx,
    Pptx,
    Zip,
    SevenZip,
    Eml,
}

impl FileKind {
    pub const ALL: [FileKind; 14] = [
        FileKind::Png,
        FileKind::Jpeg,
        FileKind::Gif,
        FileKind::Webp,
        FileKind::Pdf,
        FileKind::Text,
        FileKind::Csv,
        FileKind::Log,
        FileKind::Docx,
        FileKind::Xlsx,
        FileKind::Pptx,
        FileKind::Zip,
        FileKind::SevenZip,
        FileKind::Eml,
    ];

    /// The extensions (lower case) of the kind.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            FileKind::Png => &["png"],
            FileKind::Jpeg => &["jpg", "jpeg", "jpe"],
            FileKind::Gif => &["gif"],
            FileKind::Webp => &["webp"],
            FileKind::Pdf => &["pdf"],
            FileKind::Text => &["txt"],
            FileKind::Csv => &["csv"],
            FileKind::Log => &["log"],
            FileKind::Docx => &["docx"],
            FileKind::Xlsx => &["xlsx"],
            FileKind::Pptx => &["pptx"],
            FileKind::Zip => &["zip"],
            FileKind::SevenZip => &["7z"],
            FileKind::Eml => &["eml"],
        }
    }

    /// Declared types that fit the kind (besides none and `application/octet-stream`).
    fn declared_types(self) -> &'static [&'static str] {
        match self {
            FileKind::Png => &["image/png"],
            FileKind::Jpeg => &["image/jpeg", "image/pjpeg"],
            FileKind::Gif => &["image/gif"],
            FileKind::Webp => &["image/webp"],
            FileKind::Pdf => &["application/pdf", "application/x-pdf"],
            FileKind::Text => &["text/plain"],
            FileKind::Csv => &[
                "text/csv",
                "text/plain",
                "application/csv",
                "text/comma-separated-values",
                // What Windows browsers declare for .csv when Excel is installed.
                "application/vnd.ms-excel",
            ],
            FileKind::Log => &["text/plain", "text/x-log"],
            FileKind::Docx => {
                &["application/vnd.openxmlformats-officedocument.wordprocessingml.document"]
            }
            FileKind::Xlsx => {
                &["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
            }
            FileKind::Pptx => {
                &["application/vnd.openxmlformats-officedocument.presentationml.presentation"]
            }
            FileKind::Zip => &[
                "application/zip",
                "application/x-zip-compressed",
                "application/x-zip",
            ],
            FileKind::SevenZip => &["application/x-7z-compressed"],
            FileKind::Eml => &["message/rfc822"],
        }
    }

    /// The type the file is stored and served with.
    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Png => "image/png",
            FileKind::Jpeg => "image/jpeg",
            FileKind::Gif => "image/gif",
            FileKind::Webp => "image/webp",
            FileKind::Pdf => "application/pdf",
            FileKind::Text | FileKind::Log => "text/plain; charset=utf-8",
            FileKind::Csv => "text/csv; charset=utf-8",
            FileKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            FileKind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            FileKind::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            FileKind::Zip => "application/zip",
            FileKind::SevenZip => "application/x-7z-compressed",
            FileKind::Eml => "message/rfc822",
        }
    }

    pub fn from_extension(ext: &str) -> Option<FileKind> {
        let ext = ext.to_ascii_lowercase();
        FileKind::ALL
            .into_iter()
            .find(|k| k.extensions().contains(&ext.as_str()))
    }

    /// Do the bytes look like a file of this kind?
    pub fn matches(self, b: &[u8]) -> bool {
        match self {
            FileKind::Png => b.starts_with(b"\x89PNG\r\n\x1a\n"),
            FileKind::Jpeg => b.starts_with(&[0xFF, 0xD8, 0xFF]),
            FileKind::Gif => b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a"),
            FileKind::Webp => b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP",
            FileKind::Pdf => b.starts_with(b"%PDF-"),
            FileKind::Text | FileKind::Csv | FileKind::Log => is_text(b),
            FileKind::Docx => is_office(b, "word/"),
            FileKind::Xlsx => is_office(b, "xl/"),
            FileKind::Pptx => is_office(b, "ppt/"),
            FileKind::Zip => b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06"),
            FileKind::SevenZip => b.starts_with(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]),
            FileKind::Eml => is_eml(b),
        }
    }

    fn declared_ok(self, declared: Option<&str>) -> bool {
        let d = declared
            .map(|d| {
                d.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        d.is_empty() || d == "application/octet-stream" || self.declared_types().contains(&&*d)
    }
}

/// UTF-8 text (a byte-order mark allowed) without NUL or other control characters than tab,
/// line breaks, form feed and escape (coloured logs).
fn is_text(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    match std::str::from_utf8(b) {
        Ok(s) => !s
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0C' | '\x1B')),
        Err(_) => false,
    }
}

/// An e-mail message: no NUL bytes, and a header block (up to the first empty line) in UTF-8
/// whose first line is a header field and which has at least one of the usual headers.
fn is_eml(b: &[u8]) -> bool {
    if b.contains(&0) {
        return false;
    }
    let end = b
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| b.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(b.len());
    let Ok(head) = std::str::from_utf8(&b[..end]) else {
        return false;
    };
    let field = |line: &str| {
        line.split_once(':').is_some_and(|(name, _)| {
            !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
    };
    let mut lines = head.lines();
    if !lines.next().is_some_and(field) {
        return false;
    }
    const USUAL: [&str; 8] = [
        "from",
        "to",
        "date",
        "subject",
        "received",
        "message-id",
        "mime-version",
        "return-path",
    ];
    head.lines().filter(|l| field(l)).any(|l| {
        let name = l.split(':').next().unwrap_or("").to_ascii_lowercase();
        USUAL.contains(&name.as_str())
    })
}

/// The names of the entries of a ZIP archive, from its central directory.
fn zip_entry_names(b: &[u8]) -> Option<Vec<String>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    if b.len() < 22 {
        return None;
    }
    let earliest = b.len().saturating_sub(22 + 65_535);
    let eocd = (earliest..=b.len() - 22)
        .rev()
        .find(|&i| &b[i..i + 4] == EOCD)?;
    let u16_at = |i: usize| -> Option<usize> {
        b.get(i..i + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
    };
    let u32_at = |i: usize| -> Option<usize> {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let entries = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)?;
    let mut names = Vec::with_capacity(entries.min(10_000));
    for _ in 0..entries.min(10_000) {
        if b.get(at..at + 4)? != b"PK\x01\x02" {
            return None;
        }
        let name_len = u16_at(at + 28)?;
        let extra_len = u16_at(at + 30)?;
        let comment_len = u16_at(at + 32)?;
        let name = b.get(at + 46..at + 46 + name_len)?;
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 46 + name_len + extra_len + comment_len;
    }
    Some(names)
}

/// An Office Open XML package: a ZIP with `[Content_Types].xml` and parts under `dir`.
fn is_office(b: &[u8], dir: &str) -> bool {
    if !b.starts_with(b"PK\x03\x04") {
        return false;
    }
    zip_entry_names(b).is_some_and(|names| {
        names.iter().any(|n| n == "[Content_Types].xml") && names.iter().any(|n| n.starts_with(dir))
    })
}

/// A file name safe to keep and show: the last path component only, without control and
/// invisible formatting characters (e.g. right-to-left overrides that disguise extensions),
/// without characters Windows refuses, without leading dots, at most [`MAX_NAME_CHARS`]
/// characters (the extension kept). Never empty.
pub fn sanitize_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(*c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
        })
        .map(|c| {
            if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' '])
        .trim();
    let mut name = trimmed.to_string();
    if name.chars().count() > MAX_NAME_CHARS {
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !e.is_empty() && e.chars().count() <= 16 => {
                (s.to_string(), format!(".{e}"))
            }
            _ => (name.clone(), String::new()),
        };
        let keep = MAX_NAME_CHARS - ext.chars().count();
        name = stem.chars().take(keep).collect::<String>() + &ext;
    }
    if name.is_empty() {
        "file".into()
    } else {
        name
    }
}

/// The kind of an uploaded file, when extension, declared type and content agree.
pub fn check_file(
    name: &str,
    declared: Option<&str>,
    content: &[u8],
) -> std::result::Result<FileKind, DomainError> {
    let refused = || DomainError::field(ErrorCode::AttachmentTypeRefused, "file");
    let ext = name.rsplit_once('.').map(|(_, e)| e).ok_or_else(refused)?;
    let kind = FileKind::from_extension(ext).ok_or_else(refused)?;
    if !kind.matches(content) || !kind.declared_ok(declared) {
        return Err(refused());
    }
    Ok(kind)
}

/// A file as received.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The name the client gave (sanitised here).
    pub file_name: String,
    /// The type the client declared, if any.
    pub declared_type: Option<String>,
    pub content: Vec<u8>,
    /// An attachment to an internal note (staff only).
    pub internal: bool,
}

/// May the caller see internal notes and their attachments?
fn sees_internal(actor: &Actor) -> bool {
    actor.require(Action::TicketWork).is_ok() || actor.role == Role::Auditor
}

impl App {
    /// Attach a file to a ticket: one transaction with the file, a timeline entry and the
    /// audit entry. Refused files leave nothing behind.
    pub async fn upload_attachment(
        &self,
        actor: &Actor,
        number: &str,
        up: Upload,
    ) -> Result<Attachment> {
        actor.require(Action::TicketCreate)?;
        if up.internal {
            actor.require(Action::TicketWork)?;
        }
        if up.content.len() > self.settings.attachment_max_bytes {
            return Err(DomainError::field(ErrorCode::AttachmentTooLarge, "file").into());
        }
        if up.content.is_empty() {
            return Err(DomainError::invalid("file").into());
        }
        let file_name = sanitize_file_name(&up.file_name);
        let kind = check_file(&file_name, up.declared_type.as_deref(), &up.content)?;
        let sha256 = hex::encode(Sha256::digest(&up.content));
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let mut t = self.visible(Some(&mut tx), actor, number).await?;
        if !Status::parse(&t.status).is_some_and(Status::is_open) {
            return Err(DomainError::field(ErrorCode::InvalidTransition, "status").into());
        }
        let id: Uuid = yunwei_domain::ids::new_id();
        let ev = Event {
            id: yunwei_domain::ids::new_id(),
            ticket_id: t.id,
            org_id: t.org_id,
            at: now,
            actor_id: actor.user_id,
            actor_name: actor.username.clone(),
            kind: "attachment".into(),
            public: !up.internal,
            body: Some(file_name.clone()),
            data_json: Some(
                serde_json::json!({
                    "attachment_id": id,
                    "file_name": file_name,
                    "content_type": kind.content_type(),
                    "size": up.content.len(),
                })
                .to_string(),
            ),
        };
        tickets::add_event(&mut tx, &ev).await?;
        let a = Attachment {
            id,
            ticket_id: t.id,
            org_id: t.org_id,
            event_id: Some(ev.id),
            internal: up.internal,
            file_name,
            content_type: kind.content_type().into(),
            size: up.content.len() as i64,
            sha256,
            uploaded_by: actor.user_id,
            uploaded_by_name: actor.username.clone(),
            created_at: now,
        };
        attachments::insert(&mut tx, &a, &up.content).await?;
        self.enqueue_ticket_notifications(&mut tx, &t, &ev).await?;
        t.updated_at = now;
        tickets::update(&mut tx, &t).await?;
        let mut e = actor.entry("attach", "ticket", &t.number, Some(t.org_id));
        e.after = snapshot(&a);
        audit::append(&mut tx, e, now).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// A ticket's attachments the caller may see, oldest first.
    pub async fn list_attachments(&self, actor: &Actor, number: &str) -> Result<Vec<Attachment>> {
        let t = self.visible(None, actor, number).await?;
        Ok(attachments::list_for_ticket(&self.db, t.id, !sees_internal(actor)).await?)
    }

    /// An attachment and its bytes, when the caller may see its ticket (and, for an internal
    /// one, internal notes); otherwise not found, exactly like a missing one.
    pub async fn download_attachment(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(Attachment, Vec<u8>)> {
        actor.require(Action::TicketRead)?;
        let a = attachments::get(&self.db, id)
            .await?
            .filter(|a| actor.scope().allows(a.org_id))
            .filter(|a| !a.internal || sees_internal(actor))
            .ok_or_else(DomainError::not_found)?;
        // The ticket's organization decides (it is the attachment's, but check the ticket).
        match tickets::get(&self.db, a.ticket_id).await? {
            Some(t) if actor.scope().allows(t.org_id) => {}
            _ => return Err(DomainError::not_found().into()),
        }
        let bytes = attachments::content(&self.db, id)
            .await?
            .ok_or_else(DomainError::not_found)?;
        Ok((a, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_with(names: &[&str]) -> Vec<u8> {
        // A minimal stored (uncompressed, empty) ZIP with the given entry names.
        let mut out = Vec::new();
        let mut central = Vec::new();
        for n in names {
            let offset = out.len() as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&[0; 12]);
            out.extend_from_slice(&(n.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(n.as_bytes());
            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&(n.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(n.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        out.extend_from_slice(&(names.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize_file_name("../../etc/passwd.txt"), "passwd.txt");
        assert_eq!(sanitize_file_name("C:\\Users\\a\\报告.pdf"), "报告.pdf");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(
            sanitize_file_name("invoice\u{202E}gpj.exe"),
            "invoicegpj.exe"
        );
        assert_eq!(sanitize_file_name(".htaccess"), "htaccess");
        assert_eq!(sanitize_file_name("a<b>:c?.log"), "a_b__c_.log");
        assert_eq!(sanitize_file_name("../"), "file");
        assert_eq!(sanitize_file_name(""), "file");
        let long = format!("{}.xlsx", "长".repeat(300));
        let s = sanitize_file_name(&long);
        assert_eq!(s.chars().count(), MAX_NAME_CHARS);
        assert!(s.ends_with(".xlsx"));
    }

    #[test]
    fn extension_type_and_content_must_agree() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        assert_eq!(
            check_file("a.png", Some("image/png"), &png),
            Ok(FileKind::Png)
        );
        assert_eq!(check_file("a.PNG", None, &png), Ok(FileKind::Png));
        assert_eq!(
            check_file("a.png", Some("application/octet-stream"), &png),
            Ok(FileKind::Png)
        );
        // Declared type, extension or content disagreeing is refused.
        for (name, declared, bytes) in [
            ("a.png", Some("image/jpeg"), &png[..]),
            ("a.jpg", None, &png[..]),
            ("a.html", Some("text/html"), b"<html></html>".as_slice()),
            ("a.txt", Some("text/html"), b"hello".as_slice()),
            ("a.txt", None, b"\x00\x01binary".as_slice()),
            ("a.txt", None, b"\xff\xfe not utf-8".as_slice()),
            ("noext", None, b"hello".as_slice()),
            ("a.exe", None, b"MZ\x90\x00".as_slice()),
            ("a.pdf", None, b"not a pdf".as_slice()),
        ] {
            assert_eq!(
                check_file(name, declared, bytes).unwrap_err().code,
                ErrorCode::AttachmentTypeRefused,
                "{name}"
            );
        }
        assert_eq!(
            check_file(
                "日志.log",
                Some("text/plain"),
                "错误：连接超时\n\x1b[31mERR\x1b[0m\n".as_bytes()
            ),
            Ok(FileKind::Log)
        );
        assert_eq!(
            check_file(
                "a.csv",
                Some("application/vnd.ms-excel"),
                "\u{feff}编号,名称\n1,打印机\n".as_bytes()
            ),
            Ok(FileKind::Csv)
        );
        assert_eq!(
            check_file("a.pdf", Some("application/pdf"), b"%PDF-1.7\n"),
            Ok(FileKind::Pdf)
        );
        assert_eq!(check_file("a.gif", None, b"GIF89a...."), Ok(FileKind::Gif));
        assert_eq!(
            check_file("a.webp", None, b"RIFF\x10\0\0\0WEBPVP8 "),
            Ok(FileKind::Webp)
        );
        assert_eq!(
            check_file("a.jpeg", None, &[0xFF, 0xD8, 0xFF, 0xE0]),
            Ok(FileKind::Jpeg)
        );
        assert_eq!(
            check_file("a.7z", None, &[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4]),
            Ok(FileKind::SevenZip)
        );
        let eml = b"Received: from mx\r\nFrom: a@b.cn\r\nSubject: hi\r\n\r\nbody";
        assert_eq!(
            check_file("m.eml", Some("message/rfc822"), eml),
            Ok(FileKind::Eml)
        );
        assert!(check_file("m.eml", None, b"just text, no headers").is_err());
    }

    #[test]
    fn office_documents_are_checked_inside_the_zip() {
        let docx = zip_with(&["[Content_Types].xml", "_rels/.rels", "word/document.xml"]);
        let xlsx = zip_with(&["[Content_Types].xml", "xl/workbook.xml"]);
        let plain = zip_with(&["readme.txt"]);
        assert_eq!(zip_entry_names(&docx).unwrap().len(), 3);
        assert_eq!(check_file("a.docx", None, &docx), Ok(FileKind::Docx));
        assert_eq!(check_file("a.xlsx", None, &xlsx), Ok(FileKind::Xlsx));
        assert!(check_file("a.docx", None, &xlsx).is_err());
        assert!(check_file("a.pptx", None, &docx).is_err());
        assert!(check_file("a.docx", None, &plain).is_err());
        assert_eq!(
            check_file("a.zip", Some("application/zip"), &plain),
            Ok(FileKind::Zip)
        );
        assert_eq!(check_file("a.zip", None, &docx), Ok(FileKind::Zip));
        // A truncated archive is no Office document.
        assert!(check_file("a.docx", None, &docx[..docx.len() - 30]).is_err());
    }

    #[test]
    fn nothing_is_served_as_html() {
        for k in FileKind::ALL {
            assert!(!k.content_type().contains("html"), "{k:?}");
        }
    }
}
