//! X.509 for ikegw: loading, chain validation, IKE identity matching and
//! issuing certificates, with private keys held in zeroizing types.
//!
//! - [`load`] and [`cert`]: PEM/DER certificates, CRLs; [`key`]: private keys
//!   (PKCS#8, PKCS#1, SEC1) with a permission check on key files.
//! - [`chain`]: path building and validation (RFC 5280 §6, RFC 4945 §5) at a
//!   wall-clock time passed in; this crate never reads the clock for it.
//! - [`id`]: IKE ID ↔ subjectAltName / subject DN (RFC 7296 §3.5, RFC 4945 §3.1).
//! - [`certreq`]: CERTREQ hashes (RFC 7296 §3.7) and chain selection.
//! - [`sig`]: RFC 7427 signature schemes; signing lives on [`PrivateKey`].
//! - [`issue`]: certificates and CRLs with rcgen.
//! - [`ikeauth`]: the adapter to the IKE SA core (`ike::sa::CertVerifier`,
//!   `ike::crypto::Signer`), CERT/CERTREQ/ID payloads.
//!
//! Only [`ikeauth`] uses `ike` types; the rest of the crate deals in plain
//! bytes and enums, and `ike` never depends on this crate.
#![forbid(unsafe_code)]

pub mod cert;
pub mod certreq;
pub mod chain;
mod der;
pub mod error;
pub mod fmt;
pub mod id;
pub mod ikeauth;
pub mod issue;
pub mod key;
pub mod load;
mod names;
pub mod sig;

pub use cert::{Certificate, Crl, SubjectAltName};
pub use certreq::{select_chain, CaHash, LocalChain};
pub use chain::{
    validate, validate_der, KeyPurpose, TrustStore, ValidatedChain, ValidationOptions,
};
pub use error::{CryptoError, Error, IdentityError, IssueError, LoadError, ValidationError};
pub use id::IkeId;
pub use key::PrivateKey;
pub use sig::{KeyType, PublicKey, SignatureScheme};
