//! Why a page could not do what was asked, and which error page says so.

use actix_web::http::StatusCode;

use crate::http::error::ApiError;
use crate::service::{ServiceError, StorageFailure};

/// Why a page could not do what was asked; each has its own error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No such page.
    NotFound,
    /// The secret was viewed, burned or expired (or never existed).
    Gone,
    /// The receipt does not exist or expired.
    ReceiptGone,
    /// Over a rate limit.
    RateLimited,
    /// Body over the size limit.
    TooLarge,
    /// A body that cannot be read.
    BadRequest,
    /// A body that did not arrive within `server.body_timeout`.
    TimedOut,
    /// Missing or wrong anti-CSRF token.
    Csrf,
    /// The store is out of reach or the server is busy.
    Unavailable,
    /// Anything else; the cause went to the log.
    Unexpected,
    /// The page needs a signed-in account.
    SignInRequired,
    /// The identity provider did not sign the person in (cancelled, refused).
    SsoDenied,
    /// The sign-in's `state` is unknown, used, expired or from another browser.
    SsoExpired,
    /// The identity provider's answer did not verify.
    SsoInvalid,
    /// The provider does not confirm the email.
    SsoUnverified,
    /// The email domain or groups are not admitted.
    SsoNotAllowed,
    /// The identity provider did not answer.
    SsoUnavailable,
    /// A trusted identity header from an address that is no trusted proxy.
    Forbidden,
    /// Password sign-in is off (`oidc.only`).
    PasswordOff,
}

impl Failure {
    /// The failure for a use-case error that has no page-specific meaning.
    pub fn from_service(e: ServiceError) -> Self {
        match e {
            ServiceError::UnknownSecret => Self::Gone,
            ServiceError::UnknownReceipt => Self::ReceiptGone,
            ServiceError::NotAuthorized => Self::SignInRequired,
            ServiceError::RateLimited => Self::RateLimited,
            ServiceError::Storage(cause) => Self::from_storage(&cause),
            // Busy: the API's own mapping.
            ServiceError::Busy => Self::from_api(&ApiError::from_service(e, "")),
            // A refusal the page did not word itself.
            _ => Self::BadRequest,
        }
    }

    /// The failure for a store failure: unreachable or full is "try again", damage is a bug.
    pub fn from_storage(cause: &StorageFailure) -> Self {
        Self::from_api(&ApiError::from_storage(cause))
    }

    /// The failure for an API-level refusal (rate limit, unreadable body, store trouble).
    pub fn from_api(e: &ApiError) -> Self {
        match e {
            ApiError::RateLimited => Self::RateLimited,
            ApiError::BodyTimeout => Self::TimedOut,
            ApiError::Invalid { status, .. } if *status == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::TooLarge
            }
            ApiError::Invalid { .. } => Self::BadRequest,
            ApiError::Unavailable => Self::Unavailable,
            _ => Self::Unexpected,
        }
    }

    /// `(status, element id, catalogue prefix)` of the error page.
    pub(super) fn page(self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::NotFound => (S::NOT_FOUND, "not-found", "error.not_found"),
            Self::Gone => (S::NOT_FOUND, "gone", "error.gone"),
            Self::ReceiptGone => (S::NOT_FOUND, "not-found", "error.receipt_gone"),
            Self::RateLimited => (S::TOO_MANY_REQUESTS, "rate-limited", "error.rate_limited"),
            Self::TooLarge => (S::PAYLOAD_TOO_LARGE, "too-large", "error.too_large"),
            Self::BadRequest => (S::BAD_REQUEST, "bad-request", "error.bad_request"),
            Self::TimedOut => (S::REQUEST_TIMEOUT, "timed-out", "error.timeout"),
            Self::Csrf => (S::FORBIDDEN, "csrf-error", "error.csrf"),
            Self::Unavailable => (S::SERVICE_UNAVAILABLE, "server-error", "error.unavailable"),
            Self::SsoDenied => (S::FORBIDDEN, "sso-denied", "error.sso_denied"),
            Self::SsoExpired => (S::BAD_REQUEST, "sso-expired", "error.sso_expired"),
            Self::SsoInvalid => (S::FORBIDDEN, "sso-invalid", "error.sso_invalid"),
            Self::SsoUnverified => (S::FORBIDDEN, "sso-unverified", "error.sso_unverified"),
            Self::SsoNotAllowed => (S::FORBIDDEN, "sso-not-allowed", "error.sso_not_allowed"),
            Self::SsoUnavailable => (S::BAD_GATEWAY, "sso-unavailable", "error.sso_unavailable"),
            Self::Forbidden => (S::FORBIDDEN, "forbidden", "error.forbidden"),
            Self::PasswordOff => (S::FORBIDDEN, "password-off", "error.password_off"),
            Self::Unexpected | Self::SignInRequired => {
                (S::INTERNAL_SERVER_ERROR, "server-error", "error.server")
            }
        }
    }
}
