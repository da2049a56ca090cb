//! yunwei-domain: the rules of the system, free of I/O.
//!
//! Everything here is a pure function or a plain type: ids, roles and the permission table,
//! stable error codes with their Chinese and English messages, input validation, and the
//! audit hash chain. The store, service and web crates build on it; nothing here knows about
//! databases or HTTP (error codes carry an HTTP status number only as data).

pub mod announcement;
pub mod audit;
pub mod authz;
pub mod calendar;
pub mod catalog;
pub mod clock;
pub mod cmdb;
pub mod error;
pub mod ids;
pub mod sla;
pub mod ticket;
pub mod validate;

pub use authz::{Action, Role};
pub use error::{DomainError, ErrorCode, Lang};
