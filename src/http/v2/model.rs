//! The v2 and v3 response bodies as types: the handlers build these, serde writes them, and
//! utoipa derives the OpenAPI description from the same definitions, so the description cannot
//! say something the server does not send.
//!
//! Field names and meanings follow upstream Onetime Secret's v2 wire format (its `safe_dump`
//! fields and Zod response schemas); numbers and booleans are native JSON values in both
//! versions. Fields upstream has and this server has no data for (`owner_id`, `shared`,
//! `recipient_name`) are sent as `null`, never invented.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Receipt, Sensitive, State};

/// The envelope of every single-record success response: `success` is v2 only (v3 says it
/// with the HTTP status).
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordResponse<R, D> {
    /// v2: `true` when the action happened (a burn without `continue=true` sends `false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// The record.
    pub record: R,
    /// What the client needs to present it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<D>,
}

/// The envelope of list responses.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<R, D> {
    /// v2 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// The caller's account email (receipt lists only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custid: Option<String>,
    /// How many records follow.
    pub count: usize,
    /// The records.
    pub records: Vec<R>,
    /// What the list covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<D>,
}

/// A secret's state as v2 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecretState {
    /// Waiting to be revealed.
    New,
    /// Waiting, and its link was previewed (shown, not revealed).
    Previewed,
    /// Revealed once; the value is gone.
    Revealed,
    /// Destroyed unread by its creator.
    Burned,
}

/// A receipt's state as v2 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptState {
    /// The secret waits.
    New,
    /// The secret waits, and its link was previewed (shown, not revealed).
    Previewed,
    /// The secret was revealed.
    Revealed,
    /// The creator burned the secret.
    Burned,
    /// The secret's time ran out unread.
    Expired,
}

impl From<State> for ReceiptState {
    fn from(state: State) -> Self {
        match state {
            State::New => Self::New,
            State::Received => Self::Revealed,
            State::Burned => Self::Burned,
            State::Expired => Self::Expired,
        }
    }
}

/// The secret object (`record.secret`, `record` of show and reveal).
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretRecord {
    /// The secret key: the capability to reveal.
    pub identifier: String,
    /// Same as `identifier`.
    pub key: String,
    /// The key's first 8 characters, for display.
    pub shortid: String,
    /// `new` while it waits, `previewed` once its link was shown; `revealed` in the reveal
    /// response.
    pub state: SecretState,
    /// The applied lifetime, seconds.
    pub lifespan: u64,
    /// Seconds left before it expires (0 once revealed).
    pub secret_ttl: u64,
    /// Whether the reveal needs a passphrase.
    pub has_passphrase: bool,
    /// Always false: account verification links do not exist here.
    pub verification: bool,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds.
    pub updated: u64,
    /// Its link was previewed (shown, not revealed).
    pub is_previewed: bool,
    /// True in the reveal response.
    pub is_revealed: bool,
    /// Deprecated alias of `is_previewed`.
    pub is_viewed: bool,
    /// Deprecated alias of `is_revealed`.
    pub is_received: bool,
    /// The value, in the reveal response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub secret_value: Option<Sensitive>,
}

/// `details` of show and reveal.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretDetails {
    /// Whether the client sent `continue=true`.
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Whether the caller created this secret (not tracked: always false).
    pub is_owner: bool,
    /// True when `record.secret_value` holds the value.
    pub show_secret: bool,
    /// False when the passphrase was missing or wrong.
    pub correct_passphrase: bool,
    /// Lines a text area needs for the value (3..=30).
    pub display_lines: u64,
    /// Whether the value has no line breaks; null without a value.
    pub one_liner: Option<bool>,
}

impl SecretDetails {
    /// The details for a secret shown (`value` revealed) or only described.
    pub fn new(continue_: bool, correct_passphrase: bool, value: Option<&str>) -> Self {
        let display_lines = value.map_or(3, |v| {
            let lines = (80 + v.chars().count()) / 80 + v.matches('\n').count() + 3;
            lines.min(30) as u64
        });
        Self {
            continue_,
            is_owner: false,
            show_secret: value.is_some(),
            correct_passphrase,
            display_lines,
            one_liner: value.filter(|v| !v.is_empty()).map(|v| !v.contains('\n')),
        }
    }
}

/// `record` of the unknown-secret status answer: `{"state":"unknown"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnknownRecord {
    /// Always `unknown`.
    pub state: &'static str,
}

/// `details` of a found secret's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusDetails {
    /// Seconds left before the secret expires.
    pub current_expiration: Option<u64>,
}

/// The receipt object as list and create responses send it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptBase {
    /// The receipt (metadata) key: keep it private, it is the capability to burn.
    pub identifier: String,
    /// Same as `identifier`.
    pub key: String,
    /// The receipt key's first 8 characters.
    pub shortid: String,
    /// Lifecycle state.
    pub state: ReceiptState,
    /// Creator's email, `anon` for anonymous secrets.
    pub custid: Option<String>,
    /// Not tracked here: always null.
    #[schema(value_type = Option<String>)]
    pub owner_id: Option<()>,
    /// First 8 characters of the secret key.
    pub secret_shortid: String,
    /// The secret key while the secret waits; absent once it is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_identifier: Option<String>,
    /// Seconds left on the secret (0 once gone).
    pub secret_ttl: u64,
    /// Seconds left on the receipt.
    pub metadata_ttl: u64,
    /// Same as `metadata_ttl`.
    pub receipt_ttl: u64,
    /// The secret's applied lifetime, seconds.
    pub lifespan: u64,
    /// The share domain the creator named, or null.
    pub share_domain: Option<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds of the last state change.
    pub updated: u64,
    /// Not tracked here: always null.
    #[schema(value_type = Option<u64>)]
    pub shared: Option<()>,
    /// Unix seconds the link was first previewed, while the secret waits.
    pub previewed: Option<u64>,
    /// Unix seconds of the reveal.
    pub revealed: Option<u64>,
    /// Deprecated alias of `revealed`.
    pub received: Option<u64>,
    /// Deprecated alias of `previewed`.
    pub viewed: Option<u64>,
    /// Unix seconds of the burn.
    pub burned: Option<u64>,
    /// Obscured recipient addresses.
    pub recipients: Vec<String>,
    /// Not tracked here: always null.
    #[schema(value_type = Option<String>)]
    pub recipient_name: Option<()>,
    /// The creator's private note.
    #[schema(value_type = Option<String>)]
    pub memo: Option<Sensitive>,
    /// Whether there are recipients.
    pub show_recipients: bool,
    /// The link was previewed and the secret waits.
    pub is_previewed: bool,
    /// Deprecated alias of `is_previewed`.
    pub is_viewed: bool,
    /// The secret was revealed.
    pub is_revealed: bool,
    /// Deprecated alias of `is_revealed`.
    pub is_received: bool,
    /// The secret was burned.
    pub is_burned: bool,
    /// The secret expired unread.
    pub is_expired: bool,
    /// Always false (a receipt here never outlives knowing its secret).
    pub is_orphaned: bool,
    /// The secret no longer exists.
    pub is_destroyed: bool,
    /// Whether the secret needs a passphrase (while it exists).
    pub has_passphrase: bool,
    /// `conceal` or `generate` when known; null otherwise.
    pub kind: Option<&'static str>,
    /// `standard`, or `incoming` for a secret sent through /api/incoming.
    pub source: &'static str,
}

impl ReceiptBase {
    /// The v2 view of a receipt.
    pub fn from_receipt(r: &Receipt, kind: Option<&'static str>) -> Self {
        let state = match r.previewed {
            Some(_) if r.state == State::New => ReceiptState::Previewed,
            _ => ReceiptState::from(r.state),
        };
        let previewed = r.previewed.filter(|_| r.state == State::New);
        let secret_key = r.secret_key.clone().unwrap_or_default();
        let revealed = r.received.filter(|_| r.state == State::Received);
        Self {
            identifier: r.metadata_key.clone(),
            key: r.metadata_key.clone(),
            shortid: prefix(&r.metadata_key),
            state,
            custid: Some(r.custid.clone()),
            owner_id: None,
            secret_shortid: prefix(&secret_key),
            secret_identifier: r.secret_key.clone().filter(|_| r.state == State::New),
            secret_ttl: r.secret_ttl.flatten().unwrap_or(0),
            metadata_ttl: r.metadata_ttl,
            receipt_ttl: r.metadata_ttl,
            lifespan: r.ttl,
            share_domain: Some(r.share_domain.clone()).filter(|d| !d.is_empty()),
            created: r.created,
            updated: r.updated,
            shared: None,
            previewed,
            revealed,
            received: revealed,
            viewed: previewed,
            burned: (r.state == State::Burned).then_some(r.updated),
            recipients: r.recipient.clone(),
            recipient_name: None,
            memo: r.memo.clone(),
            show_recipients: !r.recipient.is_empty(),
            is_previewed: previewed.is_some(),
            is_viewed: previewed.is_some(),
            is_revealed: state == ReceiptState::Revealed,
            is_received: state == ReceiptState::Revealed,
            is_burned: state == ReceiptState::Burned,
            is_expired: state == ReceiptState::Expired,
            is_orphaned: false,
            is_destroyed: !matches!(state, ReceiptState::New | ReceiptState::Previewed),
            has_passphrase: r.passphrase_required,
            kind,
            source: "standard",
        }
    }
}

/// The first 8 characters of a key: enough to tell secrets apart, never enough to open one.
pub fn prefix(key: &str) -> String {
    key.chars().take(8).collect()
}

/// The receipt object of show and burn: the base plus where everything is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptRecord {
    /// The receipt fields.
    #[serde(flatten)]
    pub base: ReceiptBase,
    /// The secret's state; null once it is gone.
    pub secret_state: Option<SecretState>,
    /// The secret's lifetime in words (`7 days`).
    pub natural_expiration: String,
    /// Unix seconds the secret expires at; null once it is gone.
    pub expiration: Option<u64>,
    /// Seconds left before the secret expires (0 once gone).
    pub expiration_in_seconds: u64,
    /// `/secret/<key>` while the secret waits, else null.
    pub share_path: Option<String>,
    /// `/receipt/<key>/burn`.
    pub burn_path: String,
    /// `/receipt/<key>`.
    pub receipt_path: String,
    /// Alias of `receipt_path`.
    pub metadata_path: String,
    /// The secret link while the secret waits, else null.
    pub share_url: Option<String>,
    /// The receipt page.
    pub receipt_url: String,
    /// Alias of `receipt_url`.
    pub metadata_url: String,
    /// The burn page.
    pub burn_url: String,
}

/// `details` of show and burn receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptDetails {
    /// Always `record`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Lines a text area needs for a shown value.
    pub display_lines: u64,
    /// Always true: receipts are never cached.
    pub no_cache: bool,
    /// Seconds the secret has left, null once gone.
    pub secret_realttl: Option<u64>,
    /// Whether the secret needs a passphrase.
    pub has_passphrase: bool,
    /// Whether the secret can still be revealed.
    pub can_decrypt: bool,
    /// A generated password, on the first receipt read within 60 s of creation only.
    #[schema(value_type = Option<String>)]
    pub secret_value: Option<Sensitive>,
    /// True when `secret_value` holds the generated password.
    pub show_secret: bool,
    /// Whether the secret link may be shown (the secret waits).
    pub show_secret_link: bool,
    /// Whether to link to the receipt itself.
    pub show_receipt_link: bool,
    /// Always true.
    pub show_receipt: bool,
    /// Whether there are recipients.
    pub show_recipients: bool,
}

/// A receipt as the recent list sends it: the base plus `show_recipients` (already in it).
pub type ReceiptListItem = ReceiptBase;

/// `details` of the recent list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptListDetails {
    /// Always `list`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Not used here: always null.
    #[schema(value_type = Option<String>)]
    pub scope: Option<()>,
    /// Unix seconds the list starts at.
    pub since: u64,
    /// Unix seconds of the answer.
    pub now: u64,
    /// Whether there is anything in it.
    pub has_items: bool,
}

/// `record` of conceal and generate.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConcealRecord {
    /// The receipt (keep its identifier private).
    pub receipt: ReceiptBase,
    /// v2 only: the same receipt again under its old name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ReceiptBase>,
    /// The secret: its identifier goes in the link.
    pub secret: SecretRecord,
    /// The share domain asked for, or null.
    pub share_domain: Option<String>,
}

/// `details` of conceal and generate.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConcealDetails {
    /// `conceal` or `generate`.
    pub kind: &'static str,
    /// Obscured recipient addresses.
    pub recipient: Vec<String>,
    /// Same as `recipient`.
    pub recipient_safe: Vec<String>,
}

/// `/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    /// v2 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// `nominal`, or `offline` while the store does not answer.
    pub status: &'static str,
    /// The server's default locale.
    pub locale: &'static str,
}

/// `/version`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionBody {
    /// v2 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// `[major, minor, patch]`.
    pub version: Vec<u64>,
    /// The server's default locale.
    pub locale: &'static str,
}

/// `/supported-locales`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocalesBody {
    /// v2 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Every locale the web pages speak.
    pub locales: Vec<&'static str>,
    /// The default.
    pub default_locale: &'static str,
    /// The locale of this answer.
    pub locale: &'static str,
}

/// Every error of v2, v3 and incoming: `error` is for people, `error_type` for programs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A sentence to show the user.
    pub error: String,
    /// What kind of error: `FormError`, `RecordNotFound`, `Unauthorized`, `Forbidden`,
    /// `GuestRoutesDisabled`, `LimitExceeded`, `NotFound`, `ServerError`.
    pub error_type: &'static str,
    /// The request field at fault, for `FormError`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// Which operation is switched off, for `GuestRoutesDisabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// Seconds to wait, for `LimitExceeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}
