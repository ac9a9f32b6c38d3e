//! Errors as v2, v3 and the incoming API send them: the real HTTP status and
//! `{"error": <sentence>, "error_type": <kind>}` (upstream's ADR-013 shape), with `field`,
//! `code` or `retry_after` where the kind has one. Unlike v1, nothing here is an HTTP 404 in
//! disguise.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::model::ErrorBody;
use crate::http::error::{refusal_words, ApiError, JSON_UTF8};
use crate::service::ServiceError;

/// An error of the v2-style APIs.
#[derive(Debug, thiserror::Error)]
pub enum V2Error {
    /// The request is wrong: 422, or 400/413/415/408 for a body that could not be read.
    #[error("{message}")]
    Form {
        /// The sentence for the user.
        message: String,
        /// The request field at fault, when one is.
        field: Option<&'static str>,
        /// 422 unless the body itself was the problem.
        status: StatusCode,
    },
    /// No such secret or receipt (or no longer).
    #[error("Unknown secret")]
    NotFound,
    /// Missing or wrong credentials where they are required, or a bad `Authorization` header.
    #[error("Not authorized")]
    Unauthorized,
    /// Anonymous use of an operation the operator switched off.
    #[error("Guest {op} is disabled")]
    GuestDisabled {
        /// `conceal`, `generate`, `incoming`, ...
        op: &'static str,
        /// `GUEST_CONCEAL_DISABLED`, ...
        code: &'static str,
    },
    /// A feature the operator did not switch on.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Too many requests, or too many wrong passphrases for this secret.
    #[error("{message}")]
    Limited {
        /// The sentence for the user.
        message: &'static str,
        /// Seconds to wait before trying again.
        retry_after: u64,
    },
    /// The store is out of reach or the server is saturated: try again.
    #[error("Service temporarily unavailable. Please try again shortly.")]
    Unavailable,
    /// A bug or damage; the cause went to the log.
    #[error("An unexpected error occurred")]
    Unexpected,
    /// The body did not arrive in time; the connection is closed.
    #[error("Request body was not received in time")]
    BodyTimeout,
}

/// The sentence upstream sends for a missing or wrong passphrase.
pub const INCORRECT_PASSPHRASE: &str = "Incorrect passphrase";

impl V2Error {
    /// A 422 about `field`.
    pub fn form(message: impl Into<String>, field: Option<&'static str>) -> Self {
        Self::Form {
            message: message.into(),
            field,
            status: StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// Maps a use-case error: refusals keep the wording v1 clients know, passphrase trouble
    /// is upstream's "Incorrect passphrase", a locked secret a 429.
    pub fn from_service(e: ServiceError) -> Self {
        match e {
            ServiceError::PassphraseRequired | ServiceError::WrongPassphrase => {
                Self::form(INCORRECT_PASSPHRASE, Some("passphrase"))
            }
            ServiceError::Locked => Self::Limited {
                message: "Too many incorrect passphrase attempts. Please try again later.",
                retry_after: 30 * 60,
            },
            ServiceError::UnknownSecret | ServiceError::UnknownReceipt => Self::NotFound,
            e => {
                if let Some(message) = refusal_words(&e) {
                    return Self::form(message, refused_field(&e));
                }
                ApiError::from_service(e, "").into()
            }
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Form { status, .. } => *status,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::GuestDisabled { .. } | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            Self::Form { .. } | Self::BodyTimeout => "FormError",
            Self::NotFound => "RecordNotFound",
            Self::Unauthorized => "Unauthorized",
            Self::GuestDisabled { .. } => "GuestRoutesDisabled",
            Self::Forbidden(_) => "Forbidden",
            Self::Limited { .. } => "LimitExceeded",
            Self::Unavailable | Self::Unexpected => "ServerError",
        }
    }

    /// The body this error is sent with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.to_string(),
            error_type: self.error_type(),
            field: match self {
                Self::Form { field, .. } => *field,
                _ => None,
            },
            code: match self {
                Self::GuestDisabled { code, .. } => Some(code),
                _ => None,
            },
            retry_after: match self {
                Self::Limited { retry_after, .. } => Some(*retry_after),
                _ => None,
            },
        }
    }
}

/// The field a refusal is about.
fn refused_field(e: &ServiceError) -> Option<&'static str> {
    match e {
        ServiceError::NothingToShare | ServiceError::TooLarge { .. } => Some("secret"),
        ServiceError::PassphraseTooShort { .. } | ServiceError::PassphraseTooLong { .. } => {
            Some("passphrase")
        }
        ServiceError::MemoTooLong { .. } => Some("memo"),
        ServiceError::AccountRequiredForEmail
        | ServiceError::Undeliverable { .. }
        | ServiceError::MailOff => Some("recipient"),
        _ => None,
    }
}

impl From<ApiError> for V2Error {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid { message, status } => Self::Form {
                message,
                field: None,
                // A body that was the wrong size or type keeps its status; a value the API
                // refused is upstream's 422.
                status: if status == StatusCode::BAD_REQUEST {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    status
                },
            },
            ApiError::Unknown { .. } => Self::NotFound,
            ApiError::NotAuthorized => Self::Unauthorized,
            ApiError::RateLimited => Self::Limited {
                message: "Rate limit exceeded. Please try again later.",
                retry_after: 60,
            },
            ApiError::BodyTimeout => Self::BodyTimeout,
            ApiError::Unavailable => Self::Unavailable,
            ApiError::Unexpected => Self::Unexpected,
        }
    }
}

impl From<ServiceError> for V2Error {
    fn from(e: ServiceError) -> Self {
        Self::from_service(e)
    }
}

impl ResponseError for V2Error {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status());
        if matches!(self, Self::BodyTimeout) {
            // As in v1: the rest of the body may still be coming; never read it as a request.
            res.force_close();
        }
        if let Self::Limited { retry_after, .. } = self {
            res.insert_header((actix_web::http::header::RETRY_AFTER, *retry_after));
        }
        res.content_type(JSON_UTF8).json(self.body())
    }
}

/// `{"error":"Not Found","error_type":"NotFound"}` for unknown routes under a v2-style prefix.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type(JSON_UTF8)
        .json(ErrorBody {
            error: "Not Found".into(),
            error_type: "NotFound",
            field: None,
            code: None,
            retry_after: None,
        })
}
