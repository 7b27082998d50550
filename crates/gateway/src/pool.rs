//! Virtual-IP address pools (RFC 7296 §3.15: INTERNAL_IP4_ADDRESS /
//! INTERNAL_IP6_ADDRESS handed to road-warrior clients) and their lease
//! store.
//!
//! Leases are bound to the client's identity: the same identity gets the
//! same address back, even after it disconnected, until the pool runs out
//! of never-used addresses and has to hand the address that was released
//! longest ago to someone else (least-recently-released reuse, as
//! strongSwan's in-memory pools do). A lease is *online* while at least one
//! IKE_SA of that identity holds it, *offline* after the last one went away.
//!
//! [`PoolStore`] keeps the leases across daemon restarts. A save writes a
//! temporary file in the same directory, fsyncs it, keeps the previous file
//! as `<name>.prev`, renames the new file into place and fsyncs the
//! directory, so a crash at any point leaves at least one complete copy.
//! Each copy carries a SHA-256 of its body: a torn or corrupted file is
//! detected on load, and the previous good copy is used instead.
//!
//! This module knows nothing of the configuration format or of IKE: pools
//! come in as [`PoolSpec`]s and identities as strings (the daemon uses the
//! peer's IKE ID rendered as text).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// First line of a lease file, before the checksum.
const MAGIC: &str = "ikegw-leases v1 sha256=";

/// A pool as configured: a name and an inclusive address range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolSpec {
    /// The pool's name (`[pools.NAME]`).
    pub(crate) name: String,
    /// First leasable address.
    pub(crate) first: IpAddr,
    /// Last leasable address (same family, not below `first`).
    pub(crate) last: IpAddr,
}

/// Why a pool operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    /// A pool's range is empty or mixes families.
    #[error("pool '{pool}': invalid range {first} - {last}")]
    BadRange {
        /// The pool.
        pool: String,
        /// Its first address.
        first: IpAddr,
        /// Its last address.
        last: IpAddr,
    },
    /// Every address is online for some identity.
    #[error("pool '{pool}' is exhausted: all {size} addresses are in use")]
    Exhausted {
        /// The pool.
        pool: String,
        /// How many addresses it has.
        size: u128,
    },
    /// None of the pools asked for exists.
    #[error("no pool named '{0}'")]
    UnknownPool(String),
    /// Release of an address the identity does not hold online.
    #[error("{identity} holds no online lease on {addr}")]
    NotLeased {
        /// Who tried to release.
        identity: String,
        /// The address.
        addr: IpAddr,
    },
    /// The lease file could not be written.
    #[error("cannot save leases to {path}")]
    Save {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

/// One lease, as listed by [`Pool::leases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseInfo {
    /// The address.
    pub(crate) addr: IpAddr,
    /// The identity it is bound to.
    pub(crate) identity: String,
    /// Whether an IKE_SA holds it now.
    pub(crate) online: bool,
}

/// A pool's counters, for `ikegw list-pools`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolStatus {
    /// The pool's name.
    pub(crate) name: String,
    /// First address.
    pub(crate) first: IpAddr,
    /// Last address.
    pub(crate) last: IpAddr,
    /// Number of addresses.
    pub(crate) size: u128,
    /// Leases held by an IKE_SA now.
    pub(crate) online: usize,
    /// Leases kept for an identity that is not connected.
    pub(crate) offline: usize,
}

#[derive(Debug, Clone)]
struct Lease {
    identity: String,
    /// How many IKE_SAs hold it; 0 = offline.
    holders: u32,
    /// Release sequence number while offline (smaller = released earlier).
    released: u64,
}

/// One address pool and its leases.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    spec: PoolSpec,
    base: u128,
    size: u128,
    /// Offsets below this have all been leased at some point (or checked);
    /// it only moves forward, so finding a never-used address is amortised O(1).
    cursor: u128,
    leases: BTreeMap<u128, Lease>,
    by_identity: HashMap<String, u128>,
    /// Offline leases by release order: the first entry is reused first.
    offline: BTreeMap<u64, u128>,
    seq: u64,
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

impl Pool {
    /// An empty pool over `spec`'s range.
    pub(crate) fn new(spec: PoolSpec) -> Result<Self, PoolError> {
        let bad = || PoolError::BadRange {
            pool: spec.name.clone(),
            first: spec.first,
            last: spec.last,
        };
        if spec.first.is_ipv4() != spec.last.is_ipv4() {
            return Err(bad());
        }
        let (base, last) = (to_u128(spec.first), to_u128(spec.last));
        // A full /0 IPv6 range has 2^128 addresses, one more than u128 holds;
        // such a pool is meaningless, so refuse it rather than wrap.
        let size = last
            .checked_sub(base)
            .and_then(|d| d.checked_add(1))
            .ok_or_else(bad)?;
        Ok(Self {
            spec,
            base,
            size,
            cursor: 0,
            leases: BTreeMap::new(),
            by_identity: HashMap::new(),
            offline: BTreeMap::new(),
            seq: 0,
        })
    }

    /// The pool's name.
    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    fn addr(&self, offset: u128) -> IpAddr {
        let x = self.base.saturating_add(offset);
        if self.spec.first.is_ipv4() {
            IpAddr::V4(Ipv4Addr::from(u32::try_from(x).unwrap_or(u32::MAX)))
        } else {
            IpAddr::V6(Ipv6Addr::from(x))
        }
    }

    fn offset(&self, a: IpAddr) -> Option<u128> {
        if a.is_ipv4() != self.spec.first.is_ipv4() {
            return None;
        }
        to_u128(a).checked_sub(self.base).filter(|o| *o < self.size)
    }

    /// Whether this pool leases IPv4 addresses.
    pub(crate) fn is_ipv4(&self) -> bool {
        self.spec.first.is_ipv4()
    }

    /// Whether `a` lies in this pool.
    pub(crate) fn contains(&self, a: IpAddr) -> bool {
        self.offset(a).is_some()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.saturating_add(1);
        self.seq
    }

    /// Lease an address to `identity`, online.
    ///
    /// In order: the identity's own lease (online or offline); the address
    /// it asked for (RFC 7296 §3.15.3 lets a client request one) if nobody
    /// holds it; a never-used address; the offline lease released longest
    /// ago, taken from its former owner. Otherwise [`PoolError::Exhausted`].
    pub(crate) fn acquire(
        &mut self,
        identity: &str,
        requested: Option<IpAddr>,
    ) -> Result<IpAddr, PoolError> {
        if let Some(&off) = self.by_identity.get(identity) {
            self.take_online(off);
            return Ok(self.addr(off));
        }
        if let Some(off) = requested.and_then(|a| self.offset(a)) {
            if !self.leases.contains_key(&off) {
                self.bind(off, identity);
                return Ok(self.addr(off));
            }
        }
        while self.cursor < self.size && self.leases.contains_key(&self.cursor) {
            self.cursor = self.cursor.saturating_add(1);
        }
        if self.cursor < self.size {
            let off = self.cursor;
            self.bind(off, identity);
            return Ok(self.addr(off));
        }
        if let Some((_, off)) = self.offline.pop_first() {
            if let Some(old) = self.leases.remove(&off) {
                self.by_identity.remove(&old.identity);
            }
            self.bind(off, identity);
            return Ok(self.addr(off));
        }
        Err(PoolError::Exhausted {
            pool: self.spec.name.clone(),
            size: self.size,
        })
    }

    fn bind(&mut self, off: u128, identity: &str) {
        self.leases.insert(
            off,
            Lease {
                identity: identity.to_owned(),
                holders: 1,
                released: 0,
            },
        );
        self.by_identity.insert(identity.to_owned(), off);
    }

    fn take_online(&mut self, off: u128) {
        if let Some(l) = self.leases.get_mut(&off) {
            if l.holders == 0 {
                self.offline.remove(&l.released);
                l.released = 0;
            }
            l.holders = l.holders.saturating_add(1);
        }
    }

    /// An IKE_SA of `identity` holding `addr` went away. The lease goes
    /// offline when the last one did, and stays bound to the identity.
    pub(crate) fn release(&mut self, identity: &str, addr: IpAddr) -> Result<(), PoolError> {
        let not_leased = || PoolError::NotLeased {
            identity: identity.to_owned(),
            addr,
        };
        let off = self.offset(addr).ok_or_else(not_leased)?;
        let seq = self.seq.saturating_add(1);
        let l = self.leases.get_mut(&off).ok_or_else(not_leased)?;
        if l.identity != identity || l.holders == 0 {
            return Err(not_leased());
        }
        l.holders = l.holders.saturating_sub(1);
        if l.holders == 0 {
            l.released = seq;
            self.seq = seq;
            self.offline.insert(seq, off);
        }
        Ok(())
    }

    /// Every lease, in address order.
    pub(crate) fn leases(&self) -> Vec<LeaseInfo> {
        self.leases
            .iter()
            .map(|(off, l)| LeaseInfo {
                addr: self.addr(*off),
                identity: l.identity.clone(),
                online: l.holders > 0,
            })
            .collect()
    }

    /// Counters for listing.
    pub(crate) fn status(&self) -> PoolStatus {
        let online = self.leases.values().filter(|l| l.holders > 0).count();
        PoolStatus {
            name: self.spec.name.clone(),
            first: self.spec.first,
            last: self.spec.last,
            size: self.size,
            online,
            offline: self.leases.len().saturating_sub(online),
        }
    }

    fn to_file(&self) -> FilePool {
        FilePool {
            name: self.spec.name.clone(),
            first: self.spec.first,
            last: self.spec.last,
            leases: self
                .leases
                .iter()
                .map(|(off, l)| FileLease {
                    addr: self.addr(*off),
                    identity: l.identity.clone(),
                    released: (l.holders == 0).then_some(l.released),
                })
                .collect(),
        }
    }

    /// Take over the leases saved for this pool. The daemon restarted, so no
    /// IKE_SA holds anything: leases that were online go offline, released
    /// after those that were already offline. Leases outside the (possibly
    /// reconfigured) range or for an identity seen twice are dropped.
    /// This pool over another range (a reload changed it): every lease
    /// inside the new range keeps its address, holders and place in the
    /// reuse order; offline leases outside it are dropped. `Err` names the
    /// online leases outside it, which would be orphaned: their IKE SAs
    /// still use those addresses.
    fn resized(&self, spec: PoolSpec) -> Result<(Self, usize), Vec<IpAddr>> {
        let mut next = Self::new(spec).map_err(|_| Vec::new())?;
        let mut stranded = Vec::new();
        let mut dropped = 0;
        for (off, l) in &self.leases {
            let addr = self.addr(*off);
            match next.offset(addr) {
                Some(n) => {
                    next.by_identity.insert(l.identity.clone(), n);
                    if l.holders == 0 {
                        next.offline.insert(l.released, n);
                    }
                    next.leases.insert(n, l.clone());
                }
                None if l.holders > 0 => stranded.push(addr),
                None => dropped += 1,
            }
        }
        if !stranded.is_empty() {
            return Err(stranded);
        }
        next.seq = self.seq;
        Ok((next, dropped))
    }

    fn restore(&mut self, saved: &FilePool) {
        let mut entries: Vec<(u64, u64, u128, &str)> = Vec::new();
        for l in &saved.leases {
            let Some(off) = self.offset(l.addr) else {
                continue;
            };
            // Online leases sort after every offline one, in address order.
            let key = l.released.map_or((1, 0), |r| (0, r));
            entries.push((key.0, key.1, off, &l.identity));
        }
        entries.sort_unstable();
        for (_, _, off, identity) in entries {
            if self.leases.contains_key(&off) || self.by_identity.contains_key(identity) {
                continue;
            }
            let seq = self.next_seq();
            self.leases.insert(
                off,
                Lease {
                    identity: identity.to_owned(),
                    holders: 0,
                    released: seq,
                },
            );
            self.by_identity.insert(identity.to_owned(), off);
            self.offline.insert(seq, off);
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FileLease {
    addr: IpAddr,
    identity: String,
    /// Release order while offline; `None` = online when saved.
    released: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct FilePool {
    name: String,
    first: IpAddr,
    last: IpAddr,
    leases: Vec<FileLease>,
}

#[derive(Serialize, Deserialize)]
struct FileBody {
    pools: Vec<FilePool>,
}

/// How [`PoolStore::open`] found the lease file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoadOutcome {
    /// No lease file yet: every pool starts empty.
    Fresh,
    /// The lease file was read.
    Loaded,
    /// The lease file was torn or corrupt (`reason`); the previous copy was
    /// used and the bad file kept as `<name>.corrupt`.
    RecoveredFromPrevious {
        /// What was wrong with the newest file.
        reason: String,
    },
    /// Neither copy was usable: every pool starts empty.
    Unusable {
        /// What was wrong.
        reason: String,
    },
}

/// Every pool of the configuration and the file their leases live in.
#[derive(Debug)]
pub(crate) struct PoolStore {
    path: PathBuf,
    pools: Vec<Pool>,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

fn sha256_hex(body: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, body).as_ref())
}

/// Parse one lease file: magic, checksum, then the JSON body.
fn decode(bytes: &[u8]) -> Result<FileBody, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    let (header, body) = text
        .split_once('\n')
        .ok_or("no header line (torn write?)")?;
    let sum = header
        .strip_prefix(MAGIC)
        .ok_or("not an ikegw lease file")?;
    if sha256_hex(body.as_bytes()) != sum {
        return Err("checksum mismatch (torn or corrupted write)".to_owned());
    }
    serde_json::from_str(body).map_err(|e| format!("bad contents: {e}"))
}

enum Read {
    Missing,
    Bad(String),
    Good(FileBody),
}

fn read(path: &Path) -> Read {
    match fs::read(path) {
        Ok(b) => match decode(&b) {
            Ok(body) => Read::Good(body),
            Err(e) => Read::Bad(e),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Read::Missing,
        Err(e) => Read::Bad(e.to_string()),
    }
}

impl PoolStore {
    /// Open the store at `path` with the configured `specs`, restoring the
    /// saved leases of pools that are still configured.
    pub(crate) fn open(path: &Path, specs: &[PoolSpec]) -> Result<(Self, LoadOutcome), PoolError> {
        let mut pools = specs
            .iter()
            .cloned()
            .map(Pool::new)
            .collect::<Result<Vec<_>, _>>()?;
        let prev = sibling(path, ".prev");
        let (body, outcome) = match read(path) {
            Read::Good(b) => (Some(b), LoadOutcome::Loaded),
            // A crash between the two renames of a save leaves only `.prev`.
            Read::Missing => match read(&prev) {
                Read::Good(b) => (Some(b), LoadOutcome::Loaded),
                Read::Missing => (None, LoadOutcome::Fresh),
                Read::Bad(reason) => (None, LoadOutcome::Unusable { reason }),
            },
            Read::Bad(reason) => {
                // Keep the bad file for a post-mortem; the next save would
                // otherwise overwrite the evidence. Failing to move it only
                // loses that evidence, so the error is not fatal.
                let _ = fs::rename(path, sibling(path, ".corrupt"));
                match read(&prev) {
                    Read::Good(b) => (Some(b), LoadOutcome::RecoveredFromPrevious { reason }),
                    Read::Missing => (None, LoadOutcome::Unusable { reason }),
                    Read::Bad(r2) => (
                        None,
                        LoadOutcome::Unusable {
                            reason: format!("{reason}; previous copy: {r2}"),
                        },
                    ),
                }
            }
        };
        if let Some(body) = body {
            for p in &mut pools {
                if let Some(saved) = body.pools.iter().find(|s| s.name == p.spec.name) {
                    p.restore(saved);
                }
            }
        }
        Ok((
            Self {
                path: path.to_owned(),
                pools,
            },
            outcome,
        ))
    }

    /// Applies a reloaded configuration's pools, the way `swanctl
    /// --load-pools` replaces them: new pools are added; a pool whose
    /// range changed keeps the leases inside its new range; a pool that
    /// is gone or shrank away from addresses still online is kept as it
    /// was, since IKE SAs use those addresses. Returns one line per change
    /// (`Ok`) or refusal (`Err`), and saves the store if anything changed.
    pub(crate) fn reconfigure(&mut self, specs: &[PoolSpec]) -> Vec<Result<String, String>> {
        let mut out = Vec::new();
        let mut next: Vec<Pool> = Vec::new();
        let mut changed = false;
        for spec in specs {
            match self.pools.iter().find(|p| p.spec.name == spec.name) {
                Some(p) if p.spec == *spec => next.push(p.clone()),
                Some(p) => match p.resized(spec.clone()) {
                    Ok((q, dropped)) => {
                        out.push(Ok(format!(
                            "pool '{}' now {} - {} ({dropped} offline leases outside it dropped)",
                            spec.name, spec.first, spec.last
                        )));
                        next.push(q);
                        changed = true;
                    }
                    Err(stranded) if stranded.is_empty() => {
                        out.push(Err(format!(
                            "pool '{}': invalid range {} - {}; kept {} - {}",
                            spec.name, spec.first, spec.last, p.spec.first, p.spec.last
                        )));
                        next.push(p.clone());
                    }
                    Err(stranded) => {
                        let list: Vec<String> = stranded.iter().map(ToString::to_string).collect();
                        out.push(Err(format!(
                            "pool '{}' keeps {} - {}: {} online outside {} - {}",
                            spec.name,
                            p.spec.first,
                            p.spec.last,
                            list.join(", "),
                            spec.first,
                            spec.last
                        )));
                        next.push(p.clone());
                    }
                },
                None => match Pool::new(spec.clone()) {
                    Ok(p) => {
                        out.push(Ok(format!(
                            "pool '{}' added: {} - {}",
                            spec.name, spec.first, spec.last
                        )));
                        next.push(p);
                        changed = true;
                    }
                    Err(e) => out.push(Err(e.to_string())),
                },
            }
        }
        for p in &self.pools {
            if specs.iter().any(|s| s.name == p.spec.name) {
                continue;
            }
            let online = p.status().online;
            if online > 0 {
                out.push(Err(format!(
                    "pool '{}' is no longer configured but kept: {online} leases online",
                    p.spec.name
                )));
                next.push(p.clone());
            } else {
                out.push(Ok(format!("pool '{}' removed", p.spec.name)));
                changed = true;
            }
        }
        self.pools = next;
        if changed {
            if let Err(e) = self.save() {
                out.push(Err(e.to_string()));
            }
        }
        out
    }

    /// The pool named `name`.
    pub(crate) fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.spec.name == name)
    }

    /// Status of every pool, in configuration order.
    pub(crate) fn list(&self) -> Vec<PoolStatus> {
        self.pools.iter().map(Pool::status).collect()
    }

    /// Lease from the first of `names` (a connection's `pools`) that can
    /// serve `identity`: a pool already holding a lease for it wins, then
    /// the pools in order, skipping exhausted ones.
    pub(crate) fn acquire(
        &mut self,
        names: &[&str],
        identity: &str,
        requested: Option<IpAddr>,
    ) -> Result<IpAddr, PoolError> {
        let mut candidates = Vec::new();
        for n in names {
            let i = self
                .pools
                .iter()
                .position(|p| p.spec.name == *n)
                .ok_or_else(|| PoolError::UnknownPool((*n).to_owned()))?;
            candidates.push(i);
        }
        if let Some(&i) = candidates.iter().find(|&&i| {
            self.pools
                .get(i)
                .is_some_and(|p| p.by_identity.contains_key(identity))
        }) {
            if let Some(p) = self.pools.get_mut(i) {
                return p.acquire(identity, requested);
            }
        }
        let mut last_err = None;
        for i in candidates {
            if let Some(p) = self.pools.get_mut(i) {
                match p.acquire(identity, requested) {
                    Ok(a) => return Ok(a),
                    Err(e) => last_err = Some(e),
                }
            }
        }
        Err(last_err.unwrap_or_else(|| PoolError::UnknownPool(String::new())))
    }

    /// Release `addr` for `identity` in whichever pool holds it.
    pub(crate) fn release(&mut self, identity: &str, addr: IpAddr) -> Result<(), PoolError> {
        match self.pools.iter_mut().find(|p| p.contains(addr)) {
            Some(p) => p.release(identity, addr),
            None => Err(PoolError::NotLeased {
                identity: identity.to_owned(),
                addr,
            }),
        }
    }

    /// Write every lease to disk so that a crash at any moment leaves a
    /// complete copy: temp file + fsync, keep the old file as `.prev`,
    /// rename into place, fsync the directory.
    pub(crate) fn save(&self) -> Result<(), PoolError> {
        let err = |source| PoolError::Save {
            path: self.path.clone(),
            source,
        };
        let body = FileBody {
            pools: self.pools.iter().map(Pool::to_file).collect(),
        };
        let json = serde_json::to_string_pretty(&body).map_err(|e| err(io::Error::other(e)))?;
        let tmp = sibling(&self.path, ".tmp");
        {
            // Leases name who connected: readable by the daemon only.
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(err)?;
            f.write_all(MAGIC.as_bytes()).map_err(err)?;
            f.write_all(sha256_hex(json.as_bytes()).as_bytes())
                .map_err(err)?;
            f.write_all(b"\n").map_err(err)?;
            f.write_all(json.as_bytes()).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        // Only a file that still verifies becomes `.prev`: after a recovery
        // the current file is gone, and `.prev` must not be replaced by junk.
        if matches!(read(&self.path), Read::Good(_)) {
            fs::rename(&self.path, sibling(&self.path, ".prev")).map_err(err)?;
        }
        fs::rename(&tmp, &self.path).map_err(err)?;
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
        Ok(())
    }
}
