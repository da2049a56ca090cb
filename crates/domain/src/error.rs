//! Stable error codes.
//!
//! Policy: every error a user can cause has a snake_case code that never changes once
//! released, an HTTP status, and a message in zh-CN and en. Clients (and our own UI) key on the
//! code; the message is for people. Internal errors are logged with the request id and shown
//! to the user only as `internal_error` — never with details.

use serde::Serialize;

/// The language of a message. zh-CN first; English second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// Pick from an `Accept-Language` header value: English only when English ranks before
    /// any Chinese entry; everything else gets Chinese.
    pub fn from_accept_language(header: &str) -> Lang {
        for part in header.split(',') {
            let tag = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::Zh
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" | "en-US" | "en-us" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $status:literal, $zh:literal, $en:literal; )*) => {
        /// Every user-facing error code. See the module documentation for the policy.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The stable code, e.g. `not_found`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            /// The HTTP status this error answers with.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),* }
            }

            /// The message for people, in the given language.
            pub fn message(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((ErrorCode::$variant, Lang::Zh) => $zh,
                      (ErrorCode::$variant, Lang::En) => $en,)*
                }
            }
        }
    };
}

codes! {
    BadRequest = "bad_request", 400, "请求格式错误", "The request is malformed";
    InvalidJson = "invalid_json", 400, "请求内容不是有效的 JSON 或字段类型不符", "The request body is not valid JSON or has fields of the wrong type";
    ValidationFailed = "validation_failed", 422, "输入无效", "Invalid input";
    Unauthenticated = "unauthenticated", 401, "请先登录", "Please sign in";
    LoginFailed = "login_failed", 401, "用户名或密码错误", "Wrong username or password";
    LoginThrottled = "login_throttled", 429, "登录失败次数过多，请稍后再试", "Too many failed sign-ins; try again later";
    TokenInvalid = "token_invalid", 401, "API 令牌无效、已过期或已吊销", "The API token is invalid, expired or revoked";
    Forbidden = "forbidden", 403, "您没有执行此操作的权限", "You are not allowed to do this";
    CsrfFailed = "csrf_failed", 403, "表单已过期或来源不可信，请刷新页面后重试", "The form has expired or did not come from this site; reload the page and try again";
    NotFound = "not_found", 404, "记录不存在", "No such record";
    MethodNotAllowed = "method_not_allowed", 405, "不支持此请求方法", "Method not allowed";
    Conflict = "conflict", 409, "与现有记录冲突", "Conflicts with an existing record";
    UsernameTaken = "username_taken", 409, "用户名已被使用", "The username is already taken";
    NameTaken = "name_taken", 409, "名称已被使用", "The name is already in use";
    PayloadTooLarge = "payload_too_large", 413, "请求内容过大", "The request is too large";
    UnsupportedMediaType = "unsupported_media_type", 415, "不支持的内容类型", "Unsupported content type";
    PasswordTooWeak = "password_too_weak", 422, "密码至少需要 10 个字符，且不能与用户名相同", "The password needs at least 10 characters and must differ from the username";
    WrongPassword = "wrong_password", 422, "当前密码不正确", "The current password is wrong";
    InvalidReference = "invalid_reference", 422, "引用的记录不存在或不属于该组织", "The referenced record does not exist or belongs to another organization";
    InvalidRole = "invalid_role", 422, "角色与组织不匹配：客户角色只能属于客户组织，服务方角色只能属于服务方组织", "Role does not fit the organization: customer roles belong to customer organizations, staff roles to the provider";
    UrlNotAllowed = "url_not_allowed", 422, "该地址不允许：不能指向本机、内网或无法解析的地址（管理员可在通知设置中放行内网地址）", "This address is not allowed: it must resolve, and not to this server or a private network (an administrator can allow private networks in the notification settings)";
    ImportFailed = "import_failed", 422, "导入的文件有误，请查看各行的错误说明", "The imported file has errors; see the details for each line";
    AttachmentTooLarge = "attachment_too_large", 413, "附件超过允许的大小上限", "The attachment is larger than allowed";
    AttachmentTypeRefused = "attachment_type_refused", 415, "不接受此类文件：仅接受图片（PNG/JPEG/GIF/WebP）、PDF、文本（TXT/CSV/LOG，UTF-8）、Office 文档（DOCX/XLSX/PPTX）、ZIP、7z 和邮件（EML），且扩展名、声明的类型须与文件内容一致", "This kind of file is not accepted: only images (PNG/JPEG/GIF/WebP), PDF, text (TXT/CSV/LOG in UTF-8), Office documents (DOCX/XLSX/PPTX), ZIP, 7z and e-mail (EML), with extension and declared type matching the content";
    InvalidTransition = "invalid_transition", 409, "当前状态下不能执行此操作", "This step is not possible in the ticket's current state";
    LastAdmin = "last_admin", 409, "不能停用或降级最后一个管理员", "The last active administrator cannot be disabled or demoted";
    ProviderOrgFixed = "provider_org_fixed", 409, "服务方组织不能删除或改为客户组织", "The provider organization cannot be removed or turned into a customer";
    CiAttributeInvalid = "ci_attribute_invalid", 422, "配置项属性缺失、未定义或取值不符合类型", "A configuration item attribute is missing, unknown or of the wrong type";
    CiRelationNotAllowed = "ci_relation_not_allowed", 422, "这两类配置项之间不能建立该类型的关系", "This kind of relation is not allowed between these classes of configuration items";
    CiKeyTaken = "ci_key_taken", 409, "该组织下已有相同外部编号的配置项", "The organization already has a configuration item with this external key";
    AlertAuthFailed = "alert_auth_failed", 401, "告警源认证失败：告警源不存在或已停用，或签名、时间戳、随机数、令牌无效", "Alert source authentication failed: unknown or disabled source, or an invalid signature, timestamp, nonce or token";
    AlertPayloadInvalid = "alert_payload_invalid", 400, "告警内容无效：缺少必填字段、字段类型或取值不符", "The alert payload is invalid: a required field is missing or a field has the wrong type or value";
    RateLimited = "rate_limited", 429, "请求过于频繁，请稍后再试", "Too many requests; try again later";
    InternalError = "internal_error", 500, "服务器内部错误，请联系管理员并提供请求编号", "Internal server error; contact your administrator with the request id";
    Unavailable = "unavailable", 503, "服务暂时不可用", "Service temporarily unavailable";
}

/// An error a user can cause, by code, with the field it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", code.as_str(), field.as_ref().map(|f| format!(" ({f})")).unwrap_or_default())]
pub struct DomainError {
    pub code: ErrorCode,
    pub field: Option<String>,
}

impl DomainError {
    pub fn new(code: ErrorCode) -> Self {
        Self { code, field: None }
    }
    pub fn field(code: ErrorCode, field: impl Into<String>) -> Self {
        Self {
            code,
            field: Some(field.into()),
        }
    }
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }
    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden)
    }
    pub fn invalid(field: impl Into<String>) -> Self {
        Self::field(ErrorCode::ValidationFailed, field)
    }
}

impl From<ErrorCode> for DomainError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_unique_snake_case_and_bilingual() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(
                s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{s}"
            );
            let zh = c.message(Lang::Zh);
            let en = c.message(Lang::En);
            assert!(!zh.is_empty() && !en.is_empty());
            assert!(
                zh.chars().any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
                "{s} zh has no Chinese"
            );
            assert!(en.is_ascii(), "{s} en is not plain English");
            assert!((400..600).contains(&c.http_status()));
        }
    }

    #[test]
    fn accept_language_defaults_to_chinese() {
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language("fr-FR, en;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("de"), Lang::Zh);
    }
}
