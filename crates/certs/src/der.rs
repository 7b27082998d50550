//! A minimal DER reader and writer for the few structures the X.509 crates do
//! not cover for us: PKCS#8 / PKCS#1 / SEC1 private-key envelopes, a
//! SubjectPublicKeyInfo built from a raw public key, and simple
//! distinguished names typed on the command line.
//!
//! Only definite-length, single-byte-tag encodings are handled (X.690 §8.1),
//! which is all DER ever produces for these structures. Nothing here panics on
//! malformed input: every length is checked against the bytes left.

/// DER tags used in this crate (X.690 §8.1.2, universal class unless noted).
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTF8_STRING: u8 = 0x0c;
    pub(crate) const PRINTABLE_STRING: u8 = 0x13;
    pub(crate) const IA5_STRING: u8 = 0x16;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
    /// `[0]` constructed, context-specific.
    pub(crate) const CONTEXT_0: u8 = 0xa0;
}

/// Object identifiers, as the content octets of their DER encoding.
pub(crate) mod oid {
    /// id-ecPublicKey, RFC 5480 §2.1.1.
    pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// secp256r1, RFC 5480 §2.1.1.1.
    pub(crate) const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// secp384r1, RFC 5480 §2.1.1.1.
    pub(crate) const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    /// rsaEncryption, RFC 8017 Appendix C.
    pub(crate) const RSA_ENCRYPTION: &[u8] =
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// id-Ed25519, RFC 8410 §3.
    pub(crate) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
}

/// Why a DER structure could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DerError {
    /// Input ended inside a tag, length or value.
    Truncated,
    /// A long-form length that DER forbids or we cannot hold.
    BadLength,
    /// A different tag than the structure requires.
    UnexpectedTag { expected: u8, found: u8 },
    /// Bytes left over after the outermost element.
    TrailingData,
}

/// One TLV read from the front of `input`: `(tag, value, rest)`.
pub(crate) fn read_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError::Truncated)?;
    let (&first, mut rest) = rest.split_first().ok_or(DerError::Truncated)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // X.690 §8.1.3.5: long form, 1..=4 length octets are plenty here.
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(DerError::BadLength);
        }
        let (octets, r) = rest.split_at_checked(n).ok_or(DerError::Truncated)?;
        rest = r;
        let mut len = 0usize;
        for &b in octets {
            len = len
                .checked_mul(256)
                .and_then(|l| l.checked_add(usize::from(b)))
                .ok_or(DerError::BadLength)?;
        }
        len
    };
    let (value, rest) = rest.split_at_checked(len).ok_or(DerError::Truncated)?;
    Ok((tag, value, rest))
}

/// Read a TLV that must carry `expected` as its tag.
pub(crate) fn expect(input: &[u8], expected: u8) -> Result<(&[u8], &[u8]), DerError> {
    let (found, value, rest) = read_tlv(input)?;
    if found != expected {
        return Err(DerError::UnexpectedTag { expected, found });
    }
    Ok((value, rest))
}

/// Read exactly one element of type `expected` spanning all of `input`.
pub(crate) fn expect_only(input: &[u8], expected: u8) -> Result<&[u8], DerError> {
    let (value, rest) = expect(input, expected)?;
    if !rest.is_empty() {
        return Err(DerError::TrailingData);
    }
    Ok(value)
}

/// Encode one TLV.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len().saturating_add(6));
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        // INVARIANT: len < 0x80 fits in a byte.
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
    out
}

/// Encode a SEQUENCE of already-encoded elements.
pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![0x5a; len];
            let enc = tlv(tag::OCTET_STRING, &value);
            let (t, v, rest) = read_tlv(&enc).unwrap();
            assert_eq!((t, v, rest), (tag::OCTET_STRING, &value[..], &[][..]));
        }
    }

    #[test]
    fn rejects_truncated_and_oversized_lengths() {
        assert_eq!(read_tlv(&[0x30]), Err(DerError::Truncated));
        assert_eq!(read_tlv(&[0x30, 0x03, 0x00]), Err(DerError::Truncated));
        assert_eq!(
            read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]),
            Err(DerError::BadLength)
        );
        assert_eq!(read_tlv(&[0x30, 0x80]), Err(DerError::BadLength));
        assert_eq!(
            expect_only(&[0x04, 0x00, 0x00], tag::OCTET_STRING),
            Err(DerError::TrailingData)
        );
        assert_eq!(
            expect(&[0x04, 0x00], tag::SEQUENCE),
            Err(DerError::UnexpectedTag {
                expected: 0x30,
                found: 0x04
            })
        );
    }
}
