//! One file per exchange (RFC 7296 §1.2–§1.4).

pub(crate) mod auth;
pub(crate) mod create_child;
pub(crate) mod informational;
pub(crate) mod init;
