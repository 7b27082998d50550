//! Reading certificates, CRLs and keys from PEM or DER bytes and files.
//!
//! PEM is decoded here rather than by x509-parser so that private keys never
//! pass through a buffer that is not zeroized on drop. Private key files are
//! refused when group or others may read them, as strongSwan and OpenSSH do.

use std::path::Path;

use zeroize::Zeroizing;

use crate::cert::{Certificate, Crl};
use crate::error::LoadError;

/// One decoded block: the PEM label (`None` for raw DER) and the DER bytes.
pub(crate) struct Block {
    pub(crate) label: Option<String>,
    /// Zeroized on drop: blocks may hold private keys.
    pub(crate) der: Zeroizing<Vec<u8>>,
}

/// Decode every PEM block in `bytes`, or take `bytes` as one DER object when
/// it does not look like PEM (DER always starts with a tag, never with text).
pub(crate) fn decode_pem_or_der(bytes: &[u8], what: &str) -> Result<Vec<Block>, LoadError> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![Block {
            label: None,
            der: Zeroizing::new(bytes.to_vec()),
        }]);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(LoadError::Pem {
            what: what.to_owned(),
            reason: "neither DER nor UTF-8 text".into(),
        });
    };
    let bad = |reason: String| LoadError::Pem {
        what: what.to_owned(),
        reason,
    };
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = Zeroizing::new(String::new());
        let mut closed = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if line == end {
                closed = true;
                break;
            }
            // RFC 1421 headers (Proc-Type, DEK-Info) mean an encrypted legacy key.
            if line.contains(':') {
                return Err(bad(format!(
                    "encrypted or annotated PEM '{label}' is not supported"
                )));
            }
            b64.push_str(line);
        }
        if !closed {
            return Err(bad(format!("no '{end}' line")));
        }
        let der = base64_decode(&b64).ok_or_else(|| bad(format!("bad base64 in '{label}'")))?;
        blocks.push(Block {
            label: Some(label.to_owned()),
            der,
        });
    }
    Ok(blocks)
}

/// Standard base64 (RFC 4648 §4) with padding; whitespace already removed.
fn base64_decode(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    fn val(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let bytes = s.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() / 4 * 3));
    let chunks = bytes.chunks_exact(4);
    let n = chunks.len();
    for (i, chunk) in chunks.enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != n) {
            return None;
        }
        let mut acc = 0u32;
        for &c in chunk.iter().take(4 - pad) {
            acc = (acc << 6) | val(c)?;
        }
        acc <<= 6 * u32::try_from(pad).ok()?;
        let [_, a, b, c] = acc.to_be_bytes();
        out.push(a);
        if pad < 2 {
            out.push(b);
        }
        if pad < 1 {
            out.push(c);
        }
    }
    Some(out)
}

/// PEM-encode `der` under `label`, 64 columns (RFC 7468 §2).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = Zeroizing::new(String::with_capacity(der.len().saturating_mul(4) / 3 + 4));
    for chunk in der.chunks(3) {
        let mut buf = [0u8; 3];
        for (d, s) in buf.iter_mut().zip(chunk) {
            *d = *s;
        }
        let acc = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = usize::try_from((acc >> (18 - 6 * i)) & 0x3f).unwrap_or(0);
                b64.push(char::from(*ALPHABET.get(idx).unwrap_or(&b'A')));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = Zeroizing::new(format!("-----BEGIN {label}-----\n"));
    let mut rest: &str = &b64;
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Read a file holding a private key, refusing modes with group/other bits
/// (`0o077`) set: a key others can read is as good as published.
pub(crate) fn read_private_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, LoadError> {
    check_private_permissions(path)?;
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(unix)]
fn check_private_permissions(path: &Path) -> Result<(), LoadError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(LoadError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_permissions(_path: &Path) -> Result<(), LoadError> {
    Ok(())
}

fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in PEM or DER `bytes` (a PEM file may hold a bundle).
pub fn certificates_from_bytes(bytes: &[u8], what: &str) -> Result<Vec<Certificate>, LoadError> {
    let mut out = Vec::new();
    for block in decode_pem_or_der(bytes, what)? {
        match block.label.as_deref() {
            None | Some("CERTIFICATE" | "X509 CERTIFICATE") => {
                out.push(Certificate::from_der(block.der.to_vec(), what)?);
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(LoadError::Missing {
            what: what.to_owned(),
            expected: "certificate",
        });
    }
    Ok(out)
}

/// Every certificate in a PEM or DER file.
pub fn certificates_from_file(path: &Path) -> Result<Vec<Certificate>, LoadError> {
    certificates_from_bytes(&read_file(path)?, &path.display().to_string())
}

/// Exactly the first certificate in a PEM or DER file.
pub fn certificate_from_file(path: &Path) -> Result<Certificate, LoadError> {
    let what = path.display().to_string();
    certificates_from_file(path)?
        .into_iter()
        .next()
        .ok_or(LoadError::Missing {
            what,
            expected: "certificate",
        })
}

/// Every CRL in PEM or DER `bytes`.
pub fn crls_from_bytes(bytes: &[u8], what: &str) -> Result<Vec<Crl>, LoadError> {
    let mut out = Vec::new();
    for block in decode_pem_or_der(bytes, what)? {
        match block.label.as_deref() {
            None | Some("X509 CRL") => out.push(Crl::from_der(block.der.to_vec(), what)?),
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(LoadError::Missing {
            what: what.to_owned(),
            expected: "CRL",
        });
    }
    Ok(out)
}

/// Every CRL in a PEM or DER file.
pub fn crls_from_file(path: &Path) -> Result<Vec<Crl>, LoadError> {
    crls_from_bytes(&read_file(path)?, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_tail_length() {
        for len in 0..10usize {
            let data: Vec<u8> = (0..len)
                .map(|i| u8::try_from(i * 37 % 256).unwrap())
                .collect();
            let pem = pem_encode("X", &data);
            let blocks = decode_pem_or_der(pem.as_bytes(), "t").unwrap();
            assert_eq!(blocks.len(), 1);
            assert_eq!(*blocks[0].der, data);
            assert_eq!(blocks[0].label.as_deref(), Some("X"));
        }
    }

    #[test]
    fn rejects_bad_pem() {
        let err = |s: &str| {
            decode_pem_or_der(s.as_bytes(), "f")
                .err()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            err("-----BEGIN X-----\nAAAA\n"),
            "f: bad PEM: no '-----END X-----' line"
        );
        assert_eq!(
            err("-----BEGIN X-----\nAA=A\n-----END X-----\n"),
            "f: bad PEM: bad base64 in 'X'"
        );
        assert_eq!(
            err("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----\n"),
            "f: bad PEM: encrypted or annotated PEM 'RSA PRIVATE KEY' is not supported"
        );
        assert!(decode_pem_or_der(&[0xff, 0xfe], "f").is_err());
    }

    #[test]
    fn no_certificate_is_an_error() {
        assert_eq!(
            certificates_from_bytes(b"hello\n", "f")
                .unwrap_err()
                .to_string(),
            "f: no certificate found (expected PEM or DER)"
        );
    }
}
