//! Pure domain logic: states, key formats, TTL rules, and the receipt as clients see it.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{ListPublicKey, ListSecretKey};

/// The current time in unix seconds; handlers pass it in, so the use cases stay testable.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Longest passphrase accepted, in characters (API.md).
pub const PASSPHRASE_MAX_CHARS: usize = 128;
/// Longest private note a creator may keep with a secret (characters).
pub const MEMO_MAX_CHARS: usize = 200;
/// Lengths a generated password may have.
pub const GENERATE_LENGTH: RangeInclusive<usize> = 4..=128;
/// A generated value is shown on the first receipt read only within this many seconds.
pub const GENERATED_VALUE_WINDOW: u64 = 60;
/// How long a creator's recent list remembers a secret, in seconds (30 days).
pub const RECENT_WINDOW: u64 = 30 * 24 * 3600;
/// Characters of the secret key shown as `secret_shortkey` after a burn.
pub const SHORTKEY_CHARS: usize = 8;

/// Whether `key` can be a key we issued: `^[0-9a-z]{20,128}$`. Anything else is unknown
/// without touching the store.
pub fn is_plausible_key(key: &str) -> bool {
    (20..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// Lifecycle of a secret as its receipt reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Created, not yet read.
    New,
    /// Revealed once; the value is gone.
    Received,
    /// Destroyed unread by its creator.
    Burned,
    /// Its time passed unread (computed on read, never stored).
    Expired,
}

/// A lifetime as a create asks for it, read once where it arrives (API parameter or form
/// field), before the plan's limits apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedTtl(u64);

impl RequestedTtl {
    /// Onetime Secret's reading, which clients rely on: empty means not given (`None`, the
    /// default applies); a negative or unreadable number asks for 0 seconds; fractions are cut.
    pub fn parse(raw: &str) -> Option<Self> {
        let text = raw.trim();
        if text.is_empty() {
            return None;
        }
        let seconds = text
            .parse::<i64>()
            .map(|n| u64::try_from(n).unwrap_or(0))
            .or_else(|_| text.parse::<f64>().map(|f| f.max(0.0) as u64))
            .unwrap_or(0);
        Some(Self(seconds))
    }

    /// Asks for exactly `seconds`.
    pub fn seconds(seconds: u64) -> Self {
        Self(seconds)
    }

    /// The seconds asked for.
    pub fn asked(self) -> u64 {
        self.0
    }

    /// The TTL a create gets: not given = `default`, then clamped into `[min, max]` silently.
    pub fn resolve(asked: Option<Self>, default: u64, min: u64, max: u64) -> u64 {
        asked.map_or(default, Self::asked).clamp(min, max.max(min))
    }
}

/// The TTL a create gets: missing = `default`, unparsable = 0, then clamped into
/// `[min, max]` silently (Onetime Secret's behaviour, which clients rely on).
pub fn resolve_ttl(raw: Option<&str>, default: u64, min: u64, max: u64) -> u64 {
    RequestedTtl::resolve(raw.and_then(RequestedTtl::parse), default, min, max)
}

/// The generated password length: missing or unparsable = `default`, then clamped to 4..=128.
pub fn resolve_length(raw: Option<&str>, default: usize) -> usize {
    raw.and_then(|t| t.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
        .clamp(*GENERATE_LENGTH.start(), *GENERATE_LENGTH.end())
}

/// `alice@example.com` -> `a***@e***.com`: enough for the creator to recognise, not to mail.
pub fn obscure_email(address: &str) -> String {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return "***".into();
    };
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let tld = if tld.is_empty() {
        String::new()
    } else {
        format!(".{tld}")
    };
    format!("{}***@{}***{tld}", first(local), first(host))
}

/// A secret value or passphrase in memory: zeroed on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(Zeroizing<String>);

impl Sensitive {
    /// Wraps `text`.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The text itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A zeroizing copy, for handing to the blocking pool.
    pub fn to_zeroizing(&self) -> Zeroizing<String> {
        self.0.clone()
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Sensitive {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sensitive {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// Fewest characters a web password may have.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Most bytes a web password may have (scrypt takes any length; this bounds the work).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// Authenticated with an account's email and API token, or signed in on the web.
    Account {
        /// The account's email, its `custid`.
        email: String,
        /// The account's plan name.
        plan: String,
        /// What seals new entries of the caller's recent list and opens its entries.
        recent: RecentAccess,
    },
}

/// What a signed-in account's credential gives over their recent list, which the data
/// directory alone cannot open (see [`crate::accounts`] for the rule).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentAccess {
    /// The public list keys of the account's credentials (API side, web side, when present):
    /// every new entry is sealed to each, so it lists through either door.
    pub recipients: Vec<ListPublicKey>,
    /// The private list key of the credential this caller proved.
    pub key: Option<ListSecretKey>,
    /// The API token this caller proved, if any: it opens entries written before web sign-in
    /// (schema 1), which were sealed under the token itself.
    pub token: Option<Sensitive>,
}

impl Caller {
    /// Whether this caller is the account that created `receipt`.
    pub fn owns(&self, receipt: &Receipt) -> bool {
        self.created(&receipt.custid)
    }

    /// Whether this caller is the account recorded as `custid` (never an anonymous caller,
    /// though anonymous receipts say `anon`).
    pub fn created(&self, custid: &str) -> bool {
        matches!(self, Self::Account { email, .. } if email == custid)
    }

    /// The `custid` recorded on receipts.
    pub fn custid(&self) -> &str {
        match self {
            Self::Anonymous => "anon",
            Self::Account { email, .. } => email,
        }
    }

    /// The plan whose limits apply.
    pub fn plan_name(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Account { plan, .. } => plan,
        }
    }
}

/// Longest email address accepted (RFC 5321 path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// `Some(lowercased address)` when `raw` looks like a deliverable email address: one `@`, a
/// non-empty local part, a dotted domain, no spaces or control characters.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_ascii_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = email.len() <= EMAIL_MAX_CHARS
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && email
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\\\"".contains(c));
    valid.then_some(email)
}

/// An email address that can be mailed: only [`EmailAddress::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The address, lowercased, when `raw` looks deliverable (see [`normalize_email`]).
    pub fn parse(raw: &str) -> Option<Self> {
        normalize_email(raw).map(Self)
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key from a link, of one kind. The only constructor, `parse`, checks
/// `^[0-9a-z]{20,128}$` ([`is_plausible_key`]): past the HTTP edge a key that cannot be ours
/// does not exist, and it never reaches the store.
macro_rules! url_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The key, if `raw` can be one we issued.
            pub fn parse(raw: &str) -> Option<Self> {
                is_plausible_key(raw).then(|| Self(raw.to_owned()))
            }

            /// A fresh key: 62 base36 characters from the OS CSPRNG.
            pub fn generate() -> Self {
                Self(crate::crypto::generate_key())
            }

            /// The key's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// A key opens what it names: never printed.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

url_key!(
    /// The key of a secret link (`/secret/{key}`): it opens the secret.
    SecretKey
);
url_key!(
    /// The key of a receipt link (`/receipt/{key}`), the API's `metadata_key`: it opens the
    /// receipt.
    ReceiptKey
);

/// The receipt object of the v1 API, fields in the documented order; serialized with the
/// aliases Onetime Secret v0.24 added beside them (see the `Serialize` impl).
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Creator's email, or `anon`.
    pub custid: String,
    /// The receipt's own key.
    pub metadata_key: String,
    /// Omitted once received, and in `recent`.
    pub secret_key: Option<String>,
    /// The applied TTL, after clamping.
    pub ttl: u64,
    /// Seconds left on the receipt.
    pub metadata_ttl: u64,
    /// Seconds left on the secret: omitted once received, `null` once gone otherwise.
    pub secret_ttl: Option<Option<u64>>,
    /// `<base_url>/receipt/<metadata_key>`.
    pub metadata_url: String,
    /// Computed state.
    pub state: State,
    /// Last change, unix seconds.
    pub updated: u64,
    /// Creation, unix seconds.
    pub created: u64,
    /// When it was revealed; only in state `received`.
    pub received: Option<u64>,
    /// When its link was first previewed; only in state `new` (v1 says `viewed` then).
    pub previewed: Option<u64>,
    /// Obscured recipient addresses.
    pub recipient: Vec<String>,
    /// `""` or the share domain the creator named.
    pub share_domain: String,
    /// Whether reading the secret needs a passphrase (while it exists).
    pub passphrase_required: bool,
    /// A generated value: in the generate response and the first receipt read within 60 s.
    pub value: Option<Sensitive>,
    /// How emailing the link went, when there is a recipient.
    pub delivery: Option<DeliveryStatus>,
    /// The creator's private note ("db password for Anna"): on the receipt and the recent
    /// list only, never shown to the recipient.
    pub memo: Option<Sensitive>,
    /// Encrypted end to end (`docs/envelope.md`): the server never had the key.
    pub e2e: bool,
    /// The envelope's size, when the creator said it holds a file (never its name).
    pub file_size: Option<u64>,
}

impl Serialize for Receipt {
    /// The v0.23 fields in their documented order, then the v0.24 aliases current clients and
    /// upstream's response schemas read: `identifier` (metadata_key), `secret_identifier`
    /// (secret_key), `has_passphrase` (passphrase_required), `recipients` (recipient),
    /// `receipt_ttl` (metadata_ttl), `receipt_url` (metadata_url).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("custid", &self.custid)?;
        map.serialize_entry("metadata_key", &self.metadata_key)?;
        entry_if_some(&mut map, "secret_key", self.secret_key.as_ref())?;
        map.serialize_entry("ttl", &self.ttl)?;
        map.serialize_entry("metadata_ttl", &self.metadata_ttl)?;
        entry_if_some(&mut map, "secret_ttl", self.secret_ttl.as_ref())?;
        map.serialize_entry("metadata_url", &self.metadata_url)?;
        match self.previewed {
            Some(_) if self.state == State::New => map.serialize_entry("state", "viewed")?,
            _ => map.serialize_entry("state", &self.state)?,
        }
        map.serialize_entry("updated", &self.updated)?;
        map.serialize_entry("created", &self.created)?;
        entry_if_some(&mut map, "received", self.received.as_ref())?;
        map.serialize_entry("recipient", &self.recipient)?;
        map.serialize_entry("share_domain", &self.share_domain)?;
        map.serialize_entry("passphrase_required", &self.passphrase_required)?;
        entry_if_some(&mut map, "value", self.value.as_ref())?;
        entry_if_some(&mut map, "delivery", self.delivery.as_ref())?;
        entry_if_some(&mut map, "memo", self.memo.as_ref())?;
        // Extensions clients ignore: end-to-end, and a file's size (docs/envelope.md).
        map.serialize_entry("e2e", &self.e2e)?;
        entry_if_some(&mut map, "file_size", self.file_size.as_ref())?;
        map.serialize_entry("identifier", &self.metadata_key)?;
        entry_if_some(&mut map, "secret_identifier", self.secret_key.as_ref())?;
        map.serialize_entry("has_passphrase", &self.passphrase_required)?;
        map.serialize_entry("recipients", &self.recipient)?;
        map.serialize_entry("receipt_ttl", &self.metadata_ttl)?;
        map.serialize_entry("receipt_url", &self.metadata_url)?;
        map.end()
    }
}

/// Adds `key: value` to `map` when there is a value; an absent one leaves the key out.
fn entry_if_some<M: SerializeMap, T: Serialize>(
    map: &mut M,
    key: &'static str,
    value: Option<&T>,
) -> Result<(), M::Error> {
    value.map_or(Ok(()), |v| map.serialize_entry(key, v))
}

/// Where an emailed link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting to be sent, or to be retried.
    Queued,
    /// Accepted by the SMTP server.
    Sent,
    /// Given up on.
    Failed,
}

/// The `delivery` field of a receipt with a recipient (an extension; clients ignore it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryStatus {
    /// queued, sent or failed.
    pub state: DeliveryState,
    /// The SMTP server's last word, addresses removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unix seconds of the last change.
    pub updated: u64,
}

/// What a successful reveal hands back.
#[derive(Debug, Serialize)]
pub struct Revealed {
    /// The secret, now destroyed in the store.
    pub value: Sensitive,
    /// The key it was read with.
    pub secret_key: String,
    /// Scheme and host the link was shared on.
    pub share_domain: String,
    /// The value is an end-to-end envelope (not in the v1 response: the value says it).
    #[serde(skip)]
    pub e2e: bool,
}

/// What a successful burn hands back.
#[derive(Debug, Serialize)]
pub struct Burned {
    /// The receipt, state `burned`.
    pub state: Receipt,
    /// First characters of the secret key, so the creator can tell which one it was.
    pub secret_shortkey: String,
}

#[cfg(test)]
mod tests;
