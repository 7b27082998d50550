//! X.509 for ikegw: loading, chain validation, IKE identity matching and
//! issuing certificates, with private keys held in zeroizing types.
#![forbid(unsafe_code)]
