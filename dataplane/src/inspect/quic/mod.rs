//! QUIC Initial SNI: finds the server name in a client's first flight.
//!
//! IETF QUIC (v1 RFC 9000/9001, v2 RFC 9369, drafts 22-34, mvfst) and the Google versions that
//! borrowed its Initial protection (Q050, T050, T051): each client datagram is walked packet by
//! packet (coalesced packets, RFC 9000 §12.2), Initials are decrypted with keys derived from their
//! Destination Connection ID ([`initial`]), their CRYPTO frames ([`frames`]) are reassembled by
//! offset across packets and datagrams, and the stream is handed to the TLS ClientHello parser.
//! Older Google QUIC (Q024-Q046, [`gquic`]) sends its CHLO in plaintext.
//!
//! It does not follow the connection beyond the first flight: Handshake, 0-RTT and 1-RTT packets
//! are skipped, and server datagrams are not read.

mod frames;
mod gquic;
mod initial;
mod reader;
mod version;

use super::tls::{self, ClientHello, TlsError};
use initial::{first_byte, InitialKeys, KeyMaterial, LongHeader, MAX_CID_LEN};
use version::{Handshake, Kind, Protected};

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
    /// The ClientHello's server name is not a host name ([`crate::inspect::hostname`]).
    #[error("bad server name: {0}")]
    BadName(crate::inspect::hostname::BadName),
}

/// What feeding one client datagram produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuicProgress {
    /// The ClientHello is complete.
    Hello(ClientHello),
    /// Valid Initial data so far; the ClientHello needs more datagrams.
    NeedMore,
}

/// How much of the handshake stream is kept: a post-quantum ClientHello is under 2 KiB, a CHLO
/// under 4 KiB.
pub const HANDSHAKE_LIMIT: u32 = 16 * 1024;

/// Keys derived for one (version, DCID).
#[derive(Debug)]
struct CachedKeys {
    version: u32,
    dcid: [u8; MAX_CID_LEN],
    dcid_len: usize,
    keys: InitialKeys,
}

impl CachedKeys {
    fn derive(version: u32, p: &Protected, dcid: &[u8]) -> Result<CachedKeys, QuicError> {
        let material = KeyMaterial::client_initial(p.salt.extract(), p.labels, dcid);
        let mut id = [0u8; MAX_CID_LEN];
        let dcid_len = dcid.len().min(MAX_CID_LEN);
        id[..dcid_len].copy_from_slice(&dcid[..dcid_len]);
        Ok(CachedKeys {
            version,
            dcid: id,
            dcid_len,
            keys: InitialKeys::new(&material)?,
        })
    }

    fn matches(&self, version: u32, dcid: &[u8]) -> bool {
        self.version == version && self.dcid.get(..self.dcid_len) == Some(dcid)
    }
}

/// Per-flow state: reassembles the client's Initial CRYPTO stream across datagrams.
#[derive(Debug)]
pub struct QuicState {
    /// The handshake stream (CRYPTO data, or stream 1 of Google QUIC).
    handshake: gquic::ChloStream,
    /// What the stream holds; set by the first packet read.
    kind: Option<Handshake>,
    /// Keys from the DCID of the flow's first Initial: later Initials keep using them even when
    /// their DCID changes to the server's choice (RFC 9001 §5.2).
    first_keys: Option<CachedKeys>,
    /// Keys from another DCID (after a Retry the client derives new keys); rare, so boxed to
    /// keep every flow's state small.
    other_keys: Option<Box<CachedKeys>>,
    /// Decryption buffer, reused for every packet.
    scratch: Vec<u8>,
}

impl Default for QuicState {
    fn default() -> QuicState {
        QuicState {
            handshake: gquic::ChloStream::new(HANDSHAKE_LIMIT),
            kind: None,
            first_keys: None,
            other_keys: None,
            scratch: Vec::new(),
        }
    }
}

impl QuicState {
    /// Feeds one UDP payload sent by the client.
    pub fn feed(&mut self, datagram: &[u8]) -> Result<QuicProgress, QuicError> {
        self.absorb(datagram)?;
        self.progress()
    }

    /// Whether part of the handshake stream is held and the hello is not complete (a complete
    /// one ends the state).
    pub fn has_partial_hello(&self) -> bool {
        self.kind.is_some() && !self.handshake.buf.is_empty()
    }

    /// Bytes of the handshake stream held: grows only when a datagram brings new ones.
    pub fn handshake_held(&self) -> u32 {
        self.handshake.buf.held()
    }

    /// Whether handshake data overlapped bytes already held with different bytes.
    pub fn handshake_mismatched(&self) -> bool {
        self.handshake.buf.mismatched()
    }

    /// Reads one datagram's handshake bytes into the handshake stream.
    fn absorb(&mut self, datagram: &[u8]) -> Result<(), QuicError> {
        let &first = datagram.first().ok_or(QuicError::NotQuic)?;
        if first & first_byte::LONG_FORM == 0 {
            if gquic::is_legacy_with_version(datagram) {
                let plain = gquic::parse_legacy(datagram)?;
                self.kind.get_or_insert(Handshake::Chlo);
                return gquic::collect_handshake(&plain, &mut self.handshake);
            }
            // A short header (1-RTT) or a Google packet without version: only part of a flow
            // that already started.
            return match self.kind {
                Some(_) => Ok(()),
                None => Err(QuicError::NotQuic),
            };
        }
        let version = read_version(datagram)?;
        if version == 0 {
            return Err(QuicError::NotQuic); // Version Negotiation comes from servers only
        }
        match version::classify(version).ok_or(QuicError::UnsupportedVersion(version))? {
            Kind::Protected(p) => self.absorb_protected(datagram, version, &p),
            Kind::GoogleLong => {
                let plain = gquic::parse_long(datagram)?;
                self.kind.get_or_insert(Handshake::Chlo);
                gquic::collect_handshake(&plain, &mut self.handshake)
            }
            Kind::GoogleLegacy { .. } => Err(QuicError::Malformed(
                "legacy gQUIC version in a long header",
            )),
        }
    }

    /// Walks the coalesced packets of a datagram whose first packet has protected Initials.
    fn absorb_protected(
        &mut self,
        datagram: &[u8],
        version: u32,
        p: &Protected,
    ) -> Result<(), QuicError> {
        let mut rest = datagram;
        let mut opened = false;
        let mut failure = None;
        let mut first_packet = true;
        while rest.first().is_some_and(|b| b & first_byte::LONG_FORM != 0) {
            let header = match LongHeader::parse(rest, p.initial_type) {
                Ok(h) if h.version == version => h,
                // Junk after the first packet (or another version) ends the walk.
                Ok(_) if !first_packet => break,
                Err(_) if !first_packet => break,
                Ok(_) => return Err(QuicError::Malformed("coalesced packet of another version")),
                Err(e) => return Err(e),
            };
            first_packet = false;
            let (packet, next) = rest.split_at(header.end);
            rest = next;
            if header.packet_type != p.initial_type || header.pn_offset == 0 {
                continue;
            }
            match self.open_initial(packet, &header, p) {
                Ok(range) => {
                    opened = true;
                    self.kind.get_or_insert(p.handshake);
                    let payload = self.scratch.get(range).unwrap_or(&[]);
                    match p.frames {
                        version::Frames::Ietf => {
                            frames::collect_crypto(payload, &mut self.handshake.buf)?
                        }
                        version::Frames::Google => {
                            let plain = gquic::Plain {
                                frames: payload,
                                big_endian: true,
                                pn_len: 4,
                            };
                            gquic::collect_handshake(&plain, &mut self.handshake)?
                        }
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) if !opened => Err(e),
            _ => Ok(()),
        }
    }

    /// Decrypts one Initial into `scratch`, with the flow's keys or keys from its own DCID.
    fn open_initial(
        &mut self,
        packet: &[u8],
        header: &LongHeader<'_>,
        p: &Protected,
    ) -> Result<std::ops::Range<usize>, QuicError> {
        let (version, dcid) = (header.version, header.dcid);
        let mut tried_own_dcid = false;
        for slot in [self.first_keys.as_ref(), self.other_keys.as_deref()]
            .into_iter()
            .flatten()
        {
            if slot.version != version {
                continue;
            }
            tried_own_dcid |= slot.matches(version, dcid);
            if let Ok(range) = slot.keys.open(packet, header.pn_offset, &mut self.scratch) {
                return Ok(range);
            }
        }
        if tried_own_dcid {
            return Err(QuicError::DecryptFailed);
        }
        // The keys go straight to their slot (they are large: no moves), and leave it again if
        // they do not open the packet (the keys it held before come back).
        let first = self.first_keys.is_none();
        let previous = if first { None } else { self.other_keys.take() };
        let keys = if first {
            self.first_keys
                .insert(CachedKeys::derive(version, p, dcid)?)
        } else {
            &**self
                .other_keys
                .insert(Box::new(CachedKeys::derive(version, p, dcid)?))
        };
        let opened = keys.keys.open(packet, header.pn_offset, &mut self.scratch);
        if opened.is_err() {
            if first {
                self.first_keys = None;
            } else {
                self.other_keys = previous;
            }
        }
        opened
    }

    /// Tries the handshake stream so far.
    fn progress(&self) -> Result<QuicProgress, QuicError> {
        let stream = self.handshake.buf.contiguous();
        if stream.is_empty() {
            return Ok(QuicProgress::NeedMore);
        }
        let full = self.handshake.buf.is_full();
        match self.kind {
            None => Ok(QuicProgress::NeedMore),
            Some(Handshake::Tls) => match tls::parse_client_hello_handshake(stream) {
                Ok(hello) => Ok(QuicProgress::Hello(hello)),
                Err(TlsError::Incomplete) if !full => Ok(QuicProgress::NeedMore),
                Err(TlsError::Incomplete) => {
                    Err(QuicError::Malformed("ClientHello larger than the buffer"))
                }
                Err(TlsError::NotClientHello) => Err(QuicError::Malformed(
                    "CRYPTO stream does not start with a ClientHello",
                )),
                Err(TlsError::Malformed(m)) => Err(QuicError::Malformed(m)),
                Err(TlsError::BadName(b)) => Err(QuicError::BadName(b)),
            },
            Some(Handshake::Chlo) => match gquic::parse_chlo(stream) {
                Ok(hello) => Ok(QuicProgress::Hello(hello)),
                Err(gquic::ChloError::Incomplete) if !full => Ok(QuicProgress::NeedMore),
                Err(gquic::ChloError::Incomplete) => {
                    Err(QuicError::Malformed("CHLO larger than the buffer"))
                }
                Err(gquic::ChloError::NotChlo) => Err(QuicError::Malformed(
                    "handshake stream does not start with a CHLO",
                )),
                Err(gquic::ChloError::Malformed(m)) => Err(QuicError::Malformed(m)),
                Err(gquic::ChloError::BadName(b)) => Err(QuicError::BadName(b)),
            },
        }
    }
}

fn read_version(datagram: &[u8]) -> Result<u32, QuicError> {
    let b = datagram
        .get(1..5)
        .ok_or(QuicError::Malformed("long header truncated"))?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Whether a client datagram is a short-header (1-RTT) packet, sent once the handshake is over:
/// not a long header, nor a Google QUIC packet that carries its version.
pub fn is_short_header(datagram: &[u8]) -> bool {
    datagram
        .first()
        .is_some_and(|&b| b & first_byte::LONG_FORM == 0)
        && !gquic::is_legacy_with_version(datagram)
}

/// Cheap test whether a client's first UDP payload can be a QUIC (or Google QUIC) Initial.
pub fn looks_like_initial(datagram: &[u8]) -> bool {
    let Some(&first) = datagram.first() else {
        return false;
    };
    if first & first_byte::LONG_FORM == 0 {
        return gquic::is_legacy_with_version(datagram);
    }
    let Ok(version) = read_version(datagram) else {
        return false;
    };
    match version::classify(version) {
        Some(Kind::Protected(p)) => {
            let packet_type = (first & first_byte::TYPE_MASK) >> first_byte::TYPE_SHIFT;
            let dcid_len = datagram.get(5).copied().map_or(0, usize::from);
            packet_type == p.initial_type && (1..=MAX_CID_LEN).contains(&dcid_len)
        }
        Some(Kind::GoogleLong) => true,
        Some(Kind::GoogleLegacy { .. }) | None => false,
    }
}

#[cfg(test)]
mod tests;
