//! IPv4 prefixes for the `[site]` model: parsing `a.b.c.d/len`, containment
//! and overlap. The site model is IPv4-only for now (the seed's home
//! datacentre has one IPv4 WAN address); IPv6 is a later extension.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 address with a prefix length, e.g. `10.0.0.10/24` (an interface
/// address) or `10.0.0.0/24` (a network, when [`Ipv4Net::is_network`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Ipv4Net {
    /// The address as written (host bits may be set for an interface address).
    pub(crate) addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub(crate) len: u8,
}

impl Ipv4Net {
    /// The netmask as a 32-bit number (`len` leading ones).
    fn mask(self) -> u32 {
        // checked_shl: a shift by 32 (len 0) is out of range for u32.
        u32::MAX
            .checked_shl(32_u32.saturating_sub(u32::from(self.len)))
            .unwrap_or(0)
    }

    /// The network address (host bits cleared).
    pub(crate) fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The broadcast address (host bits set).
    pub(crate) fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// This prefix with the host bits cleared.
    pub(crate) fn trunc(self) -> Self {
        Self {
            addr: self.network(),
            len: self.len,
        }
    }

    /// True when no host bits are set (the form a subnet must be written in).
    pub(crate) fn is_network(self) -> bool {
        self.addr == self.network()
    }

    /// True when `ip` lies inside this prefix.
    pub(crate) fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// True when the two prefixes share at least one address: with CIDR
    /// prefixes that means one contains the other's network address.
    pub(crate) fn overlaps(self, other: Self) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Why a prefix did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetParseError(pub(crate) String);

impl FromStr for Ipv4Net {
    type Err = NetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((a, l)) = s.split_once('/') else {
            return Err(NetParseError(format!(
                "'{s}' is not an IPv4 prefix (expected a.b.c.d/len)"
            )));
        };
        let addr = a
            .parse::<Ipv4Addr>()
            .map_err(|_| NetParseError(format!("'{a}' is not an IPv4 address")))?;
        let len = l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| NetParseError(format!("'{l}' is not a prefix length (0..=32)")))?;
        Ok(Self { addr, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_prefixes() {
        assert_eq!(n("10.0.0.10/24").to_string(), "10.0.0.10/24");
        assert_eq!(n("10.0.0.10/24").network(), Ipv4Addr::new(10, 0, 0, 0));
        assert_eq!(n("10.0.0.10/24").broadcast(), Ipv4Addr::new(10, 0, 0, 255));
        assert_eq!(n("0.0.0.0/0").broadcast(), Ipv4Addr::BROADCAST);
        assert!(n("10.0.0.0/24").is_network());
        assert!(!n("10.0.0.1/24").is_network());
    }

    #[test]
    fn rejects_malformed_prefixes() {
        assert!("10.0.0.0".parse::<Ipv4Net>().is_err());
        assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("10.0.0/24".parse::<Ipv4Net>().is_err());
        assert!("10.0.0.0/-1".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        assert!(n("10.0.0.0/16").overlaps(n("10.0.5.0/24")));
        assert!(n("10.0.5.0/24").overlaps(n("10.0.0.0/16")));
        assert!(!n("10.0.0.0/24").overlaps(n("10.0.1.0/24")));
        assert!(n("0.0.0.0/0").overlaps(n("192.0.2.0/24")));
        assert!(n("10.0.0.0/24").contains(Ipv4Addr::new(10, 0, 0, 255)));
        assert!(!n("10.0.0.0/24").contains(Ipv4Addr::new(10, 0, 1, 0)));
    }
}
