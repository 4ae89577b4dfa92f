//! TLS ClientHello: server name (SNI) and ALPN protocols.
//! (stub: interface only; to be implemented)

/// What a ClientHello says about where it is going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The server_name extension's host_name, normalised (lower case, no trailing dot).
    pub sni: Option<String>,
    /// ALPN protocol names in the client's order.
    pub alpn: Vec<String>,
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
}

/// Parses a ClientHello from the start of a TLS stream (record layer), which may span several
/// records and therefore several TCP segments.
pub fn parse_client_hello_records(stream: &[u8]) -> Result<ClientHello, TlsError> {
    let _ = stream;
    todo!()
}

/// Parses a ClientHello handshake message without record layer (QUIC CRYPTO data).
pub fn parse_client_hello_handshake(msg: &[u8]) -> Result<ClientHello, TlsError> {
    let _ = msg;
    todo!()
}
