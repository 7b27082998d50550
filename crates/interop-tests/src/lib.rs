//! Interoperability scenarios for ikegw against real strongSwan, run in
//! network namespaces that each test creates and removes itself.
#![forbid(unsafe_code)]
