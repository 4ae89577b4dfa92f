//! TLS payload builders: a realistic TLS 1.3 ClientHello (RFC 8446 section 4.1.2) with SNI
//! (RFC 6066), ALPN (RFC 7301), supported_versions, key_share (optionally the ~1.2 KB
//! X25519MLKEM768 share that makes a hello span several TCP segments), GREASE (RFC 8701),
//! optionally cut into several TLS records (RFC 8446 section 5.1); and a server flight
//! (ServerHello, ChangeCipherSpec, application_data records of filler bytes).
//!
//! Nothing here is a working TLS implementation: key shares and encrypted records are random.

use crate::rng::Rng;

/// TLS record content types.
pub mod content_type {
    /// change_cipher_spec.
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    /// handshake.
    pub const HANDSHAKE: u8 = 22;
    /// application_data.
    pub const APPLICATION_DATA: u8 = 23;
}

/// Extension types used in the hello.
mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const STATUS_REQUEST: u16 = 5;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ALPN: u16 = 16;
    pub const SCT: u16 = 18;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const COMPRESS_CERTIFICATE: u16 = 27;
    pub const SESSION_TICKET: u16 = 35;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const KEY_SHARE: u16 = 51;
    pub const QUIC_TRANSPORT_PARAMETERS: u16 = 57;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// Named groups.
pub mod group {
    /// X25519.
    pub const X25519: u16 = 0x001d;
    /// secp256r1.
    pub const SECP256R1: u16 = 0x0017;
    /// secp384r1.
    pub const SECP384R1: u16 = 0x0018;
    /// X25519MLKEM768 (hybrid post-quantum).
    pub const X25519_MLKEM768: u16 = 0x11ec;
}

/// Client key share length of X25519MLKEM768 (ML-KEM-768 encapsulation key + X25519).
pub const MLKEM768_X25519_CLIENT_SHARE_LEN: usize = 1184 + 32;
/// Server key share length of X25519MLKEM768 (ML-KEM-768 ciphertext + X25519).
pub const MLKEM768_X25519_SERVER_SHARE_LEN: usize = 1088 + 32;

/// Handshake message types.
mod handshake_type {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
}

const TLS12: u16 = 0x0303;
const TLS13: u16 = 0x0304;
/// Record-layer version of a first ClientHello record (RFC 8446 section 5.1).
const RECORD_VERSION_HELLO: u16 = 0x0301;
/// Largest record plaintext (RFC 8446 section 5.1).
pub const MAX_RECORD_PAYLOAD: usize = 16384;

const TLS13_SUITES: [u16; 3] = [0x1301, 0x1302, 0x1303];
const TLS12_SUITES: [u16; 12] = [
    0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
];
const SIGNATURE_ALGORITHMS: [u16; 8] = [
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];

/// A ClientHello to build. Fields are public so a synthesizer can vary any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// server_name (host_name), or none.
    pub sni: Option<String>,
    /// ALPN protocol names, in preference order (none: no extension).
    pub alpn: Vec<String>,
    /// Whether GREASE values are sprinkled in (cipher suites, extensions, groups, versions).
    pub grease: bool,
    /// Whether an X25519MLKEM768 key share is offered before the X25519 one.
    pub post_quantum: bool,
    /// quic_transport_parameters extension body (a QUIC hello); also drops TLS 1.2 offers.
    pub quic_transport_parameters: Option<Vec<u8>>,
    /// ClientHello.random.
    pub random: [u8; 32],
    /// legacy_session_id (32 bytes over TCP, empty in QUIC).
    pub session_id: Vec<u8>,
    /// The X25519 key share.
    pub x25519_share: [u8; 32],
    /// The X25519MLKEM768 key share (used when `post_quantum`).
    pub pq_share: Vec<u8>,
    /// GREASE values: cipher suite, first extension, group, version, last extension.
    pub grease_values: [u16; 5],
}

impl ClientHello {
    /// A browser-like hello for `sni` offering h2 and http/1.1, with GREASE, filler drawn
    /// from `rng`.
    pub fn browser(rng: &mut Rng, sni: Option<&str>) -> Self {
        let mut grease_values = [0u16; 5];
        for g in &mut grease_values {
            let n = (rng.next_u32() % 16) as u16;
            *g = (n << 12) | (n << 4) | 0x0a0a;
        }
        // Two GREASE extensions must differ (RFC 8701 section 3.1).
        if grease_values[4] == grease_values[1] {
            grease_values[4] ^= 0x1010;
        }
        ClientHello {
            sni: sni.map(str::to_owned),
            alpn: vec!["h2".to_owned(), "http/1.1".to_owned()],
            grease: true,
            post_quantum: false,
            quic_transport_parameters: None,
            random: rng.array(),
            session_id: rng.bytes(32),
            x25519_share: rng.array(),
            pq_share: rng.bytes(MLKEM768_X25519_CLIENT_SHARE_LEN),
            grease_values,
        }
    }

    /// Sets the ALPN list.
    pub fn with_alpn(mut self, alpn: &[&str]) -> Self {
        self.alpn = alpn.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Turns the post-quantum key share on or off.
    pub fn with_post_quantum(mut self, on: bool) -> Self {
        self.post_quantum = on;
        self
    }

    /// Turns GREASE on or off.
    pub fn with_grease(mut self, on: bool) -> Self {
        self.grease = on;
        self
    }

    /// Makes it a QUIC hello: transport parameters, no session id, TLS 1.3 only.
    pub fn for_quic(mut self, transport_parameters: Vec<u8>) -> Self {
        self.quic_transport_parameters = Some(transport_parameters);
        self.session_id.clear();
        self
    }

    /// The Handshake message (type, 24-bit length, body): what a QUIC CRYPTO frame carries.
    pub fn handshake_message(&self) -> Vec<u8> {
        let quic = self.quic_transport_parameters.is_some();
        let mut body = Vec::with_capacity(2048);
        put_u16(&mut body, TLS12);
        body.extend_from_slice(&self.random);
        put_vec8(&mut body, &self.session_id);

        let mut suites = Vec::new();
        if self.grease {
            put_u16(&mut suites, self.grease_values[0]);
        }
        for s in TLS13_SUITES {
            put_u16(&mut suites, s);
        }
        if !quic {
            for s in TLS12_SUITES {
                put_u16(&mut suites, s);
            }
        }
        put_vec16(&mut body, &suites);
        put_vec8(&mut body, &[0]); // null compression

        let mut exts = Vec::with_capacity(2048);
        if self.grease {
            put_ext(&mut exts, self.grease_values[1], &[]);
        }
        if let Some(name) = &self.sni {
            let mut entry = vec![0u8]; // host_name
            put_vec16(&mut entry, name.as_bytes());
            let mut list = Vec::new();
            put_vec16(&mut list, &entry);
            put_ext(&mut exts, ext::SERVER_NAME, &list);
        }
        if !quic {
            put_ext(&mut exts, ext::EXTENDED_MASTER_SECRET, &[]);
            put_ext(&mut exts, ext::RENEGOTIATION_INFO, &[0]);
        }
        let mut groups = Vec::new();
        if self.grease {
            put_u16(&mut groups, self.grease_values[2]);
        }
        if self.post_quantum {
            put_u16(&mut groups, group::X25519_MLKEM768);
        }
        for g in [group::X25519, group::SECP256R1, group::SECP384R1] {
            put_u16(&mut groups, g);
        }
        let mut v = Vec::new();
        put_vec16(&mut v, &groups);
        put_ext(&mut exts, ext::SUPPORTED_GROUPS, &v);
        if !quic {
            put_ext(&mut exts, ext::EC_POINT_FORMATS, &[1, 0]);
            put_ext(&mut exts, ext::SESSION_TICKET, &[]);
        }
        if !self.alpn.is_empty() {
            let mut list = Vec::new();
            for p in &self.alpn {
                put_vec8(&mut list, p.as_bytes());
            }
            let mut v = Vec::new();
            put_vec16(&mut v, &list);
            put_ext(&mut exts, ext::ALPN, &v);
        }
        put_ext(&mut exts, ext::STATUS_REQUEST, &[1, 0, 0, 0, 0]);
        let mut sigs = Vec::new();
        for s in SIGNATURE_ALGORITHMS {
            put_u16(&mut sigs, s);
        }
        let mut v = Vec::new();
        put_vec16(&mut v, &sigs);
        put_ext(&mut exts, ext::SIGNATURE_ALGORITHMS, &v);
        put_ext(&mut exts, ext::SCT, &[]);
        let mut shares = Vec::new();
        if self.grease {
            put_u16(&mut shares, self.grease_values[2]);
            put_vec16(&mut shares, &[0]);
        }
        if self.post_quantum {
            put_u16(&mut shares, group::X25519_MLKEM768);
            put_vec16(&mut shares, &self.pq_share);
        }
        put_u16(&mut shares, group::X25519);
        put_vec16(&mut shares, &self.x25519_share);
        let mut v = Vec::new();
        put_vec16(&mut v, &shares);
        put_ext(&mut exts, ext::KEY_SHARE, &v);
        put_ext(&mut exts, ext::PSK_KEY_EXCHANGE_MODES, &[1, 1]);
        let mut versions = Vec::new();
        if self.grease {
            put_u16(&mut versions, self.grease_values[3]);
        }
        put_u16(&mut versions, TLS13);
        if !quic {
            put_u16(&mut versions, TLS12);
        }
        let mut v = Vec::new();
        put_vec8(&mut v, &versions);
        put_ext(&mut exts, ext::SUPPORTED_VERSIONS, &v);
        put_ext(&mut exts, ext::COMPRESS_CERTIFICATE, &[2, 0, 2]);
        if let Some(tp) = &self.quic_transport_parameters {
            put_ext(&mut exts, ext::QUIC_TRANSPORT_PARAMETERS, tp);
        }
        if self.grease {
            put_ext(&mut exts, self.grease_values[4], &[0]);
        }
        put_vec16(&mut body, &exts);
        handshake(handshake_type::CLIENT_HELLO, &body)
    }

    /// The hello in `n_records` handshake records of nearly equal size (at least one, and
    /// as many more as the 16 KB record limit needs).
    pub fn to_records(&self, n_records: usize) -> Vec<u8> {
        records(
            content_type::HANDSHAKE,
            RECORD_VERSION_HELLO,
            &self.handshake_message(),
            n_records,
        )
    }
}

/// Wraps `payload` in `n` records (or more when the 16 KB limit needs) of `content_type`.
pub fn records(content_type: u8, version: u16, payload: &[u8], n: usize) -> Vec<u8> {
    let n = n.max(payload.len().div_ceil(MAX_RECORD_PAYLOAD)).max(1);
    let mut out = Vec::with_capacity(payload.len() + 5 * n);
    let mut start = 0;
    for i in 1..=n {
        let end = payload.len() * i / n;
        let chunk = payload.get(start..end).unwrap_or(&[]);
        out.push(content_type);
        put_u16(&mut out, version);
        put_vec16(&mut out, chunk);
        start = end;
    }
    out
}

/// A ServerHello handshake message (TLS 1.3, TLS_AES_128_GCM_SHA256, an X25519 share, or an
/// X25519MLKEM768 one when the client offered it), echoing the client's session id.
pub fn server_hello_message(rng: &mut Rng, hello: &ClientHello) -> Vec<u8> {
    let mut body = Vec::with_capacity(200);
    put_u16(&mut body, TLS12);
    body.extend_from_slice(&rng.array::<32>());
    put_vec8(&mut body, &hello.session_id);
    put_u16(&mut body, TLS13_SUITES[0]);
    body.push(0);
    let mut exts = Vec::new();
    put_ext(&mut exts, ext::SUPPORTED_VERSIONS, &TLS13.to_be_bytes());
    let mut share = Vec::new();
    if hello.post_quantum {
        put_u16(&mut share, group::X25519_MLKEM768);
        put_vec16(&mut share, &rng.bytes(MLKEM768_X25519_SERVER_SHARE_LEN));
    } else {
        put_u16(&mut share, group::X25519);
        put_vec16(&mut share, &rng.bytes(32));
    }
    put_ext(&mut exts, ext::KEY_SHARE, &share);
    put_vec16(&mut body, &exts);
    handshake(handshake_type::SERVER_HELLO, &body)
}

/// The server's first flight over TCP: a ServerHello record, a ChangeCipherSpec record, and
/// application_data records of the given lengths holding random bytes (encrypted extensions,
/// certificate, finished...).
pub fn server_flight(rng: &mut Rng, hello: &ClientHello, app_data_lens: &[usize]) -> Vec<u8> {
    let mut out = records(
        content_type::HANDSHAKE,
        TLS12,
        &server_hello_message(rng, hello),
        1,
    );
    out.extend_from_slice(&[
        content_type::CHANGE_CIPHER_SPEC,
        0x03,
        0x03,
        0x00,
        0x01,
        0x01,
    ]);
    out.extend_from_slice(&application_data(rng, app_data_lens));
    out
}

/// application_data records of random bytes, one per length.
pub fn application_data(rng: &mut Rng, lens: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for &len in lens {
        out.extend_from_slice(&records(
            content_type::APPLICATION_DATA,
            TLS12,
            &rng.bytes(len),
            1,
        ));
    }
    out
}

/// The client's second flight: ChangeCipherSpec and an application_data record (Finished).
pub fn client_finished(rng: &mut Rng) -> Vec<u8> {
    let mut out = vec![
        content_type::CHANGE_CIPHER_SPEC,
        0x03,
        0x03,
        0x00,
        0x01,
        0x01,
    ];
    out.extend_from_slice(&application_data(rng, &[53]));
    out
}

fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(msg_type);
    let len = body.len() as u32; // bodies here are far below 2^24
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_vec8(out: &mut Vec<u8>, v: &[u8]) {
    out.push(v.len() as u8); // callers pass < 256 bytes
    out.extend_from_slice(v);
}

fn put_vec16(out: &mut Vec<u8>, v: &[u8]) {
    put_u16(out, v.len() as u16); // callers pass < 64 KB
    out.extend_from_slice(v);
}

fn put_ext(out: &mut Vec<u8>, ext_type: u16, body: &[u8]) {
    put_u16(out, ext_type);
    put_vec16(out, body);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the extensions of a ClientHello handshake message; returns (type, body) pairs.
    fn extensions(msg: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let be16 = |b: &[u8], at: usize| usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
        assert_eq!(msg[0], 1);
        let len = (usize::from(msg[1]) << 16) | be16(msg, 2);
        assert_eq!(len + 4, msg.len());
        let mut at = 4 + 2 + 32;
        at += 1 + usize::from(msg[at]);
        at += 2 + be16(msg, at);
        at += 1 + usize::from(msg[at]);
        let end = at + 2 + be16(msg, at);
        assert_eq!(end, msg.len());
        at += 2;
        let mut out = Vec::new();
        while at < end {
            let t = be16(msg, at) as u16;
            let l = be16(msg, at + 2);
            out.push((t, msg[at + 4..at + 4 + l].to_vec()));
            at += 4 + l;
        }
        assert_eq!(at, end);
        out
    }

    #[test]
    fn hello_carries_sni_alpn_versions_and_grease() {
        let mut rng = Rng::new(1);
        let h = ClientHello::browser(&mut rng, Some("www.example.com"));
        let exts = extensions(&h.handshake_message());
        let sni = exts.iter().find(|(t, _)| *t == ext::SERVER_NAME).unwrap();
        assert_eq!(&sni.1[5..], b"www.example.com");
        let alpn = exts.iter().find(|(t, _)| *t == ext::ALPN).unwrap();
        assert_eq!(alpn.1, b"\x00\x0c\x02h2\x08http/1.1");
        assert!(exts
            .iter()
            .any(|(t, b)| *t == ext::SUPPORTED_VERSIONS && b.windows(2).any(|w| w == [3, 4])));
        assert_eq!(exts.first().unwrap().0 & 0x0f0f, 0x0a0a);
        assert_eq!(exts.last().unwrap().0 & 0x0f0f, 0x0a0a);
    }

    #[test]
    fn post_quantum_hello_is_longer_than_two_segments_and_splits_into_records() {
        let mut rng = Rng::new(2);
        let h = ClientHello::browser(&mut rng, Some("pq.example.org")).with_post_quantum(true);
        let msg = h.handshake_message();
        assert!(msg.len() > 1500, "hello is {} bytes", msg.len());
        let exts = extensions(&msg);
        let ks = exts.iter().find(|(t, _)| *t == ext::KEY_SHARE).unwrap();
        assert!(ks.1.windows(4).any(|w| w == [0x11, 0xec, 0x04, 0xc0])); // 1216 bytes
        let recs = h.to_records(3);
        // Three records whose payloads concatenate to the message.
        let mut at = 0;
        let mut joined = Vec::new();
        let mut count = 0;
        while at < recs.len() {
            assert_eq!(recs[at], 22);
            let l = usize::from(u16::from_be_bytes([recs[at + 3], recs[at + 4]]));
            joined.extend_from_slice(&recs[at + 5..at + 5 + l]);
            at += 5 + l;
            count += 1;
        }
        assert_eq!(count, 3);
        assert_eq!(joined, msg);
    }

    #[test]
    fn hello_without_sni_has_no_server_name_extension() {
        let mut rng = Rng::new(3);
        let h = ClientHello::browser(&mut rng, None)
            .with_alpn(&[])
            .with_grease(false);
        let exts = extensions(&h.handshake_message());
        assert!(!exts
            .iter()
            .any(|(t, _)| *t == ext::SERVER_NAME || *t == ext::ALPN));
    }

    #[test]
    fn server_flight_starts_with_server_hello_record() {
        let mut rng = Rng::new(4);
        let h = ClientHello::browser(&mut rng, Some("a.example"));
        let f = server_flight(&mut rng, &h, &[100, 200]);
        assert_eq!(&f[0..3], &[22, 3, 3]);
        assert_eq!(f[5], 2);
        let sh_len = 5 + usize::from(u16::from_be_bytes([f[3], f[4]]));
        assert_eq!(&f[sh_len..sh_len + 6], &[20, 3, 3, 0, 1, 1]);
        assert_eq!(f.len(), sh_len + 6 + 105 + 205);
    }
}
