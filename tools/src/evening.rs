//! The evening fixture (`fixtures/pcaps/evening.pcap`): five subscribers' traffic through GTP-U
//! on Tuesday 2024-03-12 between 18:00 and 21:40 UTC (London is on GMT that day, New York on
//! EDT, UTC-4), made to be decided by `fixtures/policy-evening.toml`. Which flow should be
//! blocked, by which rule and when, is written out by hand in `tests/policy_evening.rs`; this
//! module only builds the traffic. Three flows are long on purpose: one straddles the 21:00
//! start of a bedtime window, two overlap for 30 minutes against one 30-minute daily quota.

use std::net::{IpAddr, SocketAddr};

use crate::dns::{rtype, Answer};
use crate::flow::Flow;
use crate::packets::{Gtpu, Link, Path};
use crate::recipes::{self, Endpoints, QuicShape, RecipeError, TlsShape};
use crate::rng::Rng;
use crate::tls::ClientHello;

/// 2024-03-12T00:00:00Z in nanoseconds.
const DAY_NS: u64 = 1_710_201_600 * 1_000_000_000;
const SECOND: u64 = 1_000_000_000;

/// A subscriber's line: UE address and GTP-U tunnel id (as in the policy file).
struct Line {
    ue: &'static str,
    teid: u32,
}

const AMY: Line = Line {
    ue: "10.45.1.1",
    teid: 0x1001,
};
const BEN: Line = Line {
    ue: "10.45.1.2",
    teid: 0x1002,
};
const CLEO: Line = Line {
    ue: "10.45.1.3",
    teid: 0x1003,
};
const DAN: Line = Line {
    ue: "10.45.1.4",
    teid: 0x1004,
};
/// Not in the policy: gets the default profile.
const GUEST: Line = Line {
    ue: "10.45.9.9",
    teid: 0x1999,
};

/// UTC time of day on 2024-03-12, in nanoseconds since the epoch.
fn at(h: u64, m: u64, s: u64) -> u64 {
    DAY_NS + ((h * 60 + m) * 60 + s) * SECOND
}

fn endpoints(line: &Line, port: u16, server: &str, start_ns: u64) -> Endpoints {
    let path = Path::tunneled(
        Link::ethernet(),
        Gtpu {
            teid: line.teid,
            access: "172.16.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            core: "172.16.0.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        },
    );
    let ue: IpAddr = line.ue.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let server: SocketAddr = server
        .parse()
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    Endpoints {
        client: SocketAddr::new(ue, port),
        server,
        path,
        start_ns,
    }
}

fn tls(rng: &mut Rng, ep: &Endpoints, sni: &str) -> Result<Flow, RecipeError> {
    let hello = ClientHello::browser(rng, Some(sni));
    recipes::tls_flow(ep, rng, &hello, &TlsShape::default())
}

/// A TLS flow whose packets after the ClientHello are `step_ns` apart (a long-lived
/// connection): `records` server records keep it going.
fn long_tls(
    rng: &mut Rng,
    ep: &Endpoints,
    sni: &str,
    records: usize,
    step_ns: u64,
) -> Result<Flow, RecipeError> {
    let hello = ClientHello::browser(rng, Some(sni));
    let shape = TlsShape {
        server_records: vec![900; records],
        ..TlsShape::default()
    };
    let mut flow = recipes::tls_flow(ep, rng, &hello, &shape)?;
    // Frames 0-2 are the handshake, 3 the ClientHello; everything after is stretched out but
    // the close, which follows the last of them within a round trip.
    let body = flow.frames.len().saturating_sub(flow.close_frames);
    if let (Some(hello_ts), Some(last_ts)) = (
        flow.frames.get(3).map(|f| f.ts_ns),
        body.checked_sub(1)
            .and_then(|i| flow.frames.get(i))
            .map(|f| f.ts_ns),
    ) {
        let new_last = hello_ts + body.saturating_sub(4) as u64 * step_ns;
        for (k, frame) in flow.frames.iter_mut().enumerate().skip(4) {
            frame.ts_ns = if k < body {
                hello_ts + (k as u64 - 3) * step_ns
            } else {
                new_last + (frame.ts_ns - last_ts)
            };
        }
    }
    Ok(flow)
}

/// The evening's flows, in the order of the scenario.
pub fn flows() -> Result<Vec<Flow>, RecipeError> {
    let mut rng = Rng::from_label("evening.pcap");
    let r = &mut rng;
    let quic = QuicShape {
        short_packets: 2,
        ..QuicShape::default()
    };
    let pornhub = [Answer::A([66, 254, 114, 41].into())];
    Ok(vec![
        // Amy: child profile, London.
        tls(
            r,
            &endpoints(&AMY, 50001, "104.16.10.1:443", at(18, 0, 0)),
            "www.khanacademy.org",
        )?,
        tls(
            r,
            &endpoints(&AMY, 50002, "5.226.176.1:443", at(18, 30, 0)),
            "www.bet365.com",
        )?,
        tls(
            r,
            &endpoints(&AMY, 50003, "23.40.1.1:443", at(19, 0, 0)),
            "www.tiktok.com",
        )?,
        tls(
            r,
            &endpoints(&AMY, 50004, "128.116.1.1:443", at(19, 5, 0)),
            "www.roblox.com",
        )?,
        tls(
            r,
            &endpoints(&AMY, 50005, "13.107.1.1:443", at(19, 10, 0)),
            "www.minecraft.net",
        )?,
        recipes::quic_flow(
            &endpoints(&AMY, 50006, "142.250.1.1:443", at(19, 20, 0)),
            r,
            Some("www.youtube.com"),
            &quic,
        )?,
        tls(
            r,
            &endpoints(&AMY, 50007, "8.8.4.4:443", at(19, 30, 0)),
            "dns.google",
        )?,
        // Opens at 20:59:30 and sends every 20 s until after 21:00.
        long_tls(
            r,
            &endpoints(&AMY, 50008, "142.250.1.2:443", at(20, 59, 30)),
            "www.youtube.com",
            6,
            20 * SECOND,
        )?,
        tls(
            r,
            &endpoints(&AMY, 50009, "104.16.10.1:443", at(21, 30, 0)),
            "www.khanacademy.org",
        )?,
        // Ben: teen, London, 30 minutes of YouTube a day; one connection sends every minute
        // for 40 minutes from 19:00.
        long_tls(
            r,
            &endpoints(&BEN, 51001, "142.250.1.3:443", at(19, 0, 0)),
            "www.youtube.com",
            45,
            60 * SECOND,
        )?,
        // A second YouTube connection of Ben's from 19:10:30, one packet a minute at :30. Its
        // minutes are the ones the first connection counts already (a minute counts once per
        // subscriber), so it meets the exhausted quota at 19:29:30, before the first one does.
        long_tls(
            r,
            &endpoints(&BEN, 51003, "142.250.1.5:443", at(19, 10, 30)),
            "www.youtube.com",
            30,
            60 * SECOND,
        )?,
        // Cleo: child profile, New York: 21:30 UTC is 17:30 there, before her bedtime.
        tls(
            r,
            &endpoints(&CLEO, 52001, "142.250.1.4:443", at(21, 30, 0)),
            "www.youtube.com",
        )?,
        recipes::dns_udp_flow(
            &endpoints(&CLEO, 52002, "10.45.0.53:53", at(21, 35, 0)),
            0x4c1e,
            "www.pornhub.com",
            rtype::A,
            &pornhub,
        )?,
        // Dan: strict profile, unknown names blocked.
        recipes::opaque_tcp_flow(
            &endpoints(&DAN, 53001, "198.51.100.77:5000", at(20, 0, 0)),
            r,
            120,
            300,
        )?,
        tls(
            r,
            &endpoints(&DAN, 53002, "185.15.58.224:443", at(20, 5, 0)),
            "www.wikipedia.org",
        )?,
        // A line the policy does not list: the default profile.
        tls(
            r,
            &endpoints(&GUEST, 54001, "66.254.114.41:443", at(20, 10, 0)),
            "www.pornhub.com",
        )?,
        tls(
            r,
            &endpoints(&GUEST, 54002, "5.226.176.1:443", at(20, 15, 0)),
            "www.bet365.com",
        )?,
    ])
}
