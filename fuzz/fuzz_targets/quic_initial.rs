//! QUIC client datagrams as they come off the wire (IETF Initials with header protection and
//! AEAD, coalesced packets, Google QUIC long and legacy headers): the input is a series of
//! datagrams, each with a two-byte length, fed to one flow's `QuicState`. Most inputs fail to
//! decrypt; this target covers the header parsing and key handling in front of decryption
//! (`quic_sealed` covers what lies behind it). Checks: a name found is a valid host name; what
//! `looks_like_initial` accepts as a flow's first datagram is not refused as `NotQuic`.
#![no_main]

use dataplane::inspect::quic::{looks_like_initial, QuicError, QuicProgress, QuicState};
use fuzzcheck::Choices;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut c = Choices::new(data);
    let mut state = QuicState::default();
    let mut first = true;
    for _ in 0..16 {
        if c.is_empty() {
            break;
        }
        let datagram = c.piece();
        let result = state.feed(datagram);
        if first && looks_like_initial(datagram) {
            assert_ne!(
                result,
                Err(QuicError::NotQuic),
                "an Initial by looks, refused"
            );
        }
        first = false;
        if let Ok(QuicProgress::Hello(h)) = &result {
            if let Some(name) = &h.sni {
                fuzzcheck::check_host_name("quic sni", name);
            }
        }
    }
});
