//! illumos PF_KEY v2 and PF_POLICY for ikegw: a byte-exact codec, the illumos
//! socket backend, and a userland key engine that answers the same messages.
