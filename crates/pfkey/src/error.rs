//! The crate's error type, split by who is to blame.

use crate::registry::{Errno, SadbDiagnostic, SadbMsgType};
use crate::wire::{DecodeError, EmitError};

/// Everything that can go wrong talking PF_KEY / PF_POLICY.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bytes from the kernel (or engine) could not be decoded.
    #[error("undecodable PF_KEY message")]
    Decode(#[from] DecodeError),
    /// We could not encode a message (oversized value).
    #[error("cannot encode PF_KEY message")]
    Emit(#[from] EmitError),
    /// The kernel (or engine) answered with a non-zero errno.
    #[error("{msg_type} failed: {errno} (diagnostic {diagnostic})")]
    Kernel {
        /// Request type the error answers.
        msg_type: SadbMsgType,
        /// errno from the reply.
        errno: Errno,
        /// `sadb_x_msg_diagnostic` from the reply.
        diagnostic: SadbDiagnostic,
    },
    /// PF_POLICY answered with a non-zero errno.
    #[error("PF_POLICY {msg_type} failed: {errno} (diagnostic {diagnostic})")]
    Policy {
        /// Request type.
        msg_type: crate::registry::SpdMsgType,
        /// errno.
        errno: Errno,
        /// `spd_msg_diagnostic`.
        diagnostic: crate::registry::SpdDiagnostic,
    },
    /// Socket I/O failed.
    #[error("PF_KEY socket I/O")]
    Io(#[from] std::io::Error),
    /// The backend does not exist on this platform.
    #[error("{0}")]
    Unsupported(&'static str),
    /// No reply with our (seq, pid) arrived.
    #[error("no reply to {msg_type} seq {seq} after {waited} messages")]
    NoReply {
        /// Request type.
        msg_type: SadbMsgType,
        /// Its seq.
        seq: u32,
        /// How many unrelated messages were read meanwhile.
        waited: usize,
    },
}
