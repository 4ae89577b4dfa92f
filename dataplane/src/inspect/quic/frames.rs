//! Frames of a decrypted Initial payload (RFC 9000 §19, §17.2.2): only what may appear in a
//! client Initial is accepted (PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE); CRYPTO data is
//! placed into the handshake stream by offset. Anything else is malformed for an Initial.

use super::reader::Reader;
use super::QuicError;
use crate::inspect::stream::StreamBuf;

mod frame_type {
    pub const PADDING: u8 = 0x00;
    pub const PING: u8 = 0x01;
    pub const ACK: u8 = 0x02;
    pub const ACK_ECN: u8 = 0x03;
    pub const CRYPTO: u8 = 0x06;
    pub const CONNECTION_CLOSE: u8 = 0x1c;
    pub const CONNECTION_CLOSE_APP: u8 = 0x1d;
}

const TRUNCATED: QuicError = QuicError::Malformed("frame truncated");

/// Walks the frames of `payload`, storing CRYPTO data into `crypto`.
pub fn collect_crypto(payload: &[u8], crypto: &mut StreamBuf) -> Result<(), QuicError> {
    let mut r = Reader::new(payload);
    while let Ok(t) = r.u8() {
        match t {
            frame_type::PADDING => {
                // Padding fills most of an Initial: skip the whole run at once.
                r.take(zero_run(r.rest())).map_err(|_| TRUNCATED)?;
            }
            frame_type::PING => {}
            frame_type::ACK | frame_type::ACK_ECN => {
                r.varint().map_err(|_| TRUNCATED)?; // largest acknowledged
                r.varint().map_err(|_| TRUNCATED)?; // ACK delay
                let ranges = r.varint().map_err(|_| TRUNCATED)?;
                r.varint().map_err(|_| TRUNCATED)?; // first ACK range
                for _ in 0..ranges {
                    r.varint().map_err(|_| TRUNCATED)?; // gap
                    r.varint().map_err(|_| TRUNCATED)?; // range length
                }
                if t == frame_type::ACK_ECN {
                    for _ in 0..3 {
                        r.varint().map_err(|_| TRUNCATED)?;
                    }
                }
            }
            frame_type::CRYPTO => {
                let offset = r.varint().map_err(|_| TRUNCATED)?;
                let len = r.varint().map_err(|_| TRUNCATED)?;
                let data = r.take_u64(len).map_err(|_| TRUNCATED)?;
                crypto.insert(offset, data);
            }
            frame_type::CONNECTION_CLOSE | frame_type::CONNECTION_CLOSE_APP => {
                r.varint().map_err(|_| TRUNCATED)?; // error code
                if t == frame_type::CONNECTION_CLOSE {
                    r.varint().map_err(|_| TRUNCATED)?; // frame type
                }
                let reason_len = r.varint().map_err(|_| TRUNCATED)?;
                r.take_u64(reason_len).map_err(|_| TRUNCATED)?;
            }
            _ => return Err(QuicError::Malformed("frame type not allowed in an Initial")),
        }
    }
    Ok(())
}

/// Length of the run of zero bytes `bytes` starts with, 16 bytes at a time.
fn zero_run(bytes: &[u8]) -> usize {
    let chunks = bytes.chunks_exact(16);
    let tail = chunks.remainder();
    let mut run = 0;
    for c in chunks {
        let word = u128::from_le_bytes(c.try_into().unwrap_or([1; 16]));
        if word != 0 {
            return run + (word.trailing_zeros() / 8) as usize;
        }
        run += 16;
    }
    run + tail.iter().take_while(|&&b| b == 0).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypto_frames_out_of_order_between_padding_ping_and_ack() {
        let mut buf = StreamBuf::new(100);
        let payload = [
            0x02, 0x05, 0x00, 0x01, 0x00, 0x03, 0x01, 0x00, // ACK with one extra range
            0x06, 0x03, 0x02, b'd', b'e', // CRYPTO offset 3 "de"
            0x01, 0x00, 0x00, // PING, PADDING
            0x06, 0x00, 0x03, b'a', b'b', b'c', // CRYPTO offset 0 "abc"
            0x00, 0x00,
        ];
        collect_crypto(&payload, &mut buf).unwrap();
        assert_eq!(buf.contiguous(), b"abcde");
    }

    #[test]
    fn zero_runs_of_every_length_and_alignment() {
        for len in 0..70 {
            for tail in [&[][..], &[7], &[0, 9]] {
                let mut bytes = vec![0u8; len];
                bytes.extend_from_slice(tail);
                let expect = len + tail.iter().take_while(|&&b| b == 0).count();
                assert_eq!(zero_run(&bytes), expect, "{len} zeros then {tail:?}");
                assert_eq!(
                    zero_run(&bytes[1.min(bytes.len())..]),
                    expect.saturating_sub(1)
                );
            }
        }
    }

    #[test]
    fn unknown_frame_is_malformed() {
        let mut buf = StreamBuf::new(100);
        assert!(matches!(
            collect_crypto(&[0x08, 0x00], &mut buf),
            Err(QuicError::Malformed(_))
        ));
    }

    #[test]
    fn crypto_length_beyond_payload_is_malformed() {
        let mut buf = StreamBuf::new(100);
        assert_eq!(
            collect_crypto(&[0x06, 0x00, 0x05, b'a'], &mut buf),
            Err(TRUNCATED)
        );
    }

    #[test]
    fn connection_close_and_ack_ecn_are_skipped() {
        let mut buf = StreamBuf::new(100);
        let payload = [
            0x03, 0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, // ACK_ECN
            0x1c, 0x0a, 0x00, 0x02, b'n', b'o', // CONNECTION_CLOSE
            0x06, 0x00, 0x01, b'x',
        ];
        collect_crypto(&payload, &mut buf).unwrap();
        assert_eq!(buf.contiguous(), b"x");
    }
}
