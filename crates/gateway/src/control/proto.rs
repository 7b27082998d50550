//! The control protocol between `ikegw <verb>` and the running daemon:
//! one JSON object per line over a Unix stream socket (mode 0600).
//!
//! Each request gets exactly one [`Response`], except [`Request::Log`],
//! which is answered by a stream of [`Response::Log`] lines until the
//! client hangs up. Failures are typed ([`ControlError`]), so scripts can
//! match on `"error"` instead of parsing prose.

use serde::{Deserialize, Serialize};

use crate::daemon::setup::ConnInfo;

/// A request from the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub(crate) enum Request {
    /// Daemon summary.
    Status,
    /// IKE and CHILD SAs (`swanctl --list-sas`).
    ListSas,
    /// Loaded connections (`swanctl --list-conns`).
    ListConns,
    /// Start the CHILD_SA `child` (and its IKE SA).
    Initiate {
        /// CHILD_SA name, or `conn/child`.
        child: String,
    },
    /// Delete an IKE SA by connection name or IKE SA id (our SPI, hex).
    Terminate {
        /// Name or id.
        ike: String,
    },
    /// Rekey an IKE SA (by name or id); with `child`, that CHILD_SA
    /// (by our inbound SPI, hex) instead.
    Rekey {
        /// Name or id.
        ike: String,
        /// Inbound SPI of a CHILD_SA.
        child: Option<String>,
    },
    /// Re-read the configuration file.
    Reload,
    /// Counters.
    Stats,
    /// Stream log lines.
    Log,
    /// Address pools and their leases (#10).
    ListPools,
}

/// One lease of an address pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseView {
    /// The leased address.
    pub(crate) addr: String,
    /// Who holds it (the peer's IKE identity).
    pub(crate) identity: String,
    /// Whether an IKE SA uses it now; offline leases stay reserved for
    /// their identity until the pool needs them.
    pub(crate) online: bool,
}

/// One address pool as `list-pools` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PoolView {
    /// `[pools.NAME]`.
    pub(crate) name: String,
    /// First leasable address.
    pub(crate) first: String,
    /// Last leasable address.
    pub(crate) last: String,
    /// Addresses in the pool (text: an IPv6 pool may exceed JSON numbers).
    pub(crate) size: String,
    /// Leases in use.
    pub(crate) online: usize,
    /// Leases kept for identities that are not connected.
    pub(crate) offline: usize,
    /// Every lease.
    pub(crate) leases: Vec<LeaseView>,
}

/// One IKE SA as `list-sas` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IkeSaInfo {
    /// Our IKE SPI (hex), the id `terminate`/`rekey` accept.
    pub(crate) id: String,
    /// `conn/child` of the peer configuration.
    pub(crate) name: String,
    /// `CONNECTING` or `ESTABLISHED`.
    pub(crate) state: String,
    /// Our address and port.
    pub(crate) local: String,
    /// The peer's address and port.
    pub(crate) remote: String,
    /// Our identity.
    pub(crate) local_id: String,
    /// The peer's authenticated identity.
    pub(crate) remote_id: String,
    /// IKE algorithms in strongSwan notation.
    pub(crate) suite: String,
    /// NAT detected or forced (ESP in UDP).
    pub(crate) nat: bool,
    /// Seconds since established.
    pub(crate) established_secs: Option<u64>,
    /// CHILD_SAs.
    pub(crate) children: Vec<ChildSaInfo>,
}

/// One CHILD_SA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChildSaInfo {
    /// CHILD_SA name.
    pub(crate) name: String,
    /// Our inbound SPI (hex).
    pub(crate) spi_in: String,
    /// Our outbound SPI (hex).
    pub(crate) spi_out: String,
    /// ESP algorithms in strongSwan notation.
    pub(crate) suite: String,
    /// Our selectors.
    pub(crate) local_ts: Vec<String>,
    /// The peer's selectors.
    pub(crate) remote_ts: Vec<String>,
    /// Seconds since installed.
    pub(crate) installed_secs: u64,
    /// Bytes received (decrypted) through the data plane.
    pub(crate) bytes_in: u64,
    /// Packets received.
    pub(crate) packets_in: u64,
    /// Bytes sent.
    pub(crate) bytes_out: u64,
    /// Packets sent.
    pub(crate) packets_out: u64,
}

/// Daemon summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Status {
    /// Daemon version.
    pub(crate) version: String,
    /// Process id.
    pub(crate) pid: u32,
    /// Seconds since start.
    pub(crate) uptime_secs: u64,
    /// `userland` or `illumos`.
    pub(crate) backend: String,
    /// The config file.
    pub(crate) config: String,
    /// Bound UDP sockets.
    pub(crate) sockets: Vec<String>,
    /// IKE SAs in any state (core count).
    pub(crate) ike_sas: usize,
    /// Half-open responder SAs.
    pub(crate) half_open: usize,
    /// CHILD_SAs installed in the key engine.
    pub(crate) child_sas: usize,
    /// Peer configurations loaded.
    pub(crate) connections: usize,
}

/// Counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stats {
    /// IKE datagrams received.
    pub(crate) ike_in: u64,
    /// IKE datagrams sent.
    pub(crate) ike_out: u64,
    /// ESP-in-UDP datagrams received.
    pub(crate) esp_in: u64,
    /// NAT keepalives received.
    pub(crate) keepalives_in: u64,
    /// Datagrams the core dropped.
    pub(crate) dropped: u64,
    /// IKE SAs established.
    pub(crate) established: u64,
    /// IKE SA setups that failed.
    pub(crate) failed: u64,
    /// CHILD_SAs installed.
    pub(crate) children_installed: u64,
    /// Key engine requests refused.
    pub(crate) kernel_errors: u64,
    /// Send errors on UDP sockets.
    pub(crate) send_errors: u64,
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub(crate) enum ControlError {
    /// No CHILD_SA configuration of that name.
    #[error("no child named '{name}' in the configuration (see ikegw list-conns)")]
    NoSuchChild {
        /// What was asked for.
        name: String,
    },
    /// No live IKE SA matches.
    #[error("no IKE SA matches '{name}' (see ikegw list-sas)")]
    NoSuchIkeSa {
        /// What was asked for.
        name: String,
    },
    /// The core refused the command.
    #[error("the IKE core refused: {message}")]
    Refused {
        /// The core's error.
        message: String,
    },
    /// A reload found errors; the old configuration stays.
    #[error("configuration not reloaded, the running one is kept:\n{}", diagnostics.join("\n"))]
    ConfigInvalid {
        /// Each problem as file:line:col: message.
        diagnostics: Vec<String>,
    },
    /// The request line did not parse.
    #[error("bad request: {message}")]
    BadRequest {
        /// Parser message.
        message: String,
    },
    /// The daemon is stopping.
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub(crate) enum Response {
    /// For [`Request::Status`].
    Status(Status),
    /// For [`Request::ListSas`].
    Sas {
        /// The SAs.
        sas: Vec<IkeSaInfo>,
    },
    /// For [`Request::ListConns`].
    Conns {
        /// The connections.
        conns: Vec<ConnInfo>,
    },
    /// An IKE SA was started.
    Initiated {
        /// Its id.
        ike: String,
    },
    /// Delete was sent for these IKE SAs.
    Terminating {
        /// Their ids.
        ike: Vec<String>,
    },
    /// A rekey was started.
    Rekeying {
        /// IKE SA id.
        ike: String,
    },
    /// The new configuration was loaded.
    Reloaded {
        /// Peer configurations now loaded.
        connections: usize,
        /// Whether it is already in force (always, since connections are
        /// replaced one by one; kept for older clients).
        applied: bool,
        /// Connections (`conn/child`) that are new.
        #[serde(default)]
        added: Vec<String>,
        /// Connections that are gone; their IKE SAs are being deleted.
        #[serde(default)]
        removed: Vec<String>,
        /// Connections whose settings changed; their IKE SAs are being
        /// deleted and start again as `start_action` says.
        #[serde(default)]
        changed: Vec<String>,
        /// Connections left as they were, SAs and all.
        #[serde(default)]
        unchanged: Vec<String>,
    },
    /// For [`Request::Stats`].
    Stats(Stats),
    /// For [`Request::ListPools`].
    Pools {
        /// The pools, in configuration order.
        pools: Vec<PoolView>,
    },
    /// One log line.
    Log {
        /// The formatted line.
        line: String,
    },
    /// The request failed.
    Error(ControlError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_errors_round_trip_as_tagged_json() {
        for r in [
            Request::Status,
            Request::Initiate {
                child: "net".into(),
            },
            Request::Rekey {
                ike: "0011".into(),
                child: Some("c0ffee00".into()),
            },
        ] {
            let s = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        }
        let e = Response::Error(ControlError::NoSuchChild { name: "x".into() });
        let s = serde_json::to_string(&e).unwrap();
        assert!(s.contains("\"error\":\"no-such-child\""), "{s}");
        assert_eq!(serde_json::from_str::<Response>(&s).unwrap(), e);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"request":"list-sas"}"#).unwrap(),
            Request::ListSas
        );
        assert!(serde_json::from_str::<Request>(r#"{"request":"format-disk"}"#).is_err());
    }
}
