//! DNS messages (RFC 1035): the query name and the A/AAAA answers.
//!
//! Follows RFC 1035 §4.1 (header, question and resource record formats), §4.1.4 (name
//! compression), §4.2.2 and RFC 7766 §8 (two-byte length prefix over TCP) and RFC 3596 §2 (AAAA).
//! Only the first question's name and the A/AAAA records of the answer section are read (at most
//! [`MAX_ANSWERS`]); CNAMEs and other records are skipped, the authority and additional sections
//! are not looked at. Compression pointers must point strictly backwards, before the start of
//! the part of the name being read, so a name cannot loop. Names are assembled on the stack; the
//! only allocations are the returned names and answer list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::hostname::{host_name, BadName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    pub id: u16,
    pub is_response: bool,
    /// The first question's name, normalised.
    pub qname: Option<Arc<str>>,
    /// A and AAAA records of the answer section, with their owner names normalised.
    pub answers: Vec<(Arc<str>, IpAddr)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("DNS message truncated")]
    Truncated,
    #[error("malformed DNS message: {0}")]
    Malformed(&'static str),
    /// The question's name is not a host name ([`super::hostname`]).
    #[error("bad query name: {0}")]
    BadName(BadName),
}

/// Header field offsets (RFC 1035 §4.1.1).
mod field {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
    pub const HEADER_LEN: usize = 12;
}

const FLAG_QR: u16 = 0x8000;
const OPCODE_SHIFT: u16 = 11;
const OPCODE_MASK: u16 = 0xf;
const OPCODE_QUERY: u16 = 0;
/// The reserved Z bit (RFC 1035 §4.1.1; AD and CD beside it are in use).
const FLAG_Z: u16 = 0x0040;
const RCODE_MASK: u16 = 0xf;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
/// The top bit of an RR class is mDNS's cache-flush flag (RFC 6762 §10.2).
const CLASS_MASK: u16 = 0x7fff;

/// QTYPE and QCLASS after a question name.
const QUESTION_FIXED_LEN: usize = 4;
/// TYPE, CLASS, TTL and RDLENGTH after a record's owner name.
const RR_FIXED_LEN: usize = 10;
const RR_RDLENGTH: usize = 8;
/// The smallest question (root name) and resource record (root name, no data).
const MIN_QUESTION_LEN: usize = 1 + QUESTION_FIXED_LEN;
const MIN_RR_LEN: usize = 1 + RR_FIXED_LEN;

/// Label length byte: the top two bits say what it is (RFC 1035 §4.1.4, RFC 6891 §5).
const LABEL_KIND_MASK: u8 = 0xc0;
const LABEL_KIND_NORMAL: u8 = 0x00;
const LABEL_KIND_POINTER: u8 = 0xc0;
/// A name's longest wire form (RFC 1035 §2.3.4).
const MAX_NAME_WIRE_LEN: usize = 255;
/// Compression pointers followed in one name.
const MAX_POINTERS: usize = 32;

/// Questions a message may have before it is taken for malformed.
pub const MAX_QUESTIONS: u16 = 8;
/// Answer records read; the rest are ignored.
pub const MAX_ANSWERS: usize = 64;

/// Parses a DNS message as carried over UDP.
pub fn parse(msg: &[u8]) -> Result<DnsMessage, DnsError> {
    if msg.len() < field::HEADER_LEN {
        return Err(DnsError::Truncated);
    }
    let id = be16(msg, field::ID)?;
    let flags = be16(msg, field::FLAGS)?;
    let qdcount = be16(msg, field::QDCOUNT)?;
    let ancount = be16(msg, field::ANCOUNT)?;
    if qdcount > MAX_QUESTIONS {
        return Err(DnsError::Malformed("question count"));
    }

    let mut name = NameBuf::new();
    let mut pos = field::HEADER_LEN;
    let mut qname = None;
    for i in 0..qdcount {
        pos = name.read(msg, pos)?;
        if i == 0 {
            qname = name.host_name().map_err(DnsError::BadName)?;
        }
        pos = pos.saturating_add(QUESTION_FIXED_LEN);
        if pos > msg.len() {
            return Err(DnsError::Truncated);
        }
    }

    let mut answers = Vec::new();
    for _ in 0..usize::from(ancount).min(MAX_ANSWERS) {
        pos = name.read(msg, pos)?;
        let rtype = be16(msg, pos)?;
        let class = be16(msg, pos.saturating_add(2))?;
        let rdlength = usize::from(be16(msg, pos.saturating_add(RR_RDLENGTH))?);
        let rdata_start = pos.saturating_add(RR_FIXED_LEN);
        pos = rdata_start.saturating_add(rdlength);
        let rdata = msg.get(rdata_start..pos).ok_or(DnsError::Truncated)?;
        if class & CLASS_MASK != CLASS_IN {
            continue;
        }
        let addr = match rtype {
            TYPE_A => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(rdata).map_err(|_| DnsError::Malformed("A record length"))?,
            )),
            TYPE_AAAA => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(rdata)
                    .map_err(|_| DnsError::Malformed("AAAA record length"))?,
            )),
            _ => continue,
        };
        if let Ok(Some(owner)) = name.host_name() {
            answers.push((owner, addr));
        }
    }

    Ok(DnsMessage {
        id,
        is_response: flags & FLAG_QR != 0,
        qname,
        answers,
    })
}

/// Parses the first DNS message of a TCP stream (two-byte length prefix).
pub fn parse_tcp(stream: &[u8]) -> Result<DnsMessage, DnsError> {
    let len = usize::from(be16(stream, 0)?);
    if len == 0 {
        return Err(DnsError::Malformed("TCP length"));
    }
    let msg = stream.get(2..2 + len).ok_or(DnsError::Truncated)?;
    parse(msg)
}

/// Whether `msg` plausibly is a DNS query or response: a standard-query opcode, the reserved bit
/// clear, one to a few questions, record counts that fit the message, and a question name that
/// starts with a plain label. Cheap (header only); used to pick the extractor for a UDP flow.
pub fn looks_like_dns(msg: &[u8]) -> bool {
    let (Ok(flags), Ok(qd), Ok(an), Ok(ns), Ok(ar)) = (
        be16(msg, field::FLAGS),
        be16(msg, field::QDCOUNT),
        be16(msg, field::ANCOUNT),
        be16(msg, field::NSCOUNT),
        be16(msg, field::ARCOUNT),
    ) else {
        return false;
    };
    if (flags >> OPCODE_SHIFT) & OPCODE_MASK != OPCODE_QUERY || flags & FLAG_Z != 0 {
        return false;
    }
    if flags & FLAG_QR == 0 && flags & RCODE_MASK != 0 {
        return false;
    }
    if qd == 0 || qd > MAX_QUESTIONS {
        return false;
    }
    let records = usize::from(an) + usize::from(ns) + usize::from(ar);
    let min_len = field::HEADER_LEN + usize::from(qd) * MIN_QUESTION_LEN + records * MIN_RR_LEN;
    if msg.len() < min_len {
        return false;
    }
    // A plain label, or a compression pointer: no valid message starts its first name with
    // one (there is nothing before it to point to), but a hostile one does, and it must be
    // parsed and counted as malformed rather than pass as some other protocol on port 53.
    msg.get(field::HEADER_LEN)
        .is_some_and(|&b| matches!(b & LABEL_KIND_MASK, LABEL_KIND_NORMAL | LABEL_KIND_POINTER))
}

/// A big-endian u16 at `at`, or `Truncated`.
fn be16(bytes: &[u8], at: usize) -> Result<u16, DnsError> {
    match (bytes.get(at), bytes.get(at.saturating_add(1))) {
        (Some(&hi), Some(&lo)) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(DnsError::Truncated),
    }
}

/// A domain name in text form (labels joined by '.'), assembled on the stack.
struct NameBuf {
    text: [u8; MAX_NAME_WIRE_LEN],
    len: usize,
    /// False once a label holds a byte that cannot be in a dotted host name.
    valid: bool,
}

impl NameBuf {
    fn new() -> NameBuf {
        NameBuf {
            text: [0; MAX_NAME_WIRE_LEN],
            len: 0,
            valid: true,
        }
    }

    /// Reads the name at `start` of `msg`, following compression pointers, and returns where
    /// the name ends in the message (after its terminal zero or its first pointer).
    fn read(&mut self, msg: &[u8], start: usize) -> Result<usize, DnsError> {
        self.len = 0;
        self.valid = true;
        let mut pos = start;
        let mut segment_start = start;
        let mut end = None;
        let mut wire_len = 0usize;
        let mut pointers = 0usize;
        loop {
            let len_byte = *msg.get(pos).ok_or(DnsError::Truncated)?;
            match len_byte & LABEL_KIND_MASK {
                LABEL_KIND_NORMAL if len_byte == 0 => {
                    wire_len += 1;
                    if wire_len > MAX_NAME_WIRE_LEN {
                        return Err(DnsError::Malformed("name too long"));
                    }
                    return Ok(end.unwrap_or(pos + 1));
                }
                LABEL_KIND_NORMAL => {
                    let label_end = pos + 1 + usize::from(len_byte);
                    let label = msg.get(pos + 1..label_end).ok_or(DnsError::Truncated)?;
                    wire_len += 1 + label.len();
                    if wire_len > MAX_NAME_WIRE_LEN {
                        return Err(DnsError::Malformed("name too long"));
                    }
                    self.push_label(label);
                    pos = label_end;
                }
                LABEL_KIND_POINTER => {
                    let lo = *msg.get(pos + 1).ok_or(DnsError::Truncated)?;
                    let target = usize::from(len_byte & !LABEL_KIND_MASK) << 8 | usize::from(lo);
                    if target > pos {
                        return Err(DnsError::Malformed("forward compression pointer"));
                    }
                    if target >= segment_start || target < field::HEADER_LEN {
                        return Err(DnsError::Malformed("compression pointer loop"));
                    }
                    pointers += 1;
                    if pointers > MAX_POINTERS {
                        return Err(DnsError::Malformed("too many compression pointers"));
                    }
                    end.get_or_insert(pos + 2);
                    pos = target;
                    segment_start = target;
                }
                _ => return Err(DnsError::Malformed("label type")),
            }
        }
    }

    /// Appends a label after a dot. The wire-length bound keeps the text within the buffer.
    fn push_label(&mut self, label: &[u8]) {
        if label.contains(&b'.') {
            self.valid = false;
        }
        let dot = usize::from(self.len > 0);
        let Some(slot) = self.text.get_mut(self.len..self.len + dot + label.len()) else {
            self.valid = false;
            return;
        };
        if let (Some(first), 1) = (slot.first_mut(), dot) {
            *first = b'.';
        }
        if let Some(dst) = slot.get_mut(dot..) {
            dst.copy_from_slice(label);
        }
        self.len += dot + label.len();
    }

    /// The name checked and normalised; `None` for the root, `BadName` for a name that is not
    /// a host name (a label with a dot or a byte a host name cannot have, an empty label).
    fn host_name(&self) -> Result<Option<Arc<str>>, BadName> {
        if !self.valid {
            return Err(BadName::BadByte(b'.'));
        }
        match self.text.get(..self.len) {
            None | Some([]) => Ok(None),
            Some(text) => host_name(text).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Wire form of a dotted name, uncompressed.
    fn wire_name(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in name.split('.').filter(|l| !l.is_empty()) {
            out.push(u8::try_from(label.len()).expect("label fits"));
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn header(id: u16, flags: u16, qd: u16, an: u16) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [id, flags, qd, an, 0, 0] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    fn question(out: &mut Vec<u8>, name: &[u8], qtype: u16) {
        out.extend_from_slice(name);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
    }

    fn record(out: &mut Vec<u8>, owner: &[u8], rtype: u16, rdata: &[u8]) {
        out.extend_from_slice(owner);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&300u32.to_be_bytes());
        out.extend_from_slice(&u16::try_from(rdata.len()).expect("fits").to_be_bytes());
        out.extend_from_slice(rdata);
    }

    /// A compression pointer to `offset`.
    fn ptr(offset: usize) -> [u8; 2] {
        (0xc000 | u16::try_from(offset).expect("fits")).to_be_bytes()
    }

    const TYPE_CNAME: u16 = 5;

    /// `www.example.com` → CNAME `cdn.example.net` → A ×2 and AAAA, fully compressed.
    fn cname_response() -> Vec<u8> {
        let mut msg = header(0xbeef, 0x8180, 1, 4);
        question(&mut msg, &wire_name("www.example.com"), TYPE_A);
        // CNAME whose owner points at the question name; its rdata holds "cdn.example.net".
        let cname_rdata_at = msg.len() + 2 + RR_FIXED_LEN;
        record(
            &mut msg,
            &ptr(field::HEADER_LEN),
            TYPE_CNAME,
            &wire_name("cdn.example.net"),
        );
        record(&mut msg, &ptr(cname_rdata_at), TYPE_A, &[192, 0, 2, 1]);
        record(&mut msg, &ptr(cname_rdata_at), TYPE_A, &[192, 0, 2, 2]);
        let v6: Ipv6Addr = "2001:db8::1".parse().expect("address");
        record(&mut msg, &ptr(cname_rdata_at), TYPE_AAAA, &v6.octets());
        msg
    }

    #[test]
    fn query_gives_id_and_lower_cased_name() {
        let mut msg = header(0x1234, 0x0100, 1, 0);
        question(&mut msg, &wire_name("WWW.Ntop.ORG"), TYPE_AAAA);
        assert_eq!(
            parse(&msg),
            Ok(DnsMessage {
                id: 0x1234,
                is_response: false,
                qname: Some("www.ntop.org".into()),
                answers: vec![],
            })
        );
        assert!(looks_like_dns(&msg));
    }

    #[test]
    fn response_with_cname_keeps_all_address_answers() {
        let msg = cname_response();
        let parsed = parse(&msg).expect("parses");
        assert_eq!(parsed.id, 0xbeef);
        assert!(parsed.is_response);
        assert_eq!(parsed.qname.as_deref(), Some("www.example.com"));
        let cdn: Arc<str> = "cdn.example.net".into();
        assert_eq!(
            parsed.answers,
            vec![
                (cdn.clone(), IpAddr::from([192, 0, 2, 1])),
                (cdn.clone(), IpAddr::from([192, 0, 2, 2])),
                (cdn, "2001:db8::1".parse().expect("address")),
            ]
        );
        assert!(looks_like_dns(&msg));
    }

    #[test]
    fn pointer_to_a_suffix_joins_labels() {
        let mut msg = header(1, 0x8180, 1, 1);
        question(&mut msg, &wire_name("Example.COM"), TYPE_A);
        let mut owner = vec![4];
        owner.extend_from_slice(b"Mail");
        owner.extend_from_slice(&ptr(field::HEADER_LEN));
        record(&mut msg, &owner, TYPE_A, &[10, 0, 0, 1]);
        assert_eq!(
            parse(&msg).map(|m| m.answers),
            Ok(vec![(
                "mail.example.com".into(),
                IpAddr::from([10, 0, 0, 1])
            )])
        );
    }

    #[test]
    fn self_pointer_and_loop_are_malformed() {
        let mut msg = header(1, 0x8180, 1, 1);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        // An owner "x" followed by a pointer back to its own start.
        let owner_at = msg.len();
        let mut owner = vec![1, b'x'];
        owner.extend_from_slice(&ptr(owner_at));
        record(&mut msg, &owner, TYPE_A, &[10, 0, 0, 1]);
        assert_eq!(
            parse(&msg),
            Err(DnsError::Malformed("compression pointer loop"))
        );

        // A pointer to itself.
        let mut msg = header(1, 0x8180, 1, 1);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        let owner_at = msg.len();
        record(&mut msg, &ptr(owner_at), TYPE_A, &[10, 0, 0, 1]);
        assert_eq!(
            parse(&msg),
            Err(DnsError::Malformed("compression pointer loop"))
        );
    }

    #[test]
    fn pointer_into_header_is_malformed() {
        let mut msg = header(1, 0x8180, 1, 1);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        record(&mut msg, &ptr(2), TYPE_A, &[10, 0, 0, 1]);
        assert_eq!(
            parse(&msg),
            Err(DnsError::Malformed("compression pointer loop"))
        );
    }

    #[test]
    fn forward_pointer_is_malformed() {
        let mut msg = header(1, 0x0100, 1, 0);
        question(&mut msg, &ptr(20), TYPE_A);
        msg.extend_from_slice(&wire_name("later.example"));
        assert_eq!(
            parse(&msg),
            Err(DnsError::Malformed("forward compression pointer"))
        );
    }

    #[test]
    fn every_truncation_is_truncated_and_never_panics() {
        let msg = cname_response();
        for n in 0..msg.len() {
            assert_eq!(parse(&msg[..n]), Err(DnsError::Truncated), "cut at {n}");
        }
        assert!(parse(&msg).is_ok());
    }

    #[test]
    fn tcp_framing() {
        let msg = cname_response();
        let mut stream = u16::try_from(msg.len())
            .expect("fits")
            .to_be_bytes()
            .to_vec();
        stream.extend_from_slice(&msg);
        let whole = parse_tcp(&stream).expect("parses");
        assert_eq!(whole, parse(&msg).expect("parses"));
        for n in 0..stream.len() {
            assert_eq!(
                parse_tcp(&stream[..n]),
                Err(DnsError::Truncated),
                "cut at {n}"
            );
        }
        // A second message behind the first is not read.
        stream.extend_from_slice(&[0, 2, 0xff]);
        assert_eq!(parse_tcp(&stream), Ok(whole));
        assert_eq!(parse_tcp(&[0, 0]), Err(DnsError::Malformed("TCP length")));
    }

    #[test]
    fn root_gives_no_qname_and_binary_names_are_bad_names() {
        let mut msg = header(1, 0x0100, 1, 0);
        question(&mut msg, &[0], 2);
        assert_eq!(parse(&msg).map(|m| m.qname), Ok(None));

        let mut msg = header(1, 0x0100, 1, 0);
        question(
            &mut msg,
            &[3, b'a', 0, b'b', 3, b'c', b'o', b'm', 0],
            TYPE_A,
        );
        assert_eq!(
            parse(&msg).map(|m| m.qname),
            Err(DnsError::BadName(BadName::BadByte(0)))
        );

        // A dot inside a label would make the text form ambiguous.
        let mut msg = header(1, 0x0100, 1, 0);
        question(
            &mut msg,
            &[3, b'a', b'.', b'b', 3, b'c', b'o', b'm', 0],
            TYPE_A,
        );
        assert_eq!(
            parse(&msg).map(|m| m.qname),
            Err(DnsError::BadName(BadName::BadByte(b'.')))
        );
    }

    #[test]
    fn answers_are_capped() {
        let mut msg = header(1, 0x8180, 1, 100);
        question(&mut msg, &wire_name("many.example"), TYPE_A);
        for i in 0..100u8 {
            record(&mut msg, &ptr(field::HEADER_LEN), TYPE_A, &[10, 0, 0, i]);
        }
        let parsed = parse(&msg).expect("parses");
        assert_eq!(parsed.answers.len(), MAX_ANSWERS);
        assert_eq!(parsed.answers[63].1, IpAddr::from([10, 0, 0, 63]));
    }

    #[test]
    fn malformed_records_and_labels_are_named() {
        let mut msg = header(1, 0x8180, 1, 1);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        record(&mut msg, &ptr(field::HEADER_LEN), TYPE_A, &[10, 0, 0]);
        assert_eq!(parse(&msg), Err(DnsError::Malformed("A record length")));

        let mut msg = header(1, 0x8180, 1, 1);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        record(&mut msg, &ptr(field::HEADER_LEN), TYPE_AAAA, &[0; 4]);
        assert_eq!(parse(&msg), Err(DnsError::Malformed("AAAA record length")));

        let mut msg = header(1, 0x0100, 1, 0);
        question(&mut msg, &[0x41, 0], TYPE_A);
        assert_eq!(parse(&msg), Err(DnsError::Malformed("label type")));

        let long = vec!["abcdefghij"; 30].join(".");
        let mut msg = header(1, 0x0100, 1, 0);
        question(&mut msg, &wire_name(&long), TYPE_A);
        assert_eq!(parse(&msg), Err(DnsError::Malformed("name too long")));

        let mut msg = header(1, 0x0100, 9, 0);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        assert_eq!(parse(&msg), Err(DnsError::Malformed("question count")));
    }

    #[test]
    fn longest_valid_name_is_read() {
        // 4 labels of 63 bytes: 4 * 64 + 1 = 257 wire bytes is too long; 3 of 63 and one of 61
        // make 255.
        let name = [
            &"a".repeat(63)[..],
            &"b".repeat(63),
            &"c".repeat(63),
            &"d".repeat(61),
        ]
        .join(".");
        let mut msg = header(1, 0x0100, 1, 0);
        question(&mut msg, &wire_name(&name), TYPE_A);
        assert_eq!(parse(&msg).map(|m| m.qname), Ok(Some(name.into())));
    }

    #[test]
    fn non_in_class_and_other_types_are_skipped() {
        let mut msg = header(1, 0x8180, 1, 2);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        record(&mut msg, &ptr(field::HEADER_LEN), 16, b"\x05hello");
        let mut chaos = Vec::new();
        record(&mut chaos, &ptr(field::HEADER_LEN), TYPE_A, &[1, 2, 3, 4]);
        chaos[4] = 0; // class 3 (CH)
        chaos[5] = 3;
        msg.extend_from_slice(&chaos);
        assert_eq!(parse(&msg).map(|m| m.answers), Ok(vec![]));
    }

    #[test]
    fn looks_like_dns_rejects_other_traffic() {
        assert!(!looks_like_dns(b""));
        assert!(!looks_like_dns(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!looks_like_dns(&[
            22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3, 0x5a, 0x5a, 0x5a
        ]));
        // Opcode UPDATE.
        let mut msg = header(1, 5 << OPCODE_SHIFT, 1, 0);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        assert!(!looks_like_dns(&msg));
        // No question, or more records than the bytes can hold.
        let mut msg = header(1, 0x0100, 0, 0);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        assert!(!looks_like_dns(&msg));
        let mut msg = header(1, 0x8180, 1, 40);
        question(&mut msg, &wire_name("a.example"), TYPE_A);
        assert!(!looks_like_dns(&msg));
        // A question that starts with an extended label type.
        let mut msg = header(1, 0x0100, 1, 0);
        question(&mut msg, &[0x41, 0, 0], TYPE_A);
        assert!(!looks_like_dns(&msg));
    }

    #[test]
    fn query_name_pointing_at_itself_is_dns_and_malformed() {
        // The question's name is a pointer to its own offset (12): it looks like DNS, so the
        // flow is parsed as DNS and the loop is counted, not taken for another protocol.
        let mut msg = header(1, 0x0100, 1, 0);
        question(&mut msg, &ptr(field::HEADER_LEN), TYPE_A);
        assert!(looks_like_dns(&msg));
        assert_eq!(
            parse(&msg),
            Err(DnsError::Malformed("compression pointer loop"))
        );
        // A pointer into the header is refused the same way.
        let mut msg = header(1, 0x0100, 1, 0);
        question(&mut msg, &ptr(0), TYPE_A);
        assert!(looks_like_dns(&msg));
        assert_eq!(
            parse(&msg),
            Err(DnsError::Malformed("compression pointer loop"))
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
            let _ = parse_tcp(&bytes);
            let _ = looks_like_dns(&bytes);
        }

        #[test]
        fn mutated_responses_never_panic(at in 0usize..200, value in any::<u8>()) {
            let mut msg = cname_response();
            let i = at % msg.len();
            msg[i] = value;
            let _ = parse(&msg);
            let _ = looks_like_dns(&msg);
        }
    }
}
