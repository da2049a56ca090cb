//! Secrets shown to people: enough to recognise which one is set, never enough to use it.
//! Robot URLs carry their credential (WeCom's `key`, DingTalk's `access_token` in the query,
//! Feishu's hook id in the path), so URLs are masked too.

use reqwest::Url;

/// `***` and, for secrets of 12 characters or more, their last 4.
pub fn secret(s: &str) -> String {
    let n = s.chars().count();
    if n >= 12 {
        let tail: String = s.chars().skip(n - 4).collect();
        format!("***{tail}")
    } else {
        "***".into()
    }
}

/// The URL with every query value and every path segment of 16 characters or more masked
/// (scheme, host, port and the short path segments stay readable). Unparsable: `***`.
pub fn url(u: &str) -> String {
    let Ok(parsed) = Url::parse(u.trim()) else {
        return "***".into();
    };
    let mut out = format!("{}://", parsed.scheme());
    if let Some(h) = parsed.host_str() {
        out.push_str(h);
    }
    if let Some(p) = parsed.port() {
        out.push_str(&format!(":{p}"));
    }
    let path: Vec<String> = parsed
        .path()
        .split('/')
        .map(|seg| {
            if seg.chars().count() >= 16 {
                secret(seg)
            } else {
                seg.to_string()
            }
        })
        .collect();
    out.push_str(&path.join("/"));
    if let Some(q) = parsed.query() {
        let masked: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !v.is_empty() => format!("{k}={}", secret(v)),
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn robots_urls_hide_their_credentials() {
        assert_eq!(
            super::url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***5aaa"
        );
        assert_eq!(
            super::url(
                "https://open.feishu.cn/open-apis/bot/v2/hook/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab"
            ),
            "https://open.feishu.cn/open-apis/bot/v2/hook/***90ab"
        );
        assert_eq!(
            super::url("http://127.0.0.1:8080/hook?access_token=short"),
            "http://127.0.0.1:8080/hook?access_token=***"
        );
        assert_eq!(super::url("not a url"), "***");
        assert_eq!(super::secret("SECabcdefgh123456"), "***3456");
        assert_eq!(super::secret("short"), "***");
    }
}
