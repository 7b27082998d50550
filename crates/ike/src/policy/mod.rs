//! Policy decisions that need no state: which proposal to accept
//! ([`proposal`], RFC 7296 §2.7) and which traffic to protect ([`ts`],
//! RFC 7296 §2.9). Pure functions over configuration and wire Reprs; the SA
//! layer calls them and turns their errors into Notify payloads.

pub mod proposal;
pub mod ts;
