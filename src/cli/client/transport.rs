//! Talking to the server: links taken apart, the HTTP client, and answers turned into JSON or
//! the server's one-line reason.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

/// `(base, key)` of a link `BASE/<one of kinds>/KEY`.
pub(super) fn split_link(link: &str, kinds: &[&str]) -> anyhow::Result<(String, String)> {
    let url = url::Url::parse(link.trim())
        .map_err(|_| anyhow!("not a link: expected BASE/{}/KEY", kinds[0]))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("not an http:// or https:// link");
    }
    let path = url.path().trim_end_matches('/');
    let found = kinds.iter().find_map(|kind| {
        let marker = format!("/{kind}/");
        path.rfind(&marker)
            .map(|at| (at, &path[at + marker.len()..]))
    });
    let Some((at, key)) = found.filter(|(_, key)| !key.is_empty() && !key.contains('/')) else {
        bail!("not a {} link: expected BASE/{}/KEY", kinds[0], kinds[0]);
    };
    let origin = url.origin().ascii_serialization();
    Ok((format!("{origin}{}", &path[..at]), key.to_owned()))
}

pub(super) fn http() -> anyhow::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("onetime-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("starting the HTTP client")
}

/// Sends `request`; the JSON answer, or the server's one-line reason.
pub(super) fn call(request: reqwest::blocking::RequestBuilder) -> anyhow::Result<Value> {
    let response = request
        .send()
        .map_err(|e| anyhow!("cannot reach the server: {}", e.without_url()))?;
    let status = response.status();
    let body: Value = response
        .json()
        .map_err(|_| anyhow!("the server's answer ({status}) is not JSON: is this an onetime (or Onetime Secret) server?"))?;
    if !status.is_success() {
        let why = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("refused");
        let why = if why == "Unknown secret" {
            "unknown secret: already revealed, burned, expired, or a wrong passphrase"
        } else {
            why
        };
        bail!("{why}");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_split_into_base_and_key_under_any_prefix() {
        let (base, key) =
            split_link("http://127.0.0.1:7143/secret/abc", &["secret"]).expect("link");
        assert_eq!(
            (base.as_str(), key.as_str()),
            ("http://127.0.0.1:7143", "abc")
        );
        let (base, key) =
            split_link("https://x.example/app/private/k1/", &["receipt", "private"]).expect("link");
        assert_eq!(
            (base.as_str(), key.as_str()),
            ("https://x.example/app", "k1")
        );
        assert!(split_link("https://x.example/other/k", &["secret"]).is_err());
        assert!(split_link("ftp://x.example/secret/k", &["secret"]).is_err());
        assert!(split_link("https://x.example/secret/", &["secret"]).is_err());
    }
}
