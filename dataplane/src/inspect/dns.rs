//! DNS messages (RFC 1035): the query name and the A/AAAA answers.
//! (stub: interface only; to be implemented)

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    pub id: u16,
    pub is_response: bool,
    /// The first question's name, normalised.
    pub qname: Option<String>,
    /// A and AAAA records of the answer section, with their owner names normalised.
    pub answers: Vec<(String, IpAddr)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("DNS message truncated")]
    Truncated,
    #[error("malformed DNS message: {0}")]
    Malformed(&'static str),
}

/// Parses a DNS message as carried over UDP.
pub fn parse(msg: &[u8]) -> Result<DnsMessage, DnsError> {
    let _ = msg;
    todo!()
}

/// Parses the first DNS message of a TCP stream (two-byte length prefix).
pub fn parse_tcp(stream: &[u8]) -> Result<DnsMessage, DnsError> {
    let _ = stream;
    todo!()
}

/// Cheap plausibility check of a DNS header. (stub: to be implemented)
pub fn looks_like_dns(msg: &[u8]) -> bool {
    let _ = msg;
    todo!()
}
