//! Input validation: values that pass these functions are safe to store.

use crate::error::{DomainError, ErrorCode};

/// A display name, title or similar: trimmed, 1..=max characters, no control characters.
pub fn name(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(|c| c.is_control()) {
        return Err(DomainError::invalid(field));
    }
    Ok(v.to_string())
}

/// Optional free text: trimmed; empty becomes None; at most max characters.
pub fn opt_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max => Err(DomainError::invalid(field)),
        Some(v)
            if v.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') =>
        {
            Err(DomainError::invalid(field))
        }
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// A login name: 2..=64 of ASCII letters, digits and `._-@`, kept in lower case.
pub fn username(value: &str) -> Result<String, DomainError> {
    let v = value.trim().to_ascii_lowercase();
    let ok = (2..=64).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        return Err(DomainError::invalid("username"));
    }
    Ok(v)
}

/// An e-mail address, loosely: one `@` with text on both sides and a dot in the domain.
pub fn email(value: Option<&str>) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => {
            let ok = v.len() <= 254
                && !v.chars().any(|c| c.is_whitespace() || c.is_control())
                && matches!(v.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@'));
            if ok {
                Ok(Some(v.to_string()))
            } else {
                Err(DomainError::invalid("email"))
            }
        }
    }
}

/// A password: at least 10 characters, at most 1024, not the username.
pub fn password(username: &str, value: &str) -> Result<(), DomainError> {
    let n = value.chars().count();
    if !(10..=1024).contains(&n) || value.eq_ignore_ascii_case(username) {
        return Err(DomainError::field(ErrorCode::PasswordTooWeak, "password"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(username(" Zhang.San ").unwrap(), "zhang.san");
        assert!(username("a").is_err());
        assert!(username("张三").is_err());
        assert!(username("a b").is_err());
        assert_eq!(name("name", "  运维一部 ", 50).unwrap(), "运维一部");
        assert!(name("name", "   ", 50).is_err());
        assert!(name("name", "a\u{0}b", 50).is_err());
        assert!(email(Some("a@b.cn")).unwrap().is_some());
        assert!(email(Some("a@b")).is_err());
        assert!(email(Some("")).unwrap().is_none());
        assert!(password("admin", "short").is_err());
        assert!(password("administrator", "Administrator").is_err());
        assert!(password("admin", "a long enough pass").is_ok());
    }

    proptest! {
        #[test]
        fn valid_usernames_are_stable(s in "\\PC{0,80}") {
            if let Ok(u) = username(&s) {
                prop_assert_eq!(username(&u).unwrap(), u.clone());
                prop_assert!(u.len() >= 2 && u.len() <= 64);
            }
        }

        #[test]
        fn names_never_keep_controls(s in "\\PC{0,40}[\\x00-\\x1f]?\\PC{0,40}") {
            if let Ok(n) = name("f", &s, 200) {
                prop_assert!(!n.chars().any(char::is_control));
                prop_assert_eq!(n.trim(), n.as_str());
            }
        }
    }
}
