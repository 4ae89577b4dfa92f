//! The `network-traffic` record: one flow event as the P-Gateway publishes it, in JSON
//! (the contract is `schemas/network-traffic.schema.json`, described in the README).
//!
//! [`TrafficRecord::parse`] turns the bytes of one Kafka message into a checked record or an
//! [`Invalid`] that says why (a stable reason code for counting and the dead-letter topic) and
//! where (the field, or serde's line and column). The common form of a record is read by a quick
//! reader of its own (`fast`); serde_json reads the rest and says why it refuses one.
//! [`TrafficRecord::to_json`] writes the same format; `pgw-sim` publishes with it, so producer
//! and consumer share one definition.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::DateTime;
use dataplane::decode::L4;
use dataplane::engine::record::rfc3339;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

mod fast;

/// Payload bytes kept per direction, at most: enough for a post-quantum ClientHello or a QUIC
/// Initial (naming reads no further).
pub const PAYLOAD_MAX: usize = 16 * 1024;
/// Longest flow id, subscriber id or name accepted.
pub const TEXT_MAX: usize = 255;

/// Where the record sits in its flow's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowEvent {
    Start,
    Update,
    End,
}

impl FlowEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowEvent::Start => "start",
            FlowEvent::Update => "update",
            FlowEvent::End => "end",
        }
    }
}

/// One flow event, checked. Its strings borrow from the message read (unless they hold JSON
/// escapes); `TrafficRecord<'static>` owns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficRecord<'a> {
    pub event: FlowEvent,
    /// The gateway's id of the flow, unique while the flow lives.
    pub flow_id: Cow<'a, str>,
    /// Event time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub msisdn: Option<Cow<'a, str>>,
    pub imsi: Option<Cow<'a, str>>,
    /// The subscriber's address (the UE end of the bearer).
    pub ue_ip: IpAddr,
    /// GTP-U tunnel id of the bearer, when the gateway reports it.
    pub teid: Option<u32>,
    pub l4: L4,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// The name the gateway saw (SNI, Host), if any.
    pub name: Option<Cow<'a, str>>,
    /// First payload bytes sent by the client, if the gateway includes them.
    pub payload_c2s: Option<Vec<u8>>,
    /// First payload bytes sent by the server.
    pub payload_s2c: Option<Vec<u8>>,
    /// Bytes so far, `[client->server, server->client]`.
    pub bytes: [u64; 2],
    /// Packets so far, `[client->server, server->client]`.
    pub packets: [u64; 2],
}

/// Why a record was refused: a reason code (counted, and sent with the record to the
/// dead-letter topic) and a message saying where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Invalid {
    pub reason: Reason,
    pub detail: String,
}

/// The reasons a record is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Not a JSON object (syntax error, truncated, not UTF-8).
    NotJson,
    /// A field is missing or has the wrong JSON type.
    BadField,
    BadTime,
    BadAddress,
    BadL4,
    BadBase64,
    TooLong,
    /// The fields contradict each other (e.g. the UE address is neither endpoint).
    Inconsistent,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::NotJson,
        Reason::BadField,
        Reason::BadTime,
        Reason::BadAddress,
        Reason::BadL4,
        Reason::BadBase64,
        Reason::TooLong,
        Reason::Inconsistent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotJson => "not_json",
            Reason::BadField => "bad_field",
            Reason::BadTime => "bad_time",
            Reason::BadAddress => "bad_address",
            Reason::BadL4 => "bad_l4",
            Reason::BadBase64 => "bad_base64",
            Reason::TooLong => "too_long",
            Reason::Inconsistent => "inconsistent",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn invalid(reason: Reason, detail: impl Into<String>) -> Invalid {
    Invalid {
        reason,
        detail: detail.into(),
    }
}

/// A per-direction pair as written: `{"c2s": .., "s2c": ..}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair<T> {
    #[serde(default)]
    c2s: T,
    #[serde(default)]
    s2c: T,
}

/// A JSON string field, borrowed from the message unless it holds escapes (then unescaped into
/// a copy).
#[derive(Debug)]
struct Text<'a>(Cow<'a, str>);

impl<'a> Text<'a> {
    fn owned(s: String) -> Text<'a> {
        Text(Cow::Owned(s))
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// A base64 field's characters: read as bytes, so neither copied (unless escaped) nor checked
/// as UTF-8 (the base64 decoder refuses anything but its alphabet).
#[derive(Debug)]
struct Base64Text<'a>(Cow<'a, [u8]>);

impl Serialize for Base64Text<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(&self.0).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Base64Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Base64Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Borrowed(v)))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Owned(v.to_vec())))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Owned(v.as_bytes().to_vec())))
            }
        }
        // serde_json hands a string's raw bytes to `deserialize_bytes` (escapes resolved).
        d.deserialize_bytes(Visit)
    }
}

/// The record as written on the topic; strings borrow from the message when read.
#[derive(Debug, Serialize, Deserialize)]
struct Wire<'a> {
    event: FlowEvent,
    #[serde(borrow)]
    flow_id: Text<'a>,
    #[serde(borrow)]
    ts: Text<'a>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    msisdn: Option<Text<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    imsi: Option<Text<'a>>,
    #[serde(borrow)]
    ue_ip: Text<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    teid: Option<u32>,
    #[serde(borrow)]
    l4: Text<'a>,
    #[serde(borrow)]
    client: Text<'a>,
    #[serde(borrow)]
    server: Text<'a>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    name: Option<Text<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    payload: Option<Pair<Option<Base64Text<'a>>>>,
    #[serde(default)]
    bytes: Pair<u64>,
    #[serde(default)]
    packets: Pair<u64>,
}

impl<'a> TrafficRecord<'a> {
    /// Parses and checks one record.
    pub fn parse(bytes: &'a [u8]) -> Result<TrafficRecord<'a>, Invalid> {
        let wire = match fast::read(bytes) {
            Some(wire) => wire,
            None => serde_json::from_slice::<Wire>(bytes).map_err(|e| {
                let reason = match e.classify() {
                    serde_json::error::Category::Data => Reason::BadField,
                    _ => Reason::NotJson,
                };
                invalid(reason, e.to_string())
            })?,
        };
        let text = |field: &str, v: Option<Text<'a>>| -> Result<Option<Cow<'a, str>>, Invalid> {
            match v {
                Some(s) if s.0.is_empty() => {
                    Err(invalid(Reason::BadField, format!("{field} is empty")))
                }
                Some(s) if s.0.len() > TEXT_MAX => Err(invalid(
                    Reason::TooLong,
                    format!("{field} is {} bytes, at most {TEXT_MAX}", s.0.len()),
                )),
                v => Ok(v.map(|s| s.0)),
            }
        };
        let flow_id = text("flow_id", Some(wire.flow_id))?.unwrap_or_default();
        let msisdn = text("msisdn", wire.msisdn)?;
        let imsi = text("imsi", wire.imsi)?;
        let name = text("name", wire.name)?;
        let ts_ns = parse_time(&wire.ts.0)?;
        let ue_ip = match ipv4_prefix(wire.ue_ip.0.as_bytes()) {
            Some((ip, b"")) => Ok(IpAddr::V4(ip)),
            _ => wire.ue_ip.0.parse(),
        };
        let ue_ip: IpAddr = ue_ip.map_err(|_| {
            invalid(
                Reason::BadAddress,
                format!("ue_ip {:?} is not an IP address", wire.ue_ip.0),
            )
        })?;
        let client = parse_endpoint("client", &wire.client.0)?;
        let server = parse_endpoint("server", &wire.server.0)?;
        let l4 = match &*wire.l4.0 {
            "tcp" => L4::Tcp,
            "udp" => L4::Udp,
            other => {
                return Err(invalid(
                    Reason::BadL4,
                    format!("l4 {other:?} is not \"tcp\" or \"udp\""),
                ))
            }
        };
        if ue_ip != client.ip() && ue_ip != server.ip() {
            return Err(invalid(
                Reason::Inconsistent,
                format!("ue_ip {ue_ip} is neither the client {client} nor the server {server}"),
            ));
        }
        let (payload_c2s, payload_s2c) = match wire.payload {
            Some(p) => (
                decode_payload("payload.c2s", p.c2s)?,
                decode_payload("payload.s2c", p.s2c)?,
            ),
            None => (None, None),
        };
        Ok(TrafficRecord {
            event: wire.event,
            flow_id,
            ts_ns,
            msisdn,
            imsi,
            ue_ip,
            teid: wire.teid,
            l4,
            client,
            server,
            name,
            payload_c2s,
            payload_s2c,
            bytes: [wire.bytes.c2s, wire.bytes.s2c],
            packets: [wire.packets.c2s, wire.packets.s2c],
        })
    }

    /// The record as written on the topic (one JSON object, no newline).
    pub fn to_json(&self) -> Vec<u8> {
        let b64 = |b: &Vec<u8>| Base64Text(Cow::Owned(BASE64.encode(b).into_bytes()));
        let payload = (self.payload_c2s.is_some() || self.payload_s2c.is_some()).then(|| Pair {
            c2s: self.payload_c2s.as_ref().map(b64),
            s2c: self.payload_s2c.as_ref().map(b64),
        });
        fn borrowed<'s>(s: &'s Option<Cow<'_, str>>) -> Option<Text<'s>> {
            s.as_deref().map(|s| Text(Cow::Borrowed(s)))
        }
        let wire = Wire {
            event: self.event,
            flow_id: Text(Cow::Borrowed(&self.flow_id)),
            ts: Text::owned(rfc3339(self.ts_ns)),
            msisdn: borrowed(&self.msisdn),
            imsi: borrowed(&self.imsi),
            ue_ip: Text::owned(self.ue_ip.to_string()),
            teid: self.teid,
            l4: Text(Cow::Borrowed(match self.l4 {
                L4::Tcp => "tcp",
                _ => "udp",
            })),
            client: Text::owned(self.client.to_string()),
            server: Text::owned(self.server.to_string()),
            name: borrowed(&self.name),
            payload,
            bytes: Pair {
                c2s: self.bytes[0],
                s2c: self.bytes[1],
            },
            packets: Pair {
                c2s: self.packets[0],
                s2c: self.packets[1],
            },
        };
        // A struct of strings and integers always serialises.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// The record with its strings owned.
    pub fn into_owned(self) -> TrafficRecord<'static> {
        let own = |s: Option<Cow<'_, str>>| s.map(|s| Cow::Owned(s.into_owned()));
        TrafficRecord {
            flow_id: Cow::Owned(self.flow_id.into_owned()),
            msisdn: own(self.msisdn),
            imsi: own(self.imsi),
            name: own(self.name),
            event: self.event,
            ts_ns: self.ts_ns,
            ue_ip: self.ue_ip,
            teid: self.teid,
            l4: self.l4,
            client: self.client,
            server: self.server,
            payload_c2s: self.payload_c2s,
            payload_s2c: self.payload_s2c,
            bytes: self.bytes,
            packets: self.packets,
        }
    }

    /// The subscriber id the gateway gave, MSISDN first.
    pub fn subscriber(&self) -> Option<&str> {
        self.msisdn.as_deref().or(self.imsi.as_deref())
    }
}

fn parse_time(ts: &str) -> Result<u64, Invalid> {
    let t = DateTime::parse_from_rfc3339(ts)
        .map_err(|e| invalid(Reason::BadTime, format!("ts {ts:?} is not RFC 3339: {e}")))?;
    t.timestamp_nanos_opt()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| invalid(Reason::BadTime, format!("ts {ts:?} is outside 1970..2262")))
}

fn parse_endpoint(field: &str, s: &str) -> Result<SocketAddr, Invalid> {
    if let Some((ip, [b':', port @ ..])) = ipv4_prefix(s.as_bytes()) {
        if let Some(port) = decimal(port, 5).and_then(|p| u16::try_from(p).ok()) {
            return Ok(SocketAddr::new(IpAddr::V4(ip), port));
        }
    }
    s.parse().map_err(|_| {
        invalid(
            Reason::BadAddress,
            format!("{field} {s:?} is not an address:port (IPv6 as [addr]:port)"),
        )
    })
}

/// The IPv4 address `s` starts with, in the form the gateway writes (four decimal octets without
/// leading zeros), and what follows it; `None` for anything else, which the standard parser
/// then reads (it accepts everything accepted here, with the same result).
fn ipv4_prefix(s: &[u8]) -> Option<(Ipv4Addr, &[u8])> {
    let mut octets = [0u8; 4];
    let mut rest = s;
    for (i, octet) in octets.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(b".")?;
        }
        let digits = rest
            .iter()
            .take(3)
            .take_while(|b| b.is_ascii_digit())
            .count();
        let (number, after) = rest.split_at(digits);
        *octet = u8::try_from(decimal(number, 3)?).ok()?;
        rest = after;
    }
    Some((Ipv4Addr::from(octets), rest))
}

/// A decimal number of 1 to `max_digits` digits, without leading zeros (`0` itself aside).
fn decimal(digits: &[u8], max_digits: usize) -> Option<u32> {
    if digits.is_empty() || digits.len() > max_digits || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

fn decode_payload(field: &str, b64: Option<Base64Text<'_>>) -> Result<Option<Vec<u8>>, Invalid> {
    let Some(Base64Text(b64)) = b64 else {
        return Ok(None);
    };
    // 4 base64 characters carry 3 bytes: refuse oversized payloads before decoding them.
    if b64.len() > PAYLOAD_MAX.div_ceil(3) * 4 {
        return Err(invalid(
            Reason::TooLong,
            format!("{field} is longer than {PAYLOAD_MAX} bytes"),
        ));
    }
    Ok(Some(decode_base64(&b64).map_err(|e| {
        invalid(Reason::BadBase64, format!("{field}: {e}"))
    })?))
}

/// Standard base64 with canonical padding, as the `base64` crate's `STANDARD` engine decodes
/// it: base64-simd (several times faster on long payloads) for the decoding, the `base64` crate
/// for the error of what it refuses (and for the answer, should they ever disagree).
fn decode_base64(b64: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    match base64_simd::STANDARD.decode_to_vec(b64) {
        Ok(bytes) => Ok(bytes),
        Err(_) => BASE64.decode(b64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast decoder accepts exactly what the `base64` crate's `STANDARD` engine accepts, and
    /// decodes it alike: padding, trailing bits, foreign characters, and every short string over
    /// an alphabet of the characters that matter.
    #[test]
    fn base64_decoding_agrees_with_the_base64_crate() {
        let tricky = [
            "", "=", "==", "QQ==", "QR==", "QQ=", "QQ", "QUI=", "QUJ=", "QUI", "QUJD", "QUJD====",
            "QU JD", "QUJD\n", "QU=D", "-_-_", "+/+/", "QUJDRA==", "QUJDRA=", "QUJDRB==", "////",
        ];
        for t in tricky {
            assert_eq!(
                decode_base64(t.as_bytes()),
                BASE64.decode(t.as_bytes()),
                "{t:?}"
            );
        }
        // Every string of up to 5 characters over A, Q, /, =, - and a long valid prefix (the
        // fast decoder's vector path) before each.
        let alphabet = [b'A', b'Q', b'/', b'=', b'-'];
        let prefix = BASE64.encode([0x5au8; 96]);
        for len in 0..=5u32 {
            for mut n in 0..alphabet.len().pow(len) {
                let mut tail = Vec::new();
                for _ in 0..len {
                    tail.push(alphabet[n % alphabet.len()]);
                    n /= alphabet.len();
                }
                let long = [prefix.as_bytes(), &tail].concat();
                for s in [&tail[..], &long[..]] {
                    assert_eq!(decode_base64(s), BASE64.decode(s), "{:?}", s);
                }
            }
        }
        // Payloads of every length up to 200 round-trip.
        for n in 0..200u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(decode_base64(BASE64.encode(&bytes).as_bytes()), Ok(bytes));
        }
    }

    /// The quick IPv4 reading agrees with the standard parser wherever it answers, and leaves
    /// everything else to it.
    #[test]
    fn quick_ipv4_endpoints_agree_with_the_standard_parser() {
        for s in [
            "10.45.2.8:32768",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "1.2.3.4:65536",
            "1.2.3.4:080",
            "01.2.3.4:80",
            "1.2.3.256:80",
            "1.2.3.4",
            "1.2.3:80",
            "1.2.3.4.5:80",
            "1.2.3.4:",
            "1.2.3.4:8a",
            "1234.2.3.4:80",
            "[::1]:443",
            "",
        ] {
            let quick = match ipv4_prefix(s.as_bytes()) {
                Some((ip, [b':', port @ ..])) => decimal(port, 5)
                    .and_then(|p| u16::try_from(p).ok())
                    .map(|p| SocketAddr::new(IpAddr::V4(ip), p)),
                _ => None,
            };
            let std = s.parse::<SocketAddr>().ok();
            if quick.is_some() {
                assert_eq!(quick, std, "{s}");
            }
            assert_eq!(parse_endpoint("client", s).ok(), std, "{s}");
            let ip = s.split(':').next().unwrap_or_default();
            if let Some((quick, b"")) = ipv4_prefix(ip.as_bytes()) {
                assert_eq!(Some(IpAddr::V4(quick)), ip.parse().ok(), "{ip}");
            }
        }
        assert_eq!(decimal(b"65535", 5), Some(65_535));
        assert_eq!(decimal(b"065", 5), None);
        assert_eq!(decimal(b"123456", 5), None);
    }

    fn sample() -> TrafficRecord<'static> {
        TrafficRecord {
            event: FlowEvent::Start,
            flow_id: "pgw1-7".into(),
            ts_ns: 1_710_270_000_123_000_000,
            msisdn: Some("447700900001".into()),
            imsi: None,
            ue_ip: "10.45.1.1".parse().unwrap(),
            teid: Some(4097),
            l4: L4::Tcp,
            client: "10.45.1.1:40001".parse().unwrap(),
            server: "[2001:db8::1]:443".parse().unwrap(),
            name: Some("www.youtube.com".into()),
            payload_c2s: Some(vec![0x16, 3, 1, 0, 0]),
            payload_s2c: None,
            bytes: [517, 0],
            packets: [1, 0],
        }
    }

    fn reason_of(json: &str) -> Reason {
        TrafficRecord::parse(json.as_bytes()).unwrap_err().reason
    }

    #[test]
    fn records_round_trip_through_json() {
        let r = sample();
        let json = r.to_json();
        assert_eq!(TrafficRecord::parse(&json).unwrap(), r);
        let text = String::from_utf8(json).unwrap();
        assert!(
            text.contains(r#""ts":"2024-03-12T19:00:00.123000000Z""#),
            "{text}"
        );
        assert!(
            text.contains(r#""payload":{"c2s":"FgMBAAA=","s2c":null}"#),
            "{text}"
        );
        assert!(!text.contains("imsi"), "absent fields are left out: {text}");
    }

    #[test]
    fn escaped_strings_read_like_plain_ones() {
        let mut r = sample();
        r.payload_c2s = Some(vec![0xff; 30]); // base64 "////..."
        r.flow_id = "pgw1/7".into();
        let plain = String::from_utf8(r.to_json()).unwrap();
        assert!(plain.contains("////"), "{plain}");
        let escaped = plain.replace('/', "\\/").replace("pgw1", "\\u0070gw1");
        assert_ne!(plain, escaped);
        assert_eq!(TrafficRecord::parse(escaped.as_bytes()).unwrap(), r);
        // A payload that is not a string is a bad field, not bytes.
        let smallest = r#"{"event":"end","flow_id":"f","ts":"2024-03-12T19:00:00Z","ue_ip":"10.0.0.1",
                "l4":"udp","client":"10.0.0.1:5000","server":"8.8.8.8:53","payload":{"c2s":PAYLOAD}}"#;
        assert!(TrafficRecord::parse(smallest.replace("PAYLOAD", "\"AAE=\"").as_bytes()).is_ok());
        for bad in ["[0,1]", "7", "{}", "true"] {
            assert_eq!(
                reason_of(&smallest.replace("PAYLOAD", bad)),
                Reason::BadField
            );
        }
    }

    #[test]
    fn the_smallest_record_needs_only_the_required_fields() {
        let r = TrafficRecord::parse(
            br#"{"event":"end","flow_id":"f","ts":"2024-03-12T19:00:00+01:00","ue_ip":"10.0.0.1",
                "l4":"udp","client":"10.0.0.1:5000","server":"8.8.8.8:53"}"#,
        )
        .unwrap();
        assert_eq!(r.event, FlowEvent::End);
        assert_eq!(r.ts_ns, 1_710_266_400_000_000_000, "offsets are honoured");
        assert_eq!((r.bytes, r.packets), ([0, 0], [0, 0]));
        assert_eq!(r.subscriber(), None);
    }

    #[test]
    fn bad_records_are_refused_with_a_reason_and_a_place() {
        let good = String::from_utf8(sample().to_json()).unwrap();
        assert_eq!(reason_of("{\"event\":"), Reason::NotJson);
        assert_eq!(reason_of("\u{1}"), Reason::NotJson);
        assert_eq!(reason_of("[1,2]"), Reason::NotJson);
        assert_eq!(reason_of(r#"{"event":"start"}"#), Reason::BadField);
        assert_eq!(
            reason_of(&good.replace("\"start\"", "\"begin\"")),
            Reason::BadField
        );
        assert_eq!(
            reason_of(&good.replace("\"tcp\"", "\"sctp\"")),
            Reason::BadL4
        );
        assert_eq!(
            reason_of(&good.replace("2024-03-12T", "2024-13-12T")),
            Reason::BadTime
        );
        assert_eq!(
            reason_of(&good.replace("10.45.1.1:40001", "10.45.1.1")),
            Reason::BadAddress
        );
        assert_eq!(
            reason_of(&good.replace("\"10.45.1.1\"", "\"10.45.1.9\"")),
            Reason::Inconsistent
        );
        assert_eq!(
            reason_of(&good.replace("FgMBAAA=", "F!MBAAA=")),
            Reason::BadBase64
        );
        assert_eq!(reason_of(&good.replace("4097", "-1")), Reason::BadField);
        let e =
            TrafficRecord::parse(good.replace("\"flow_id\"", "\"flowid\"").as_bytes()).unwrap_err();
        assert_eq!(e.reason, Reason::BadField);
        assert!(
            e.to_string().contains("flow_id") && e.to_string().contains("column"),
            "{e}"
        );
    }

    #[test]
    fn oversized_fields_are_refused_before_decoding() {
        let mut r = sample();
        r.payload_c2s = Some(vec![7; PAYLOAD_MAX]);
        assert!(
            TrafficRecord::parse(&r.to_json()).is_ok(),
            "exactly the limit is fine"
        );
        r.payload_c2s = Some(vec![7; PAYLOAD_MAX + 3]);
        assert_eq!(
            TrafficRecord::parse(&r.to_json()).unwrap_err().reason,
            Reason::TooLong
        );
        let mut r = sample();
        r.flow_id = "x".repeat(TEXT_MAX + 1).into();
        assert_eq!(
            TrafficRecord::parse(&r.to_json()).unwrap_err().reason,
            Reason::TooLong
        );
        r.flow_id = "".into();
        assert_eq!(
            TrafficRecord::parse(&r.to_json()).unwrap_err().reason,
            Reason::BadField
        );
    }

    /// The JSON Schema in `schemas/` and the parser require the same fields and know the same.
    #[test]
    fn the_schema_and_the_parser_agree_on_the_fields() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../schemas/network-traffic.schema.json"))
                .unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut full = sample();
        full.imsi = Some("234150999999999".into());
        let full: serde_json::Value = serde_json::from_slice(&full.to_json()).unwrap();
        let written: Vec<&String> = full.as_object().unwrap().keys().collect();
        let known: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            written.iter().collect::<std::collections::BTreeSet<_>>(),
            known.iter().collect::<std::collections::BTreeSet<_>>()
        );
        for field in known {
            let mut v = full.clone();
            v.as_object_mut().unwrap().remove(field.as_str());
            let text = v.to_string();
            let parsed = TrafficRecord::parse(text.as_bytes());
            if required.contains(&field.as_str()) {
                assert_eq!(parsed.unwrap_err().reason, Reason::BadField, "{field}");
            } else {
                assert!(parsed.is_ok(), "{field} is optional: {parsed:?}");
            }
        }
    }

    #[test]
    fn no_bytes_make_the_parser_panic() {
        let good = sample().to_json();
        for cut in 0..good.len() {
            let _ = TrafficRecord::parse(&good[..cut]);
        }
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x5a;
            let _ = TrafficRecord::parse(&b);
        }
    }
}
