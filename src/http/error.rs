//! The API's error bodies. Onetime Secret answers every error with HTTP 404 and a `message`
//! (clients depend on that quirk); the status we mean travels in `X-OTS-Intended-Status`.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::domain::EMAIL_MAX_CHARS;
use crate::service::{ServiceError, StorageFailure};

/// The API's content type.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// Header carrying the status an error would have outside Onetime Secret's all-404 convention.
pub const INTENDED_STATUS: HeaderName = HeaderName::from_static("x-ots-intended-status");

/// An error as the v1 API shows it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Validation failed; the message is the API's exact text.
    #[error("{message}")]
    Invalid {
        /// Shown to the client.
        message: String,
        /// Usually 400; 413 or 415 for bodies that cannot be read.
        status: StatusCode,
    },
    /// Unknown, consumed or expired secret or receipt; `key` is the one from the path.
    #[error("Unknown secret")]
    Unknown {
        /// The key the client asked for, echoed back as Onetime Secret does.
        key: String,
    },
    /// Authentication failed.
    #[error("Not authorized")]
    NotAuthorized,
    /// Too many requests from this address.
    #[error("Rate limit exceeded. Please try again later.")]
    RateLimited,
    /// The body did not arrive whole within `server.body_timeout`; the connection is closed.
    #[error("Request body was not received in time")]
    BodyTimeout,
    /// Too much work queued or the store is out of reach.
    #[error("service unavailable")]
    Unavailable,
    /// Anything else; the cause went to the log.
    #[error("unexpected error")]
    Unexpected,
}

impl ApiError {
    /// A 400 with the API's message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// Maps a use-case error; `key` is the key from the path, for `Unknown secret`.
    pub fn from_service(e: ServiceError, key: &str) -> Self {
        if let Some(message) = refusal_words(&e) {
            return Self::invalid(message);
        }
        match e {
            ServiceError::UnknownSecret | ServiceError::UnknownReceipt => Self::Unknown {
                key: key.to_owned(),
            },
            ServiceError::NotAuthorized => Self::NotAuthorized,
            ServiceError::RateLimited => Self::RateLimited,
            ServiceError::Busy => Self::Unavailable,
            ServiceError::Storage(cause) => Self::from_storage(&cause),
            // Worded above.
            _ => Self::Unexpected,
        }
    }

    /// Maps a store failure: unreachable, full or short of replicas is "try again later";
    /// damage is a bug, which a retry does not fix. The cause goes to the log only.
    pub fn from_storage(cause: &StorageFailure) -> Self {
        tracing::error!(error = %cause, "store operation failed");
        match cause {
            StorageFailure::Unavailable(_) => Self::Unavailable,
            StorageFailure::Damaged(_) => Self::Unexpected,
        }
    }

    fn intended(&self) -> StatusCode {
        match self {
            Self::Invalid { status, .. } => *status,
            Self::Unknown { .. } => StatusCode::NOT_FOUND,
            Self::NotAuthorized => StatusCode::UNAUTHORIZED,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::from_service(e, "")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::NOT_FOUND
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            Self::Unknown { key } => json!({ "message": "Unknown secret", "secret_key": key }),
            Self::Invalid { message, .. } => json!({ "message": message }),
            Self::NotAuthorized | Self::RateLimited | Self::BodyTimeout => {
                json!({ "message": self.to_string() })
            }
            Self::Unavailable | Self::Unexpected => {
                json!({ "message": "An unexpected error occurred :[" })
            }
        };
        let intended = HeaderValue::from(self.intended().as_u16());
        let mut res = HttpResponse::NotFound();
        if matches!(self, Self::BodyTimeout) {
            // The rest of the body may still be on its way: nothing more is read from this
            // connection, so the next request can never start inside the old body.
            res.force_close();
        }
        res.insert_header((INTENDED_STATUS, intended))
            .content_type(JSON_UTF8)
            .json(body)
    }
}

/// The API's words for a refused request, exactly as Onetime Secret's clients know them; `None`
/// for errors that are not the request's fault.
pub fn refusal_words(e: &ServiceError) -> Option<String> {
    Some(match e {
        ServiceError::NothingToShare => "You did not provide anything to share".into(),
        ServiceError::TooLarge { max } => {
            format!("Secret value exceeds the maximum size of {max} bytes")
        }
        ServiceError::PassphraseTooShort { min } => {
            format!("Passphrase must be at least {min} characters long")
        }
        ServiceError::PassphraseTooLong { max } => {
            format!("Passphrase must be no more than {max} characters long")
        }
        ServiceError::MemoTooLong { max } => {
            format!("Memo must be no more than {max} characters long")
        }
        ServiceError::AccountRequiredForEmail => "An account is required to send emails.".into(),
        ServiceError::Undeliverable { address } => {
            let shown: String = address.chars().take(EMAIL_MAX_CHARS).collect();
            format!("Undeliverable email address: {shown}")
        }
        ServiceError::MailOff => {
            "Emailing links is off on this server: mail.smtp_url is not set".into()
        }
        ServiceError::PassphraseRequired | ServiceError::WrongPassphrase | ServiceError::Locked => {
            "Double check that passphrase".into()
        }
        ServiceError::BadEnvelope => {
            "An end-to-end secret must be an envelope as docs/envelope.md describes".into()
        }
        ServiceError::KeyRequired => {
            "This secret is end-to-end: the link's key (after #) is needed; it was not revealed"
                .into()
        }
        ServiceError::WrongKey => {
            "The link's key does not match this secret; it was not revealed".into()
        }
        _ => return None,
    })
}

/// `{"error":"Not Found"}` for routes that do not exist.
pub async fn api_not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((INTENDED_STATUS, HeaderValue::from_static("404")))
        .content_type(JSON_UTF8)
        .json(json!({ "error": "Not Found" }))
}
