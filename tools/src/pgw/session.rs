//! The gateway's session table: one bearer per subscriber, with the identifiers a record or a
//! policy names it by (MSISDN, IMSI, UE addresses, GTP-U TEID). Addresses and TEIDs are the
//! synthesizer's ([`crate::synth::net`]), so records and captures agree.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::synth::net;

/// First MSISDN handed out (subscriber 0); subscriber `s` has `MSISDN_BASE + s`.
pub const MSISDN_BASE: u64 = 447_700_000_001;
/// First IMSI handed out (MCC 234, MNC 15); subscriber `s` has `IMSI_BASE + s`.
pub const IMSI_BASE: u64 = 234_150_000_000_001;

/// One subscriber's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The subscriber's number (the record key and the policy id).
    pub msisdn: String,
    pub imsi: String,
    /// The UE's IPv4 address.
    pub ue_v4: Ipv4Addr,
    /// The UE's IPv6 address (the first of its own /64).
    pub ue_v6: Ipv6Addr,
    /// The bearer's GTP-U tunnel id.
    pub teid: u32,
}

impl Session {
    /// Subscriber `s`'s session.
    pub fn of(s: u32) -> Session {
        Session {
            msisdn: (MSISDN_BASE + u64::from(s)).to_string(),
            imsi: (IMSI_BASE + u64::from(s)).to_string(),
            ue_v4: net::subscriber_v4(s),
            ue_v6: net::subscriber_v6(s),
            teid: net::tunnel(s).teid,
        }
    }

    /// The /64 the UE's IPv6 addresses come from, as a policy identifier.
    pub fn v6_prefix(&self) -> String {
        let seg = self.ue_v6.segments();
        Ipv6Addr::new(seg[0], seg[1], seg[2], seg[3], 0, 0, 0, 0).to_string() + "/64"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_have_distinct_identifiers_from_the_synthesizer_plan() {
        let a = Session::of(0);
        let b = Session::of(258);
        assert_eq!(a.msisdn, "447700000001");
        assert_eq!(a.imsi, "234150000000001");
        assert_eq!(a.ue_v4, Ipv4Addr::new(10, 45, 0, 1));
        assert_eq!(b.v6_prefix(), "2001:db8:45:102::/64");
        assert_eq!(b.teid, net::TEID_BASE + 258);
        assert_ne!(a.msisdn, b.msisdn);
    }
}
