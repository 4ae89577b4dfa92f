//! DNS message builders (RFC 1035 section 4): a query, and a response whose answers (A, AAAA,
//! CNAME) use compression pointers (section 4.1.4) for owner names and known suffixes; and
//! the 2-byte length framing of DNS over TCP (RFC 1035 section 4.2.2, RFC 7766).

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Record types.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
}

const CLASS_IN: u16 = 1;
const FLAGS_QUERY_RD: u16 = 0x0100;
const FLAGS_RESPONSE_RD_RA: u16 = 0x8180;
const MAX_LABEL: usize = 63;
const MAX_NAME: usize = 255;
/// Compression pointers hold 14-bit offsets.
const MAX_POINTER_OFFSET: usize = 0x3fff;

/// Errors of the DNS builders.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DnsError {
    /// A label that is empty or longer than 63 bytes.
    #[error("bad label in name {0:?}")]
    BadLabel(String),
    /// A name longer than 255 bytes on the wire.
    #[error("name {0:?} is longer than 255 bytes")]
    NameTooLong(String),
    /// A message longer than 65535 bytes (TCP framing).
    #[error("message of {0} bytes does not fit the TCP length prefix")]
    TooLong(usize),
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An A record.
    A(Ipv4Addr),
    /// An AAAA record.
    Aaaa(Ipv6Addr),
    /// A CNAME record; later answers are owned by this target.
    Cname(String),
}

/// A message being written, with the names already written (for compression).
struct Writer {
    buf: Vec<u8>,
    /// (lower-case name suffix, offset where it was written)
    names: Vec<(String, usize)>,
}

impl Writer {
    fn header(id: u16, flags: u16, qd: u16, an: u16) -> Self {
        let mut buf = Vec::with_capacity(512);
        for v in [id, flags, qd, an, 0, 0] {
            buf.extend_from_slice(&v.to_be_bytes());
        }
        Writer {
            buf,
            names: Vec::new(),
        }
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes `name`, ending with a pointer to the longest suffix already written.
    fn name(&mut self, name: &str) -> Result<(), DnsError> {
        let name = name.trim_end_matches('.');
        let labels: Vec<&str> = if name.is_empty() {
            Vec::new()
        } else {
            name.split('.').collect()
        };
        let wire_len: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
        if wire_len > MAX_NAME {
            return Err(DnsError::NameTooLong(name.to_owned()));
        }
        for (i, label) in labels.iter().enumerate() {
            if label.is_empty() || label.len() > MAX_LABEL {
                return Err(DnsError::BadLabel(name.to_owned()));
            }
            let suffix = labels[i..].join(".").to_ascii_lowercase();
            if let Some(&(_, off)) = self.names.iter().find(|(n, _)| *n == suffix) {
                self.u16(0xc000 | off as u16); // off <= MAX_POINTER_OFFSET
                return Ok(());
            }
            let here = self.buf.len();
            if here <= MAX_POINTER_OFFSET {
                self.names.push((suffix, here));
            }
            self.buf.push(label.len() as u8);
            self.buf.extend_from_slice(label.as_bytes());
        }
        self.buf.push(0);
        Ok(())
    }

    fn question(&mut self, name: &str, qtype: u16) -> Result<(), DnsError> {
        self.name(name)?;
        self.u16(qtype);
        self.u16(CLASS_IN);
        Ok(())
    }
}

/// A recursive query for `name` of type `qtype`.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let mut w = Writer::header(id, FLAGS_QUERY_RD, 1, 0);
    w.question(name, qtype)?;
    Ok(w.buf)
}

/// The response to `query(id, name, qtype)` with `answers` in order, each with `ttl`.
/// The first answer is owned by the question name (a pointer to offset 12); after a CNAME,
/// answers are owned by its target (a pointer into the CNAME's data).
pub fn response(
    id: u16,
    name: &str,
    qtype: u16,
    answers: &[Answer],
    ttl: u32,
) -> Result<Vec<u8>, DnsError> {
    let an = u16::try_from(answers.len()).map_err(|_| DnsError::TooLong(answers.len()))?;
    let mut w = Writer::header(id, FLAGS_RESPONSE_RD_RA, 1, an);
    w.question(name, qtype)?;
    let mut owner = name.to_owned();
    for a in answers {
        w.name(&owner)?;
        let rtype = match a {
            Answer::A(_) => rtype::A,
            Answer::Aaaa(_) => rtype::AAAA,
            Answer::Cname(_) => rtype::CNAME,
        };
        w.u16(rtype);
        w.u16(CLASS_IN);
        w.buf.extend_from_slice(&ttl.to_be_bytes());
        let len_at = w.buf.len();
        w.u16(0);
        match a {
            Answer::A(ip) => w.buf.extend_from_slice(&ip.octets()),
            Answer::Aaaa(ip) => w.buf.extend_from_slice(&ip.octets()),
            Answer::Cname(target) => {
                w.name(target)?;
                owner = target.clone();
            }
        }
        let rdlen = (w.buf.len() - len_at - 2) as u16; // at most a 255-byte name
        w.buf[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
    Ok(w.buf)
}

/// The message with its 2-byte length prefix, as sent over TCP.
pub fn tcp_framed(message: &[u8]) -> Result<Vec<u8>, DnsError> {
    let len = u16::try_from(message.len()).map_err(|_| DnsError::TooLong(message.len()))?;
    let mut out = Vec::with_capacity(message.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encodes_header_and_question() {
        let q = query(0xbeef, "www.example.com", rtype::AAAA).unwrap();
        assert_eq!(&q[0..4], &[0xbe, 0xef, 0x01, 0x00]);
        assert_eq!(&q[4..6], &[0, 1]);
        assert_eq!(&q[12..], b"\x03www\x07example\x03com\x00\x00\x1c\x00\x01");
    }

    #[test]
    fn response_uses_pointers_for_owners_and_cname_targets() {
        let r = response(
            7,
            "www.example.com",
            rtype::A,
            &[
                Answer::Cname("edge.example.com".into()),
                Answer::A(Ipv4Addr::new(192, 0, 2, 7)),
            ],
            300,
        )
        .unwrap();
        assert_eq!(&r[2..4], &[0x81, 0x80]);
        assert_eq!(&r[6..8], &[0, 2]);
        let q_end = 12 + 17 + 4;
        // First answer: owner pointer to the question name at offset 12.
        assert_eq!(&r[q_end..q_end + 2], &[0xc0, 0x0c]);
        assert_eq!(&r[q_end + 2..q_end + 4], &[0, 5]);
        // CNAME data: "edge" then a pointer to "example.com" (offset 16).
        let rdata = q_end + 12;
        assert_eq!(&r[rdata - 2..rdata], &[0, 7]);
        assert_eq!(&r[rdata..rdata + 7], b"\x04edge\xc0\x10");
        // Second answer: owner pointer to the CNAME target.
        let a = rdata + 7;
        assert_eq!(&r[a..a + 2], &[0xc0, rdata as u8]);
        assert_eq!(&r[a + 2..a + 4], &[0, 1]);
        assert_eq!(&r[r.len() - 4..], &[192, 0, 2, 7]);
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(matches!(
            query(1, "a..b", rtype::A),
            Err(DnsError::BadLabel(_))
        ));
        let long = "x".repeat(64);
        assert!(matches!(
            query(1, &long, rtype::A),
            Err(DnsError::BadLabel(_))
        ));
        let many = vec!["abcdefghij"; 30].join(".");
        assert!(matches!(
            query(1, &many, rtype::A),
            Err(DnsError::NameTooLong(_))
        ));
    }

    #[test]
    fn tcp_framing_prefixes_the_length() {
        let f = tcp_framed(&[1, 2, 3]).unwrap();
        assert_eq!(f, vec![0, 3, 1, 2, 3]);
    }
}
