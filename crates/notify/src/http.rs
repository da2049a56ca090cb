//! One guarded HTTP POST: resolve and check the host, then connect only to the checked
//! addresses (no DNS lookup of its own, no redirects, no proxy), within a timeout.

use reqwest::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use reqwest::Url;

use crate::{guard, SendError, SendOptions};

/// What the receiver answered.
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
}

/// Answers longer than this are cut (robots answer a few bytes of JSON).
const MAX_REPLY: usize = 64 * 1024;

pub(crate) async fn post_json(
    url: &Url,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
    opts: &SendOptions,
) -> Result<Reply, SendError> {
    let addrs = guard::check_url(url, &opts.policy).await?;
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout);
    if let Some(d) = url.domain() {
        b = b.resolve_to_addrs(d, &addrs);
    }
    let client = b
        .build()
        .map_err(|e| SendError::Config(e.without_url().to_string()))?;
    let mut req = client
        .post(url.clone())
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )
        .header(
            USER_AGENT,
            HeaderValue::from_static(concat!("yunwei/", env!("CARGO_PKG_VERSION"))),
        )
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    // Errors are shown without the URL: robot URLs carry their credential.
    let mut res = req.send().await.map_err(|e| {
        if e.is_timeout() {
            SendError::Timeout
        } else {
            SendError::failed(e.without_url().to_string())
        }
    })?;
    let status = res.status().as_u16();
    let mut buf = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| SendError::failed(e.without_url().to_string()))?
    {
        let room = MAX_REPLY.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_REPLY {
            break;
        }
    }
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&buf).into_owned(),
    })
}

/// A non-2xx answer as an error: 4xx other than 408 and 429 will not get better by trying
/// again.
pub(crate) fn status_error(r: &Reply) -> SendError {
    let permanent = (400..500).contains(&r.status) && r.status != 408 && r.status != 429;
    SendError::Failed {
        message: format!(
            "HTTP {}: {}",
            r.status,
            crate::render::excerpt(&crate::render::one_line(&r.body), 200)
        ),
        permanent,
    }
}
