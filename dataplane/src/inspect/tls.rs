//! TLS ClientHello: server name (SNI) and ALPN protocols.
//!
//! Follows RFC 8446 §5.1 (record layer), §4.1.2 (ClientHello), RFC 6066 §3 (server_name) and
//! RFC 7301 §3.1 (application_layer_protocol_negotiation). Two entry points:
//! [`parse_client_hello_records`] for the start of a TCP stream, where the hello may span several
//! handshake records (post-quantum key shares make it larger than one packet, and some clients
//! cut it into small records), and [`parse_client_hello_handshake`] for a bare handshake message
//! (QUIC CRYPTO data).
//!
//! The answer has three states: `Ok` with the hello's SNI (or `None` when it has none),
//! `Err(Incomplete)` for any valid prefix (feed more bytes), and a definite error otherwise.
//! A hello that fits its first record is parsed in place; only one that spans records is copied
//! into a buffer, bounded by [`MAX_HELLO_LEN`]. SSLv2-compatible hellos are not recognised
//! (`NotClientHello`). Nothing here decrypts or validates anything beyond the lengths.

use super::hostname::{host_name, BadName};
use std::sync::Arc;

/// What a ClientHello says about where it is going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The server_name extension's host_name, normalised (lower case, no trailing dot).
    pub sni: Option<Arc<str>>,
    /// ALPN protocol names in the client's order.
    pub alpn: Alpn,
}

/// ALPN protocol names in the client's order, held in one allocation (none when there are none):
/// the names joined by spaces, which a kept name never holds (only printable ASCII names are
/// kept).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Alpn(Option<Box<str>>);

impl Alpn {
    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.as_deref().into_iter().flat_map(|s| s.split(' '))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl Alpn {
    /// The names that are non-empty printable ASCII, at most [`MAX_ALPN`] of them, joined with
    /// one allocation of the exact size (hellos are many, and this is per hello).
    fn join<'a>(names: impl Iterator<Item = &'a [u8]> + Clone) -> Alpn {
        let kept = names
            .filter(|n| !n.is_empty() && n.iter().all(u8::is_ascii_graphic))
            .filter_map(|n| std::str::from_utf8(n).ok())
            .take(MAX_ALPN);
        let len = kept.clone().map(|n| n.len() + 1).sum::<usize>();
        if len == 0 {
            return Alpn(None);
        }
        let mut joined = String::with_capacity(len - 1);
        for name in kept {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(name);
        }
        Alpn(Some(joined.into_boxed_str()))
    }
}

impl<'a> FromIterator<&'a str> for Alpn {
    /// Keeps the names that are non-empty printable ASCII, at most [`MAX_ALPN`].
    fn from_iter<I: IntoIterator<Item = &'a str>>(names: I) -> Alpn {
        let names: Vec<&[u8]> = names.into_iter().map(str::as_bytes).collect();
        Alpn::join(names.into_iter())
    }
}

impl std::fmt::Debug for Alpn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The bytes so far are a valid beginning; feed more.
    #[error("incomplete ClientHello")]
    Incomplete,
    /// The bytes are not a TLS handshake record / ClientHello.
    #[error("not a TLS ClientHello")]
    NotClientHello,
    /// A ClientHello that breaks its own length rules; names the field.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
    /// A server name that is not a host name ([`super::hostname`]).
    #[error("bad server name: {0}")]
    BadName(BadName),
}

/// The largest ClientHello handshake message accepted (header included).
pub const MAX_HELLO_LEN: usize = 64 * 1024;

/// The largest TLSPlaintext fragment (RFC 8446 §5.1: 2^14).
const MAX_RECORD_PAYLOAD: usize = 1 << 14;

/// Record-layer header (RFC 8446 §5.1).
mod record {
    pub const CONTENT_TYPE: usize = 0;
    pub const VERSION_MAJOR: usize = 1;
    pub const VERSION_MINOR: usize = 2;
    pub const LENGTH: usize = 3;
    pub const HEADER_LEN: usize = 5;
    pub const TYPE_HANDSHAKE: u8 = 22;
}

/// Handshake message header (RFC 8446 §4).
mod handshake {
    pub const MSG_TYPE: usize = 0;
    pub const LENGTH: usize = 1;
    pub const HEADER_LEN: usize = 4;
    pub const TYPE_CLIENT_HELLO: u8 = 1;
}

/// Extension types used here.
mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const ALPN: u16 = 16;
    /// server_name NameType host_name (RFC 6066 §3).
    pub const NAME_TYPE_HOST_NAME: u8 = 0;
}

/// ClientHello fixed-size fields.
const LEGACY_VERSION_LEN: usize = 2;
const RANDOM_LEN: usize = 32;
const MAX_SESSION_ID_LEN: usize = 32;
/// ALPN protocols kept from one hello; the rest are ignored.
const MAX_ALPN: usize = 16;

/// Parses a ClientHello from the start of a TLS stream (record layer), which may span several
/// records and therefore several TCP segments.
pub fn parse_client_hello_records(stream: &[u8]) -> Result<ClientHello, TlsError> {
    // First pass: walk the record headers, learn the handshake message length from its first
    // four payload bytes (which may themselves be split across records), and find whether the
    // whole message is present.
    let mut pos = 0usize;
    let mut first_payload: &[u8] = &[];
    let mut header = [0u8; handshake::HEADER_LEN];
    let mut header_have = 0usize;
    let mut msg_len: Option<usize> = None;
    let mut seen = 0usize;
    let mut index = 0usize;
    loop {
        let rest = stream.get(pos..).unwrap_or(&[]);
        let len = check_record_header(rest, index == 0)?;
        let end = record::HEADER_LEN.saturating_add(len).min(rest.len());
        let payload = rest.get(record::HEADER_LEN..end).unwrap_or(&[]);
        if index == 0 {
            first_payload = payload;
        }
        for &b in payload.iter().take(handshake::HEADER_LEN - header_have) {
            if let Some(slot) = header.get_mut(header_have) {
                *slot = b;
                header_have += 1;
            }
        }
        if header_have > handshake::MSG_TYPE
            && header[handshake::MSG_TYPE] != handshake::TYPE_CLIENT_HELLO
        {
            return Err(TlsError::NotClientHello);
        }
        if msg_len.is_none() && header_have == handshake::HEADER_LEN {
            msg_len = Some(message_len(&header)?);
        }
        seen = seen.saturating_add(payload.len());
        if let Some(need) = msg_len {
            if seen >= need {
                break;
            }
        }
        if payload.len() < len {
            return Err(TlsError::Incomplete);
        }
        pos = pos.saturating_add(record::HEADER_LEN).saturating_add(len);
        index += 1;
    }
    let need = msg_len.ok_or(TlsError::Incomplete)?;
    if index == 0 {
        // The common case: the message lies inside the first record.
        return parse_client_hello_handshake(first_payload);
    }
    // Second pass: the message spans records; gather its bytes.
    let mut msg = Vec::with_capacity(need);
    let mut pos = 0usize;
    while msg.len() < need {
        let rest = stream.get(pos..).unwrap_or(&[]);
        let len = check_record_header(rest, pos == 0)?;
        let end = record::HEADER_LEN.saturating_add(len).min(rest.len());
        let payload = rest.get(record::HEADER_LEN..end).unwrap_or(&[]);
        let take = payload.len().min(need - msg.len());
        msg.extend_from_slice(payload.get(..take).unwrap_or(&[]));
        if payload.is_empty() {
            // Cannot happen after the first pass; guards against looping forever.
            return Err(TlsError::Incomplete);
        }
        pos = pos.saturating_add(record::HEADER_LEN).saturating_add(len);
    }
    parse_client_hello_handshake(&msg)
}

/// Checks the record header at the start of `rest` (as much of it as is there) and returns the
/// record's payload length. The first record decides whether this is TLS at all; a later one
/// that is not a handshake record breaks the hello.
fn check_record_header(rest: &[u8], first: bool) -> Result<usize, TlsError> {
    let bad = if first {
        TlsError::NotClientHello
    } else {
        TlsError::Malformed("record header")
    };
    if rest
        .get(record::CONTENT_TYPE)
        .is_some_and(|&t| t != record::TYPE_HANDSHAKE)
    {
        return Err(bad);
    }
    if rest.get(record::VERSION_MAJOR).is_some_and(|&v| v != 3) {
        return Err(bad);
    }
    if rest.get(record::VERSION_MINOR).is_some_and(|&v| v > 4) {
        return Err(bad);
    }
    let len = match (rest.get(record::LENGTH), rest.get(record::LENGTH + 1)) {
        (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])),
        _ => return Err(TlsError::Incomplete),
    };
    if len == 0 || len > MAX_RECORD_PAYLOAD {
        return Err(TlsError::Malformed("record length"));
    }
    Ok(len)
}

/// The whole handshake message length (header included) from its header.
fn message_len(header: &[u8; handshake::HEADER_LEN]) -> Result<usize, TlsError> {
    let body = header
        .iter()
        .skip(handshake::LENGTH)
        .fold(0usize, |n, &b| n << 8 | usize::from(b));
    let total = body + handshake::HEADER_LEN;
    if total > MAX_HELLO_LEN {
        return Err(TlsError::Malformed("handshake length"));
    }
    Ok(total)
}

/// Parses a ClientHello handshake message without record layer (QUIC CRYPTO data).
pub fn parse_client_hello_handshake(msg: &[u8]) -> Result<ClientHello, TlsError> {
    match msg.get(handshake::MSG_TYPE) {
        None => return Err(TlsError::Incomplete),
        Some(&handshake::TYPE_CLIENT_HELLO) => {}
        Some(_) => return Err(TlsError::NotClientHello),
    }
    let header: [u8; handshake::HEADER_LEN] = msg
        .get(..handshake::HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(TlsError::Incomplete)?;
    let total = message_len(&header)?;
    let body = msg
        .get(handshake::HEADER_LEN..total)
        .ok_or(TlsError::Incomplete)?;
    parse_body(body)
}

/// A cursor over a complete structure: any short read is a `Malformed` naming the field.
#[derive(Clone)]
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], TlsError> {
        if n > self.buf.len() {
            return Err(TlsError::Malformed(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, TlsError> {
        let b = self.take(1, field)?;
        b.first().copied().ok_or(TlsError::Malformed(field))
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, TlsError> {
        match *self.take(2, field)? {
            [hi, lo] => Ok(u16::from_be_bytes([hi, lo])),
            _ => Err(TlsError::Malformed(field)),
        }
    }

    /// A vector with a one-byte length prefix.
    fn vec8(&mut self, field: &'static str) -> Result<&'a [u8], TlsError> {
        let n = self.u8(field)?;
        self.take(usize::from(n), field)
    }

    /// A vector with a two-byte length prefix.
    fn vec16(&mut self, field: &'static str) -> Result<&'a [u8], TlsError> {
        let n = self.u16(field)?;
        self.take(usize::from(n), field)
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Parses a complete ClientHello body (after the handshake header).
fn parse_body(body: &[u8]) -> Result<ClientHello, TlsError> {
    let mut r = Reader { buf: body };
    let version = r.take(LEGACY_VERSION_LEN, "legacy_version")?;
    if version.first() != Some(&3) {
        return Err(TlsError::Malformed("legacy_version"));
    }
    r.take(RANDOM_LEN, "random")?;
    if r.vec8("session_id")?.len() > MAX_SESSION_ID_LEN {
        return Err(TlsError::Malformed("session_id"));
    }
    let suites = r.vec16("cipher_suites")?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err(TlsError::Malformed("cipher_suites"));
    }
    if r.vec8("compression_methods")?.is_empty() {
        return Err(TlsError::Malformed("compression_methods"));
    }
    let mut hello = ClientHello::default();
    if r.is_empty() {
        // A hello without extensions (TLS 1.2 and older may omit them).
        return Ok(hello);
    }
    let mut exts = Reader {
        buf: r.vec16("extensions")?,
    };
    if !r.is_empty() {
        return Err(TlsError::Malformed("extensions"));
    }
    let mut sni_seen = false;
    let mut alpn_seen = false;
    while !exts.is_empty() {
        let kind = exts.u16("extension")?;
        let data = exts.vec16("extension")?;
        match kind {
            ext::SERVER_NAME if !sni_seen => {
                sni_seen = true;
                hello.sni = parse_server_name(data)?;
            }
            ext::ALPN if !alpn_seen => {
                alpn_seen = true;
                hello.alpn = parse_alpn(data)?;
            }
            _ => {}
        }
    }
    Ok(hello)
}

/// The first host_name of a server_name extension (RFC 6066 §3), normalised; `None` if there
/// is no host_name entry, `BadName` if it is not a host name.
fn parse_server_name(data: &[u8]) -> Result<Option<Arc<str>>, TlsError> {
    let mut outer = Reader { buf: data };
    let list = outer.vec16("server_name")?;
    if !outer.is_empty() || list.is_empty() {
        return Err(TlsError::Malformed("server_name"));
    }
    let mut r = Reader { buf: list };
    let mut found = None;
    while !r.is_empty() {
        let kind = r.u8("server_name")?;
        let name = r.vec16("server_name")?;
        if kind == ext::NAME_TYPE_HOST_NAME && found.is_none() {
            found = Some(host_name(name).map_err(TlsError::BadName)?);
        }
    }
    Ok(found)
}

/// ALPN protocol names (RFC 7301 §3.1) in order. Names that are not printable ASCII (binary or
/// GREASE-like values) are skipped; case is kept, as protocol ids are exact byte strings.
fn parse_alpn(data: &[u8]) -> Result<Alpn, TlsError> {
    let mut outer = Reader { buf: data };
    let list = outer.vec16("alpn")?;
    if !outer.is_empty() || list.is_empty() {
        return Err(TlsError::Malformed("alpn"));
    }
    // Checked whole first, then kept without a copy per name.
    let mut r = Reader { buf: list };
    while !r.is_empty() {
        if r.vec8("alpn")?.is_empty() {
            return Err(TlsError::Malformed("alpn"));
        }
    }
    let mut r = Reader { buf: list };
    Ok(Alpn::join(std::iter::from_fn(move || r.vec8("alpn").ok())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn alpn_keeps_printable_names_in_order_in_one_string() {
        let a: Alpn = ["h2", "", "bad name", "http/1.1"].into_iter().collect();
        assert_eq!(a.iter().collect::<Vec<_>>(), ["h2", "http/1.1"]);
        assert_eq!(format!("{a:?}"), r#"["h2", "http/1.1"]"#);
        assert!(!a.is_empty());
        let none: Alpn = ["", "a b"].into_iter().collect();
        assert!(none.is_empty() && none.iter().next().is_none());
        assert_eq!(none, Alpn::default());
    }

    const GREASE: u16 = 0x0a0a;
    const X25519MLKEM768: u16 = 0x11ec;
    const X25519: u16 = 0x001d;
    const X25519MLKEM768_SHARE_LEN: usize = 1216;

    fn put_u16(out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&v.to_be_bytes());
    }

    fn vec16(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_u16(&mut out, u16::try_from(body.len()).expect("vec16 fits"));
        out.extend_from_slice(body);
        out
    }

    fn vec8(body: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::try_from(body.len()).expect("vec8 fits")];
        out.extend_from_slice(body);
        out
    }

    fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_u16(&mut out, kind);
        out.extend_from_slice(&vec16(data));
        out
    }

    /// What a test hello carries.
    pub(crate) struct HelloSpec<'a> {
        pub sni: Option<&'a [u8]>,
        pub alpn: &'a [&'a [u8]],
        /// Adds an X25519MLKEM768 key share (1216 bytes), as Chrome and Firefox send.
        pub post_quantum: bool,
    }

    impl Default for HelloSpec<'_> {
        fn default() -> Self {
            HelloSpec {
                sni: Some(b"www.Example.COM"),
                alpn: &[b"h2", b"http/1.1"],
                post_quantum: false,
            }
        }
    }

    /// The extensions block (without its length) of a browser-like hello.
    fn extensions(spec: &HelloSpec) -> Vec<u8> {
        let mut exts = extension(GREASE, &[]);
        if let Some(name) = spec.sni {
            let mut entry = vec![ext::NAME_TYPE_HOST_NAME];
            entry.extend_from_slice(&vec16(name));
            exts.extend(extension(ext::SERVER_NAME, &vec16(&entry)));
        }
        exts.extend(extension(23, &[])); // extended_master_secret
        let mut groups = Vec::new();
        for g in [GREASE, X25519MLKEM768, X25519, 0x0017] {
            put_u16(&mut groups, g);
        }
        exts.extend(extension(10, &vec16(&groups))); // supported_groups
        if !spec.alpn.is_empty() {
            let mut list = Vec::new();
            for p in spec.alpn {
                list.extend(vec8(p));
            }
            exts.extend(extension(ext::ALPN, &vec16(&list)));
        }
        let mut versions = Vec::new();
        for v in [GREASE, 0x0304, 0x0303] {
            put_u16(&mut versions, v);
        }
        exts.extend(extension(43, &vec8(&versions))); // supported_versions
        let mut shares = Vec::new();
        put_u16(&mut shares, GREASE);
        shares.extend(vec16(&[0]));
        if spec.post_quantum {
            put_u16(&mut shares, X25519MLKEM768);
            let key: Vec<u8> = (0..X25519MLKEM768_SHARE_LEN).map(|i| i as u8).collect();
            shares.extend(vec16(&key));
        }
        put_u16(&mut shares, X25519);
        shares.extend(vec16(&[0x42; 32]));
        exts.extend(extension(51, &vec16(&shares))); // key_share
        exts.extend(extension(11, &vec8(&[0]))); // ec_point_formats
        exts.extend(extension(35, &[])); // session_ticket
        exts.extend(extension(5, &[1, 0, 0, 0, 0])); // status_request
        let mut algs = Vec::new();
        for a in [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ] {
            put_u16(&mut algs, a);
        }
        exts.extend(extension(13, &vec16(&algs))); // signature_algorithms
        exts.extend(extension(45, &vec8(&[1]))); // psk_key_exchange_modes
        exts.extend(extension(0xff01, &[0])); // renegotiation_info
                                              // A GREASE encrypted_client_hello, as Chrome sends: outer type, suite, id, enc, payload.
        let mut ech = vec![0, 0, 1, 0, 1, 0x7b];
        ech.extend(vec16(&[0x33; 32]));
        ech.extend(vec16(&[0x44; 208]));
        exts.extend(extension(0xfe0d, &ech));
        exts.extend(extension(GREASE + 0x1010, &[0]));
        exts
    }

    /// A ClientHello body from raw parts (each already length-prefixed as on the wire).
    fn body_from_parts(
        session_id: &[u8],
        suites: &[u8],
        compression: &[u8],
        exts: &[u8],
    ) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0x5a; RANDOM_LEN]);
        body.extend_from_slice(session_id);
        body.extend_from_slice(suites);
        body.extend_from_slice(compression);
        body.extend_from_slice(exts);
        body
    }

    fn standard_suites() -> Vec<u8> {
        let mut suites = Vec::new();
        for s in [GREASE, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f] {
            put_u16(&mut suites, s);
        }
        vec16(&suites)
    }

    /// Wraps a body in a handshake header (type ClientHello).
    fn handshake_msg(body: &[u8]) -> Vec<u8> {
        let n = u32::try_from(body.len()).expect("fits");
        let mut msg = vec![handshake::TYPE_CLIENT_HELLO];
        msg.extend_from_slice(&n.to_be_bytes()[1..]);
        msg.extend_from_slice(body);
        msg
    }

    /// A complete browser-like ClientHello handshake message.
    pub(crate) fn client_hello(spec: &HelloSpec) -> Vec<u8> {
        let body = body_from_parts(
            &vec8(&[0x11; 32]),
            &standard_suites(),
            &vec8(&[0]),
            &vec16(&extensions(spec)),
        );
        handshake_msg(&body)
    }

    /// Cuts a handshake message into handshake records of at most `max` payload bytes.
    fn records(msg: &[u8], max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in msg.chunks(max) {
            out.extend_from_slice(&[record::TYPE_HANDSHAKE, 3, 1]);
            out.extend(vec16(chunk));
        }
        out
    }

    fn expected(sni: Option<&str>) -> ClientHello {
        ClientHello {
            sni: sni.map(Arc::from),
            alpn: ["h2", "http/1.1"].into_iter().collect(),
        }
    }

    /// Every proper prefix is Incomplete; the whole gives `want`.
    fn assert_prefixes(
        bytes: &[u8],
        parse: fn(&[u8]) -> Result<ClientHello, TlsError>,
        want: &ClientHello,
    ) {
        for n in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..n]),
                Err(TlsError::Incomplete),
                "prefix of {n} bytes"
            );
        }
        assert_eq!(parse(bytes).as_ref(), Ok(want));
    }

    #[test]
    fn single_record_hello_gives_sni_and_alpn() {
        let stream = records(&client_hello(&HelloSpec::default()), MAX_RECORD_PAYLOAD);
        assert_eq!(
            parse_client_hello_records(&stream),
            Ok(expected(Some("www.example.com")))
        );
    }

    #[test]
    fn every_prefix_of_records_is_incomplete_then_same_answer() {
        let stream = records(&client_hello(&HelloSpec::default()), MAX_RECORD_PAYLOAD);
        assert_prefixes(
            &stream,
            parse_client_hello_records,
            &expected(Some("www.example.com")),
        );
    }

    #[test]
    fn every_prefix_of_handshake_is_incomplete_then_same_answer() {
        let msg = client_hello(&HelloSpec::default());
        assert_prefixes(
            &msg,
            parse_client_hello_handshake,
            &expected(Some("www.example.com")),
        );
    }

    #[test]
    fn hello_spanning_three_records() {
        let msg = client_hello(&HelloSpec::default());
        let max = msg.len().div_ceil(3);
        let stream = records(&msg, max);
        assert_eq!(stream.len(), msg.len() + 3 * record::HEADER_LEN);
        assert_prefixes(
            &stream,
            parse_client_hello_records,
            &expected(Some("www.example.com")),
        );
    }

    #[test]
    fn handshake_header_split_across_tiny_records() {
        let msg = client_hello(&HelloSpec::default());
        let stream = records(&msg, 1);
        assert_eq!(
            parse_client_hello_records(&stream),
            Ok(expected(Some("www.example.com")))
        );
    }

    #[test]
    fn post_quantum_hello_larger_than_a_packet() {
        let spec = HelloSpec {
            post_quantum: true,
            ..HelloSpec::default()
        };
        let msg = client_hello(&spec);
        assert!(msg.len() > 1500, "hello is {} bytes", msg.len());
        let want = expected(Some("www.example.com"));
        assert_eq!(parse_client_hello_handshake(&msg).as_ref(), Ok(&want));
        // One record, cut into TCP segments, and the same hello over two records.
        assert_prefixes(
            &records(&msg, MAX_RECORD_PAYLOAD),
            parse_client_hello_records,
            &want,
        );
        assert_prefixes(&records(&msg, 1400), parse_client_hello_records, &want);
    }

    #[test]
    fn trailing_bytes_after_the_hello_are_ignored() {
        let mut stream = records(&client_hello(&HelloSpec::default()), 300);
        stream.extend_from_slice(&[20, 3, 3, 0, 1, 1]); // change_cipher_spec
        assert_eq!(
            parse_client_hello_records(&stream),
            Ok(expected(Some("www.example.com")))
        );
    }

    #[test]
    fn hello_without_sni_is_ok_with_none() {
        let spec = HelloSpec {
            sni: None,
            ..HelloSpec::default()
        };
        let stream = records(&client_hello(&spec), MAX_RECORD_PAYLOAD);
        assert_prefixes(&stream, parse_client_hello_records, &expected(None));
    }

    #[test]
    fn hello_without_extensions_is_ok() {
        let body = body_from_parts(&vec8(&[]), &standard_suites(), &vec8(&[0]), &[]);
        let msg = handshake_msg(&body);
        assert_eq!(
            parse_client_hello_handshake(&msg),
            Ok(ClientHello::default())
        );
    }

    #[test]
    fn sni_that_is_not_a_host_name_is_a_bad_name() {
        for (sni, why) in [
            (&b"bad name\x00"[..], BadName::BadByte(b' ')),
            (b"....", BadName::EmptyLabel),
            (b"", BadName::Empty),
        ] {
            let spec = HelloSpec {
                sni: Some(sni),
                ..HelloSpec::default()
            };
            assert_eq!(
                parse_client_hello_handshake(&client_hello(&spec)),
                Err(TlsError::BadName(why))
            );
        }
    }

    #[test]
    fn sni_trailing_dot_is_stripped() {
        let spec = HelloSpec {
            sni: Some(b"Mail.Example.org."),
            ..HelloSpec::default()
        };
        assert_eq!(
            parse_client_hello_handshake(&client_hello(&spec)).map(|h| h.sni),
            Ok(Some("mail.example.org".into()))
        );
    }

    #[test]
    fn binary_alpn_entries_are_skipped() {
        let spec = HelloSpec {
            alpn: &[b"\x0a\x0a", b"h3"],
            ..HelloSpec::default()
        };
        assert_eq!(
            parse_client_hello_handshake(&client_hello(&spec)).map(|h| h.alpn),
            Ok(["h3"].into_iter().collect())
        );
    }

    /// Offsets inside `client_hello(&HelloSpec::default())` (handshake form).
    const SESSION_ID_AT: usize = handshake::HEADER_LEN + LEGACY_VERSION_LEN + RANDOM_LEN;
    const SUITES_AT: usize = SESSION_ID_AT + 1 + 32;
    const COMPRESSION_AT: usize = SUITES_AT + 2 + 12;
    const EXTENSIONS_AT: usize = COMPRESSION_AT + 2;

    fn with_byte(msg: &[u8], at: usize, value: u8) -> Vec<u8> {
        let mut out = msg.to_vec();
        out[at] = value;
        out
    }

    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle present")
    }

    #[test]
    fn layout_offsets_match_the_builder() {
        let msg = client_hello(&HelloSpec::default());
        assert_eq!(msg[SESSION_ID_AT], 32);
        assert_eq!(&msg[SUITES_AT..SUITES_AT + 2], &[0, 12]);
        assert_eq!(&msg[COMPRESSION_AT..COMPRESSION_AT + 2], &[1, 0]);
        let ext_len = usize::from(u16::from_be_bytes([
            msg[EXTENSIONS_AT],
            msg[EXTENSIONS_AT + 1],
        ]));
        assert_eq!(EXTENSIONS_AT + 2 + ext_len, msg.len());
    }

    #[test]
    fn malformed_length_at_each_field_is_named() {
        let msg = client_hello(&HelloSpec::default());
        let malformed = |bytes: Vec<u8>| parse_client_hello_handshake(&bytes);
        assert_eq!(
            malformed(with_byte(&msg, handshake::HEADER_LEN, 2)),
            Err(TlsError::Malformed("legacy_version"))
        );
        assert_eq!(
            malformed(with_byte(&msg, SESSION_ID_AT, 33)),
            Err(TlsError::Malformed("session_id"))
        );
        assert_eq!(
            malformed(with_byte(&msg, SUITES_AT + 1, 11)),
            Err(TlsError::Malformed("cipher_suites"))
        );
        assert_eq!(
            malformed(with_byte(&msg, SUITES_AT, 0xff)),
            Err(TlsError::Malformed("cipher_suites"))
        );
        assert_eq!(
            malformed(with_byte(&msg, COMPRESSION_AT, 0)),
            Err(TlsError::Malformed("compression_methods"))
        );
        let ext_len = u16::from_be_bytes([msg[EXTENSIONS_AT], msg[EXTENSIONS_AT + 1]]);
        for wrong in [ext_len + 1, ext_len - 1] {
            let mut bytes = msg.clone();
            bytes[EXTENSIONS_AT..EXTENSIONS_AT + 2].copy_from_slice(&wrong.to_be_bytes());
            assert_eq!(malformed(bytes), Err(TlsError::Malformed("extensions")));
        }
        // The last extension (one data byte) claims two.
        assert_eq!(
            malformed(with_byte(&msg, msg.len() - 2, 2)),
            Err(TlsError::Malformed("extension"))
        );
        // The server_name extension: type 0, then its length, list length, entry.
        let sni_at = find(&msg, &[0, 0, 0, 20, 0, 18, 0, 0, 15]);
        assert_eq!(
            malformed(with_byte(&msg, sni_at + 5, 17)),
            Err(TlsError::Malformed("server_name"))
        );
        assert_eq!(
            malformed(with_byte(&msg, sni_at + 8, 16)),
            Err(TlsError::Malformed("server_name"))
        );
        // ALPN: type 16, length 14, list length 12, "h2" entry of length 2.
        let alpn_at = find(&msg, &[0, 16, 0, 14, 0, 12, 2]);
        assert_eq!(
            malformed(with_byte(&msg, alpn_at + 6, 0)),
            Err(TlsError::Malformed("alpn"))
        );
        assert_eq!(
            malformed(with_byte(&msg, alpn_at + 6, 12)),
            Err(TlsError::Malformed("alpn"))
        );
    }

    #[test]
    fn body_shorter_than_its_fields_is_malformed() {
        // A handshake length that ends the body inside the random.
        let msg = client_hello(&HelloSpec::default());
        let short = handshake_msg(&msg[handshake::HEADER_LEN..handshake::HEADER_LEN + 10]);
        assert_eq!(
            parse_client_hello_handshake(&short),
            Err(TlsError::Malformed("random"))
        );
    }

    #[test]
    fn bad_record_lengths_are_malformed() {
        let msg = client_hello(&HelloSpec::default());
        let mut stream = records(&msg, 200);
        stream[3] = 0;
        stream[4] = 0;
        assert_eq!(
            parse_client_hello_records(&stream),
            Err(TlsError::Malformed("record length"))
        );
        let mut stream = records(&msg, 200);
        stream[3] = 0x48; // 18432 > 2^14
        assert_eq!(
            parse_client_hello_records(&stream),
            Err(TlsError::Malformed("record length"))
        );
        // The second record is not a handshake record.
        let mut stream = records(&msg, 200);
        stream[record::HEADER_LEN + 200] = 23;
        assert_eq!(
            parse_client_hello_records(&stream),
            Err(TlsError::Malformed("record header"))
        );
    }

    #[test]
    fn oversized_handshake_length_is_malformed() {
        let stream = [22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x00];
        assert_eq!(
            parse_client_hello_records(&stream),
            Err(TlsError::Malformed("handshake length"))
        );
        assert_eq!(
            parse_client_hello_handshake(&stream[5..]),
            Err(TlsError::Malformed("handshake length"))
        );
    }

    #[test]
    fn server_hello_is_not_a_client_hello() {
        let mut msg = client_hello(&HelloSpec::default());
        msg[0] = 2;
        assert_eq!(
            parse_client_hello_handshake(&msg),
            Err(TlsError::NotClientHello)
        );
        let stream = records(&msg, MAX_RECORD_PAYLOAD);
        assert_eq!(
            parse_client_hello_records(&stream),
            Err(TlsError::NotClientHello)
        );
        // Decided on the first payload byte, before the rest arrives.
        assert_eq!(
            parse_client_hello_records(&stream[..6]),
            Err(TlsError::NotClientHello)
        );
    }

    #[test]
    fn application_data_and_other_protocols_are_not_client_hellos() {
        let app_data = [23, 3, 3, 0, 5, 1, 2, 3, 4, 5];
        assert_eq!(
            parse_client_hello_records(&app_data),
            Err(TlsError::NotClientHello)
        );
        assert_eq!(
            parse_client_hello_records(&app_data[..1]),
            Err(TlsError::NotClientHello)
        );
        assert_eq!(
            parse_client_hello_records(b"GET / HTTP/1.1\r\n"),
            Err(TlsError::NotClientHello)
        );
        // Handshake content type but a bad record version.
        assert_eq!(
            parse_client_hello_records(&[22, 2]),
            Err(TlsError::NotClientHello)
        );
        assert_eq!(
            parse_client_hello_records(&[22, 3, 5]),
            Err(TlsError::NotClientHello)
        );
        // SSLv2-compatible hello.
        assert_eq!(
            parse_client_hello_records(&[0x80, 0x2e, 0x01, 0x03, 0x01]),
            Err(TlsError::NotClientHello)
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_client_hello_records(&bytes);
            let _ = parse_client_hello_handshake(&bytes);
        }

        #[test]
        fn mutated_hellos_never_panic(
            at in 0usize..4096,
            value in any::<u8>(),
            max in 1usize..2000,
        ) {
            let msg = client_hello(&HelloSpec { post_quantum: true, ..HelloSpec::default() });
            let mut msg_mut = msg.clone();
            let i = at % msg_mut.len();
            msg_mut[i] = value;
            let _ = parse_client_hello_handshake(&msg_mut);
            let mut stream = records(&msg, max);
            let j = at % stream.len();
            stream[j] = value;
            let _ = parse_client_hello_records(&stream);
        }

        #[test]
        fn any_record_split_gives_the_same_answer(max in 1usize..3000) {
            let msg = client_hello(&HelloSpec { post_quantum: true, ..HelloSpec::default() });
            let stream = records(&msg, max);
            prop_assert_eq!(
                parse_client_hello_records(&stream),
                Ok(expected(Some("www.example.com")))
            );
        }
    }
}
