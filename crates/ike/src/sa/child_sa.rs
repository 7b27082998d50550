//! CHILD_SAs: negotiated ESP SAs and the kernel requests that install and
//! remove them (RFC 7296 §2.17 key material, RFC 3948 encapsulation).

use super::ike_sa::{IkeKeys, Role};
use crate::crypto::{derive_child_keymat, esp_key_lengths, SharedSecret};
use crate::error::Error;
use crate::io::{ChildSaInstall, EspKeys, IkeSaId, KernelRequest, Lifetimes, Mode, Path, UdpEncap};
use crate::policy::proposal::Chosen;
use crate::wire::TrafficSelector;

/// An installed CHILD_SA, as the IKE SA remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChildSa {
    /// Index of its child configuration in the peer's children; a rekey
    /// keeps it (proposals, mode, lifetimes).
    pub(crate) config: usize,
    pub(crate) inbound_spi: u32,
    pub(crate) outbound_spi: u32,
    pub(crate) chosen: Chosen,
    pub(crate) mode: Mode,
    pub(crate) local_ts: Vec<TrafficSelector>,
    pub(crate) remote_ts: Vec<TrafficSelector>,
}

/// Everything needed to derive keys and install one CHILD_SA.
pub(crate) struct NewChild<'a> {
    pub(crate) ike_sa: IkeSaId,
    pub(crate) role: Role,
    pub(crate) path: Path,
    pub(crate) nat: bool,
    pub(crate) keys: &'a IkeKeys,
    pub(crate) chosen: Chosen,
    pub(crate) our_spi: u32,
    pub(crate) peer_spi: u32,
    pub(crate) ni: &'a [u8],
    pub(crate) nr: &'a [u8],
    pub(crate) mode: Mode,
    pub(crate) local_ts: Vec<TrafficSelector>,
    pub(crate) remote_ts: Vec<TrafficSelector>,
    pub(crate) lifetimes: Lifetimes,
    /// Index of the child configuration.
    pub(crate) config: usize,
}

impl NewChild<'_> {
    /// Derives KEYMAT (RFC 7296 §2.17: initiator→responder keys first) and
    /// builds the install request plus our record of the CHILD_SA.
    pub(crate) fn build(self) -> Result<(ChildSa, KernelRequest), Error> {
        self.build_with(None)
    }

    /// As [`build`](Self::build), with the fresh shared secret of a PFS
    /// key exchange in CREATE_CHILD_SA (RFC 7296 §2.17).
    pub(crate) fn build_with(
        self,
        g_ir: Option<&SharedSecret>,
    ) -> Result<(ChildSa, KernelRequest), Error> {
        let lengths = esp_key_lengths(
            self.chosen.encr_id(),
            self.chosen.encr.key_bits,
            self.chosen.integ_id(),
        )?;
        let km = derive_child_keymat(
            self.keys.suite.prf,
            &self.keys.sk_d,
            g_ir,
            self.ni,
            self.nr,
            lengths,
        )?;
        let to_responder = (km.encr_i, km.integ_i);
        let to_initiator = (km.encr_r, km.integ_r);
        let (inbound, outbound) = match self.role {
            Role::Initiator => (to_initiator, to_responder),
            Role::Responder => (to_responder, to_initiator),
        };
        let encap = self.nat.then_some(UdpEncap {
            local_port: self.path.local.port(),
            remote_port: self.path.remote.port(),
        });
        let install = ChildSaInstall {
            seq: 0,
            ike_sa: self.ike_sa,
            child: self.config,
            local: self.path.local,
            remote: self.path.remote,
            inbound: EspKeys {
                spi: self.our_spi,
                encr_key: inbound.0,
                integ_key: inbound.1,
            },
            outbound: EspKeys {
                spi: self.peer_spi,
                encr_key: outbound.0,
                integ_key: outbound.1,
            },
            encr: self.chosen.encr_id(),
            encr_key_bits: self.chosen.encr.key_bits,
            integ: self.chosen.integ_id(),
            esn: self.chosen.esn(),
            mode: self.mode,
            local_ts: self.local_ts.clone(),
            remote_ts: self.remote_ts.clone(),
            lifetimes: self.lifetimes,
            encap,
        };
        let child = ChildSa {
            config: self.config,
            inbound_spi: self.our_spi,
            outbound_spi: self.peer_spi,
            chosen: self.chosen,
            mode: self.mode,
            local_ts: self.local_ts,
            remote_ts: self.remote_ts,
        };
        Ok((child, KernelRequest::Install(Box::new(install))))
    }
}

impl ChildSa {
    pub(crate) fn delete_request(&self, ike_sa: IkeSaId, path: Path) -> KernelRequest {
        KernelRequest::Delete {
            seq: 0,
            ike_sa,
            inbound_spi: self.inbound_spi,
            outbound_spi: self.outbound_spi,
            local: path.local,
            remote: path.remote,
        }
    }
}
