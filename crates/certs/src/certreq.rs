//! CERTREQ (RFC 7296 §3.7): the hashes we send for our trust anchors, and the
//! choice of which of our own chains answers the peer's CERTREQ.
//!
//! With the X.509 Certificate - Signature encoding (4), the Certification
//! Authority field is a concatenation of 20-octet SHA-1 hashes, each over a
//! trusted CA's whole DER SubjectPublicKeyInfo.

use crate::cert::Certificate;

/// Length of one CA hash in a CERTREQ payload.
pub const CA_HASH_LEN: usize = 20;

/// One CA's CERTREQ hash: SHA-1 over its DER SubjectPublicKeyInfo.
pub type CaHash = [u8; CA_HASH_LEN];

/// The Certification Authority field of our CERTREQ for `anchors`, in order,
/// without duplicates.
pub fn certreq_data(anchors: &[Certificate]) -> Vec<u8> {
    let mut seen: Vec<CaHash> = Vec::new();
    for a in anchors {
        let h = a.spki_sha1();
        if !seen.contains(&h) {
            seen.push(h);
        }
    }
    seen.concat()
}

/// Split a peer's Certification Authority field into hashes. A length that is
/// not a multiple of 20 is malformed (RFC 7296 §3.7); the whole tail is
/// refused rather than guessed at.
pub fn parse_certreq_data(data: &[u8]) -> Result<Vec<CaHash>, usize> {
    let chunks = data.chunks_exact(CA_HASH_LEN);
    if !chunks.remainder().is_empty() {
        return Err(data.len());
    }
    Ok(chunks.filter_map(|c| <CaHash>::try_from(c).ok()).collect())
}

/// One of our certificate chains: the end entity, the intermediates to send
/// with it, and the root CA it leads to (needed to answer a CERTREQ that
/// names the root, which is never sent).
#[derive(Debug, Clone)]
pub struct LocalChain {
    /// Our certificate.
    pub end_entity: Certificate,
    /// Intermediates, closest to the end entity first.
    pub intermediates: Vec<Certificate>,
    /// The root, when known.
    pub root: Option<Certificate>,
}

impl LocalChain {
    /// Certificates for CERT payloads: end entity first, then intermediates.
    pub fn certs_to_send(&self) -> impl Iterator<Item = &Certificate> {
        std::iter::once(&self.end_entity).chain(&self.intermediates)
    }

    /// CERTREQ hashes that this chain satisfies: any of its CAs.
    pub fn authority_hashes(&self) -> Vec<CaHash> {
        self.intermediates
            .iter()
            .chain(&self.root)
            .map(Certificate::spki_sha1)
            .collect()
    }
}

/// The chain to send for the peer's CERTREQ hashes: the first whose CAs
/// include a requested one, else the first chain (our default). `None` only
/// when `chains` is empty. An empty CERTREQ also gets the default.
pub fn select_chain<'a>(chains: &'a [LocalChain], requested: &[CaHash]) -> Option<&'a LocalChain> {
    chains
        .iter()
        .find(|c| c.authority_hashes().iter().any(|h| requested.contains(h)))
        .or_else(|| chains.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certreq_data_must_be_whole_hashes() {
        assert_eq!(parse_certreq_data(&[0; 40]).unwrap().len(), 2);
        assert_eq!(parse_certreq_data(&[]).unwrap().len(), 0);
        assert_eq!(parse_certreq_data(&[0; 21]), Err(21));
    }
}
