//! The little DER this crate needs: reading SubjectPublicKeyInfo and RFC 7427
//! AlgorithmIdentifiers, and writing the latter (X.690 §8, §10).
//!
//! Only single-byte tags and definite lengths of up to four octets are
//! accepted; anything else is malformed for our purposes. Every read is
//! bounds-checked and returns `None` on bad input.

/// ASN.1 universal and context tags used here.
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const CTX0: u8 = 0xa0;
    pub(crate) const CTX1: u8 = 0xa1;
    pub(crate) const CTX2: u8 = 0xa2;
}

/// A cursor over DER-encoded elements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not yet read.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// The tag of the next element, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one element and returns `(tag, contents)`.
    pub(crate) fn read_any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&t, rest) = self.rest.split_first()?;
        if t & 0x1f == 0x1f {
            return None; // multi-byte tag
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None; // indefinite or absurd length
            }
            let (len_bytes, after) = rest.split_at_checked(n)?;
            rest = after;
            let mut len = 0usize;
            for &b in len_bytes {
                len = len.checked_mul(256)?.checked_add(usize::from(b))?;
            }
            // DER: long form only when needed, no leading zero octet.
            if len < 0x80 || len_bytes.first() == Some(&0) {
                return None;
            }
            len
        };
        let (contents, after) = rest.split_at_checked(len)?;
        self.rest = after;
        Some((t, contents))
    }

    /// Reads one element that must have tag `t`.
    pub(crate) fn read(&mut self, t: u8) -> Option<&'a [u8]> {
        match self.read_any()? {
            (got, c) if got == t => Some(c),
            _ => None,
        }
    }

    /// Reads an element with tag `t` if it is next.
    pub(crate) fn read_optional(&mut self, t: u8) -> Option<Option<&'a [u8]>> {
        if self.peek_tag() == Some(t) {
            self.read(t).map(Some)
        } else {
            Some(None)
        }
    }
}

/// Writes one element.
// INVARIANT: the casts below are of values < 0x80 and of a byte count <= 8.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn write(out: &mut Vec<u8>, t: u8, contents: &[u8]) {
    out.push(t);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let used = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | used.len() as u8);
        out.extend_from_slice(used);
    }
    out.extend_from_slice(contents);
}

/// `write` into a fresh vector.
pub(crate) fn element(t: u8, contents: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(contents.len() + 4);
    write(&mut v, t, contents);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut r = Reader::new(&[0x04, 0x02, 0xaa, 0xbb, 0x05, 0x00]);
        assert_eq!(r.read(0x04), Some(&[0xaa, 0xbb][..]));
        assert_eq!(r.read(tag::NULL), Some(&[][..]));
        assert!(r.is_empty());

        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let mut r = Reader::new(&long);
        assert_eq!(r.read(0x04).map(<[u8]>::len), Some(0x80));
    }

    #[test]
    fn rejects_truncated_indefinite_and_non_minimal() {
        assert_eq!(Reader::new(&[0x30, 0x03, 0x01]).read_any(), None);
        assert_eq!(Reader::new(&[0x30, 0x80, 0x00, 0x00]).read_any(), None);
        assert_eq!(
            Reader::new(&[0x30, 0x81, 0x05, 1, 2, 3, 4, 5]).read_any(),
            None
        );
        assert_eq!(Reader::new(&[0x1f, 0x01, 0x00]).read_any(), None);
        assert_eq!(Reader::new(&[]).read_any(), None);
        assert_eq!(Reader::new(&[0x30]).read_any(), None);
    }

    #[test]
    fn write_round_trips() {
        for len in [0usize, 1, 0x7f, 0x80, 0xff, 0x100, 0x1234] {
            let data = vec![0x5a; len];
            let enc = element(0x04, &data);
            let mut r = Reader::new(&enc);
            assert_eq!(r.read(0x04), Some(&data[..]));
            assert!(r.is_empty());
        }
    }
}
