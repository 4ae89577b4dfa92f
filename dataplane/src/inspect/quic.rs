//! QUIC Initial SNI. (stub: interface only; to be implemented)

use super::tls::ClientHello;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuicError {
    #[error("not a QUIC packet")]
    NotQuic,
    #[error("unsupported QUIC version {0:#010x}")]
    UnsupportedVersion(u32),
    #[error("malformed QUIC packet: {0}")]
    Malformed(&'static str),
    #[error("QUIC Initial failed to decrypt")]
    DecryptFailed,
}

/// What feeding one client datagram produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuicProgress {
    /// The ClientHello is complete.
    Hello(ClientHello),
    /// Valid Initial data so far; the ClientHello needs more datagrams.
    NeedMore,
}

/// Per-flow state: reassembles the client's Initial CRYPTO stream across datagrams.
#[derive(Debug, Default)]
pub struct QuicState {}

impl QuicState {
    /// Feeds one UDP payload sent by the client.
    pub fn feed(&mut self, datagram: &[u8]) -> Result<QuicProgress, QuicError> {
        let _ = datagram;
        todo!()
    }
}

/// Cheap test whether a client's first UDP payload can be a QUIC (or Google QUIC) Initial.
pub fn looks_like_initial(datagram: &[u8]) -> bool {
    let _ = datagram;
    todo!()
}
