//! The service error: a user's mistake ([`DomainError`], shown with its code) or a failure of
//! ours (logged with the request id, shown only as `internal_error`).

use yunwei_domain::{DomainError, ErrorCode};
use yunwei_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<ErrorCode> for Error {
    fn from(c: ErrorCode) -> Self {
        Error::Domain(DomainError::new(c))
    }
}

impl Error {
    /// The code the user sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Domain(d) => d.code,
            Error::Store(StoreError::Unique(_)) => ErrorCode::Conflict,
            Error::Store(StoreError::ForeignKey(_)) => ErrorCode::InvalidReference,
            _ => ErrorCode::InternalError,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Domain(d) => d.field.as_deref(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
