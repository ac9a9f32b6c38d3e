//! Flat request parameters from every place real clients put them: the query string, an
//! urlencoded body, a multipart body, a JSON body. Body wins over query.
//!
//! Decoding is strict: invalid UTF-8 is refused rather than silently replaced, so a secret is
//! stored exactly as sent or not at all.
//!
//! A body must arrive whole within its deadline (`server.body_timeout`), or a client sending a
//! byte a second holds a connection for as long as it likes. The raw body and the buffers
//! parsed from it are zeroed when dropped: they hold secrets and passphrases.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use percent_encoding::percent_decode;
use zeroize::{Zeroize, Zeroizing};

use super::error::ApiError;
use crate::crypto::envelope::{FRAMING_MAX, IV_LEN, TAG_LEN};
use crate::domain::Sensitive;
use crate::service::E2eShare;

/// Largest request body accepted, in bytes, and how long it may take to arrive; set as app
/// data from the largest plan size and `server.body_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    /// Bytes.
    pub bytes: usize,
    /// The largest secret any plan allows, for the error message.
    pub secret_bytes: usize,
    /// From the first byte read to the last.
    pub deadline: Duration,
}

impl BodyLimit {
    /// Room for a secret of `secret_bytes` in any encoding (JSON `\uXXXX` escapes take six
    /// bytes a byte) plus the other fields, delivered within `deadline`.
    pub fn for_secret(secret_bytes: usize, deadline: Duration) -> Self {
        Self {
            bytes: secret_bytes.saturating_mul(6).saturating_add(16 * 1024),
            secret_bytes,
            deadline,
        }
    }

    /// Room for the larger of a secret of `secret_bytes` and an end-to-end envelope holding
    /// a text of that size and a file of `file_bytes` (base64url needs no escaping in any
    /// encoding: four characters per three bytes).
    pub fn for_plan(secret_bytes: usize, file_bytes: usize, deadline: Duration) -> Self {
        let plain = secret_bytes
            .saturating_add(file_bytes)
            .saturating_add(FRAMING_MAX + IV_LEN + TAG_LEN);
        let envelope = plain.div_ceil(3).saturating_mul(4).saturating_add(16);
        let plain_limit = Self::for_secret(secret_bytes, deadline);
        Self {
            bytes: plain_limit.bytes.max(envelope.saturating_add(16 * 1024)),
            ..plain_limit
        }
    }

    fn exceeded(self) -> ApiError {
        ApiError::Invalid {
            message: format!(
                "Secret value exceeds the maximum size of {} bytes",
                self.secret_bytes
            ),
            status: StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// The body limits. A body is a secret's size (the largest plan's) unless the request says in
/// its query that it carries a file (`?e2e=file`, as `static/e2e.js` and `onetime share
/// --file` send it); then room for an envelope with the largest file of the plans it may be
/// under: any plan's with credentials (an `Authorization` header or a session cookie), the
/// anonymous plan's without. So a body is cut at its size while it is read, and only a file
/// upload gets a file's room.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Everything but file uploads.
    pub plain: BodyLimit,
    /// File uploads with credentials.
    pub account_files: BodyLimit,
    /// File uploads without.
    pub anonymous_files: BodyLimit,
}

impl BodyLimits {
    /// One limit for every request.
    pub fn same(limit: BodyLimit) -> Self {
        Self {
            plain: limit,
            account_files: limit,
            anonymous_files: limit,
        }
    }

    /// The limit for `req`: whether it announces a file and carries credentials (not whether
    /// they are good: that is checked after the body, and the plan's own sizes then).
    fn for_request(&self, req: &HttpRequest) -> BodyLimit {
        let file = req.query_string().split('&').any(|pair| pair == "e2e=file");
        if !file {
            return self.plain;
        }
        let session = req.cookies().is_ok_and(|cookies| {
            cookies
                .iter()
                .any(|c| c.name().ends_with("onetime_session"))
        });
        if session
            || req
                .headers()
                .contains_key(actix_web::http::header::AUTHORIZATION)
        {
            self.account_files
        } else {
            self.anonymous_files
        }
    }
}

/// Name/value pairs in precedence order (body first, then query). Values are zeroed on drop:
/// they may hold the secret or the passphrase.
#[derive(Default)]
pub struct Params {
    pairs: Vec<(String, Zeroizing<String>)>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.pairs.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Params").field("names", &names).finish()
    }
}

impl Params {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, as a value to keep out of logs.
    pub fn sensitive(&self, name: &str) -> Option<Sensitive> {
        self.get(name).map(|v| Sensitive::new(v.to_owned()))
    }

    /// Every value of `name` and `name[]`, from the highest-precedence source that has any.
    pub fn all(&self, name: &str) -> Vec<String> {
        let array = format!("{name}[]");
        self.pairs
            .iter()
            .filter(|(k, _)| *k == name || *k == array)
            .map(|(_, v)| v.to_string())
            .collect()
    }

    /// The end-to-end extension of a create (`docs/envelope.md`), for the API and the pages
    /// alike: `e2e=text` (or `1`, `true`) or `e2e=file` marks the secret as an envelope,
    /// `verifier` its key's verifier. Absent, `0`, `false` or empty: a server-side secret, as for
    /// every v1 client.
    pub fn e2e_share(&self) -> Option<E2eShare> {
        let file = match self.get("e2e")?.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "no" => return None,
            "file" => true,
            _ => false,
        };
        Some(E2eShare {
            verifier: self
                .get("verifier")
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            file,
        })
    }

    fn push(&mut self, name: String, value: String) {
        self.pairs.push((name, Zeroizing::new(value)));
    }

    fn extend(&mut self, other: Params) {
        self.pairs.extend(other.pairs);
    }
}

fn bad_utf8() -> ApiError {
    ApiError::invalid("Parameters must be valid UTF-8")
}

/// Strict `application/x-www-form-urlencoded` decoding.
fn parse_urlencoded(input: &[u8]) -> Result<Params, ApiError> {
    let mut params = Params::default();
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let decode = |raw: &[u8]| -> Result<String, ApiError> {
            let spaced: Zeroizing<Vec<u8>> = Zeroizing::new(
                raw.iter()
                    .map(|&b| if b == b'+' { b' ' } else { b })
                    .collect(),
            );
            let bytes: Vec<u8> = percent_decode(&spaced).collect();
            String::from_utf8(bytes).map_err(|e| {
                e.into_bytes().zeroize();
                bad_utf8()
            })
        };
        params.push(decode(name)?, decode(value)?);
    }
    Ok(params)
}

/// A JSON object body: strings, numbers and booleans as text, arrays (recipients) as repeated
/// values, `null` as absent. With `nested`, objects become bracketed names as a nested form
/// would send them (`{"secret":{"ttl":60}}` is `secret[ttl]=60`), as the v2 API reads them;
/// without, an object value is malformed (v1 has none).
fn parse_json(body: &[u8], nested: bool) -> Result<Params, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| malformed_json())?;
    let serde_json::Value::Object(map) = value else {
        return Err(malformed_json());
    };
    let mut params = Params::default();
    let depth = if nested { NESTED_DEPTH } else { 0 };
    for (name, value) in map {
        push_json(&mut params, &name, value, depth)?;
    }
    Ok(params)
}

/// How deep a v2 body may nest objects (`secret[character_sets][uppercase]` is two).
const NESTED_DEPTH: usize = 2;

fn malformed_json() -> ApiError {
    ApiError::invalid("Malformed JSON body")
}

/// Adds one JSON member; objects open up to `depth` more levels of brackets.
fn push_json(
    params: &mut Params,
    name: &str,
    value: serde_json::Value,
    depth: usize,
) -> Result<(), ApiError> {
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(members) if depth > 0 => {
            for (inner, value) in members {
                push_json(params, &format!("{name}[{inner}]"), value, depth - 1)?;
            }
            return Ok(());
        }
        other => vec![other],
    };
    for item in items {
        let text = match item {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            _ => return Err(malformed_json()),
        };
        params.push(name.to_owned(), text);
    }
    Ok(())
}

/// A `multipart/form-data` body; fields are read as strict UTF-8 text.
async fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Params, ApiError> {
    let malformed = || ApiError::invalid("Malformed multipart body");
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed())?;
    // multer wants owned chunks: one copy, zeroed below once multer has let go of it.
    let shared = Bytes::copy_from_slice(body);
    let chunk = shared.clone();
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(chunk) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut params = Params::default();
    let mut parsed = Ok(());
    while let Some(field) = multipart.next_field().await.transpose() {
        let Ok(field) = field else {
            parsed = Err(malformed());
            break;
        };
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let Ok(bytes) = field.bytes().await else {
            parsed = Err(malformed());
            break;
        };
        let value = Zeroizing::new(bytes.to_vec());
        wipe(bytes);
        match std::str::from_utf8(&value) {
            Ok(text) => params.push(name, text.to_owned()),
            Err(_) => {
                parsed = Err(bad_utf8());
                break;
            }
        }
    }
    drop(multipart);
    wipe(shared);
    parsed.map(|()| params)
}

/// Zeroes a chunk of body bytes when nothing else shares it any more (our copy of the body,
/// a multipart field); a shared one is left to its other owner.
fn wipe(bytes: Bytes) {
    if let Ok(mut owned) = bytes.try_into_mut() {
        owned[..].zeroize();
    }
}

/// The whole body, within `limit`'s size and deadline. `declared` (Content-Length, already
/// checked against the limit) sizes the buffer up front.
async fn read_body(
    mut payload: Payload,
    limit: BodyLimit,
    declared: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let read = async move {
        let mut body = Zeroizing::new(Vec::with_capacity(declared.unwrap_or(0)));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::invalid("Request body could not be read"))?;
            // Checked per chunk, so an endless or huge body costs at most `limit` bytes.
            if body.len() + chunk.len() > limit.bytes {
                return Err(limit.exceeded());
            }
            append(&mut body, &chunk);
            wipe(chunk);
        }
        Ok(body)
    };
    // Why a deadline on the whole read, not per chunk: a byte every few seconds would pass
    // any per-chunk timeout and still hold the connection for hours.
    tokio::time::timeout(limit.deadline, read)
        .await
        .map_err(|_| ApiError::BodyTimeout)?
}

/// Appends `chunk`, growing by hand so that no outgrown buffer is freed without being zeroed
/// (a plain `extend` would reallocate and leave the old copy of the secret behind).
fn append(body: &mut Zeroizing<Vec<u8>>, chunk: &[u8]) {
    let needed = body.len() + chunk.len();
    if needed > body.capacity() {
        let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(body.capacity() * 2)));
        grown.extend_from_slice(body);
        // The old buffer is zeroed as it drops here.
        *body = grown;
    }
    body.extend_from_slice(chunk);
}

/// The parameters of a v2-style request: as [`Params`] reads them, and JSON objects as
/// bracketed names (see [`parse_json`]).
pub async fn extract_nested(req: HttpRequest, payload: Payload) -> Result<Params, ApiError> {
    extract(req, payload, true).await
}

async fn extract(req: HttpRequest, payload: Payload, nested: bool) -> Result<Params, ApiError> {
    let limits = req.app_data::<BodyLimits>().copied().unwrap_or_else(|| {
        BodyLimits::same(BodyLimit::for_secret(10_000, Duration::from_secs(10)))
    });
    let limit = limits.for_request(&req);
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &actix_web::http::header::HeaderValue| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(encoding) = header(CONTENT_ENCODING).filter(|e| !e.eq_ignore_ascii_case("identity"))
    {
        // Nothing here inflates bodies: refusing is the only answer that cannot be a bomb.
        return Err(ApiError::Invalid {
            message: format!(
                "Content-Encoding {} is not supported; send the body uncompressed",
                encoding.chars().take(32).collect::<String>()
            ),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        });
    }
    let declared = header(CONTENT_LENGTH).and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit.bytes) {
        return Err(limit.exceeded());
    }
    let content_type = header(CONTENT_TYPE).unwrap_or("").to_owned();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let body = read_body(payload, limit, declared).await?;
    let mut params = if body.is_empty() {
        Params::default()
    } else {
        match mime.as_str() {
            "application/json" => parse_json(&body, nested)?,
            "multipart/form-data" => parse_multipart(&content_type, &body).await?,
            // curl -d and most clients send urlencoded; a missing type is read the same way.
            "application/x-www-form-urlencoded" | "" => parse_urlencoded(&body)?,
            m if m.ends_with("+json") => parse_json(&body, nested)?,
            _ => {
                return Err(ApiError::Invalid {
                    message:
                        "Unsupported Content-Type; send JSON, urlencoded or multipart form data"
                            .into(),
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                })
            }
        }
    };
    params.extend(parse_urlencoded(req.query_string().as_bytes())?);
    Ok(params)
}

impl FromRequest for Params {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        Box::pin(extract(req.clone(), payload.take(), false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_decodes_plus_and_percent() {
        let p = parse_urlencoded(b"secret=a+b%26c&ttl=60&flag").expect("parse");
        assert_eq!(p.get("secret"), Some("a b&c"));
        assert_eq!(p.get("ttl"), Some("60"));
        assert_eq!(p.get("flag"), Some(""));
    }

    #[test]
    fn urlencoded_refuses_invalid_utf8() {
        assert!(parse_urlencoded(b"secret=%ff%fe").is_err());
    }

    #[test]
    fn json_values_become_text_and_arrays_repeat() {
        let p = parse_json(
            br#"{"secret":"s","ttl":3600,"x":true,"recipient":["a@b.c","d@e.f"],"n":null}"#,
            false,
        )
        .expect("parse");
        assert_eq!(p.get("ttl"), Some("3600"));
        assert_eq!(p.get("x"), Some("true"));
        assert_eq!(p.all("recipient"), vec!["a@b.c", "d@e.f"]);
        assert_eq!(p.get("n"), None);
        assert!(parse_json(b"[1,2]", false).is_err());
        assert!(parse_json(b"{\"secret\":", false).is_err());
        assert!(parse_json(br#"{"secret":{"nested":1}}"#, false).is_err());
    }

    #[test]
    fn nested_json_becomes_bracketed_names_two_levels_deep() {
        let p = parse_json(
            br#"{"secret":{"secret":"s","ttl":60,"character_sets":{"symbols":false}},"continue":true}"#,
            true,
        )
        .expect("parse");
        assert_eq!(p.get("secret[secret]"), Some("s"));
        assert_eq!(p.get("secret[ttl]"), Some("60"));
        assert_eq!(p.get("secret[character_sets][symbols]"), Some("false"));
        assert_eq!(p.get("continue"), Some("true"));
        assert!(parse_json(br#"{"a":{"b":{"c":{"d":1}}}}"#, true).is_err());
    }

    #[test]
    fn debug_never_shows_values() {
        let p = parse_urlencoded(b"secret=hunter2").expect("parse");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
