//! The route table `/api/v2` and `/api/v3` are described from ([`OPERATIONS`]): each
//! operation's method, path, who may call, its success body and its error statuses.
//! `tests/api/v2.rs` calls every operation listed here and checks that the server has it.

use super::Version;

/// What a successful answer carries.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// `{record: ConcealRecord, details: ConcealDetails}`.
    Conceal,
    /// `{record: SecretRecord, details: SecretDetails}`.
    Secret,
    /// `{record: SecretRecord | UnknownRecord, details?: StatusDetails}`.
    SecretStatus,
    /// `{records: [SecretRecord], count}`.
    SecretList,
    /// `{record: ReceiptRecord, details: ReceiptDetails}`.
    Receipt,
    /// `{records: [ReceiptBase], count, custid, details: ReceiptListDetails}`.
    ReceiptList,
    /// `{record: ReceiptBase}`.
    ReceiptUpdate,
    /// A flat meta object.
    Meta(&'static str),
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous or HTTP Basic.
    Optional,
    /// HTTP Basic only.
    Required,
    /// Anonymous (`/guest/*`).
    Guest,
}

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// GET, POST, PATCH.
    pub method: &'static str,
    /// Path below the version prefix, `{key}` for a key.
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Who may call.
    pub auth: Auth,
    /// The success body.
    pub body: Body,
    /// The error statuses it can answer with besides 429/500/503.
    pub errors: &'static [u16],
    /// In v3 too (v3 has no `/private/*` aliases).
    pub v3: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: Auth,
    body: Body,
    errors: &'static [u16],
    v3: bool,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        auth,
        body,
        errors,
        v3,
    }
}

use Auth::{Guest, Optional, Required};

/// Every operation of `/api/v2` (and, where `v3`, of `/api/v3`; there the optional secret
/// routes require HTTP Basic, as upstream's v3 requires a signed-in caller).
pub const OPERATIONS: &[Operation] = &[
    op(
        "GET",
        "/status",
        "Whether the service is up",
        Optional,
        Body::Meta("StatusBody"),
        &[401],
        true,
    ),
    op(
        "GET",
        "/version",
        "The server's version (accounts only)",
        Required,
        Body::Meta("VersionBody"),
        &[401],
        true,
    ),
    op(
        "GET",
        "/supported-locales",
        "The languages the web pages speak",
        Optional,
        Body::Meta("LocalesBody"),
        &[],
        true,
    ),
    op(
        "POST",
        "/secret/conceal",
        "Store a secret",
        Optional,
        Body::Conceal,
        &[401, 403, 413, 415, 422],
        true,
    ),
    op(
        "POST",
        "/secret/generate",
        "Store a generated password",
        Optional,
        Body::Conceal,
        &[401, 403, 422],
        true,
    ),
    op(
        "GET",
        "/secret/{key}",
        "Describe a secret without revealing it",
        Optional,
        Body::Secret,
        &[401, 404],
        true,
    ),
    op(
        "POST",
        "/secret/{key}/reveal",
        "Reveal a secret once (continue=true)",
        Optional,
        Body::Secret,
        &[401, 404, 422],
        true,
    ),
    op(
        "GET",
        "/secret/{key}/status",
        "Whether a secret waits",
        Optional,
        Body::SecretStatus,
        &[401],
        true,
    ),
    op(
        "POST",
        "/secret/status",
        "Which of several secrets wait",
        Optional,
        Body::SecretList,
        &[401, 422],
        true,
    ),
    op(
        "GET",
        "/receipt/recent",
        "The caller's receipts of the last 30 days",
        Required,
        Body::ReceiptList,
        &[401],
        true,
    ),
    op(
        "GET",
        "/receipt/{key}",
        "A receipt",
        Optional,
        Body::Receipt,
        &[401, 404],
        true,
    ),
    op(
        "POST",
        "/receipt/{key}/burn",
        "Destroy an unread secret (continue=true)",
        Optional,
        Body::Receipt,
        &[401, 404, 422],
        true,
    ),
    op(
        "PATCH",
        "/receipt/{key}",
        "Set the private note (memo); the creating account only",
        Optional,
        Body::ReceiptUpdate,
        &[401, 404, 422],
        true,
    ),
    op(
        "GET",
        "/private/recent",
        "Old name of /receipt/recent",
        Required,
        Body::ReceiptList,
        &[401],
        false,
    ),
    op(
        "GET",
        "/private/{key}",
        "Old name of /receipt/{key}",
        Optional,
        Body::Receipt,
        &[401, 404],
        false,
    ),
    op(
        "POST",
        "/private/{key}/burn",
        "Old name of /receipt/{key}/burn",
        Optional,
        Body::Receipt,
        &[401, 404, 422],
        false,
    ),
    op(
        "PATCH",
        "/private/{key}",
        "Old name of PATCH /receipt/{key}",
        Optional,
        Body::ReceiptUpdate,
        &[401, 404, 422],
        false,
    ),
    op(
        "POST",
        "/guest/secret/conceal",
        "Store a secret anonymously",
        Guest,
        Body::Conceal,
        &[403, 413, 415, 422],
        true,
    ),
    op(
        "POST",
        "/guest/secret/generate",
        "Store a generated password anonymously",
        Guest,
        Body::Conceal,
        &[403, 422],
        true,
    ),
    op(
        "GET",
        "/guest/secret/{key}",
        "Describe a secret",
        Guest,
        Body::Secret,
        &[404],
        true,
    ),
    op(
        "POST",
        "/guest/secret/{key}/reveal",
        "Reveal a secret once",
        Guest,
        Body::Secret,
        &[404, 422],
        true,
    ),
    op(
        "GET",
        "/guest/receipt/{key}",
        "A receipt",
        Guest,
        Body::Receipt,
        &[404],
        true,
    ),
    op(
        "POST",
        "/guest/receipt/{key}/burn",
        "Destroy an unread secret",
        Guest,
        Body::Receipt,
        &[404, 422],
        true,
    ),
];

/// The operations `version` has, with the auth each needs there.
pub fn operations(version: Version) -> impl Iterator<Item = Operation> {
    OPERATIONS
        .iter()
        .copied()
        .filter_map(move |op| match version {
            Version::V2 => Some(op),
            Version::V3 if !op.v3 => None,
            Version::V3 => Some(Operation {
                auth: match (op.auth, op.path) {
                    // v3's secret routes outside /guest are for accounts; status stays public.
                    (Optional, "/secret/{key}/status" | "/secret/status" | "/status") => Optional,
                    (Optional, _) => Required,
                    (auth, _) => auth,
                },
                ..op
            }),
        })
}
