//! The TLS ClientHello parser, from the record layer (TCP) and from a bare handshake message
//! (QUIC CRYPTO data). Checks: a name found is a valid host name; once the bytes so far give an
//! answer, more bytes do not change it, and a stream that needs more bytes needed them at every
//! prefix too; a handshake message gives the same hello whether it is parsed bare or carried in
//! records split wherever the input says.
#![no_main]

use dataplane::inspect::tls::{
    parse_client_hello_handshake, parse_client_hello_records, ClientHello, TlsError,
};
use fuzzcheck::Choices;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let full = parse_client_hello_records(rest);
        check(&full);
        let cut = usize::from(mode >> 1) * rest.len() / 128;
        let prefix = parse_client_hello_records(&rest[..cut]);
        if let Ok(h) = &prefix {
            assert_eq!(
                full.as_ref(),
                Ok(h),
                "a complete hello changed with more bytes"
            );
        }
        if full == Err(TlsError::Incomplete) {
            assert_eq!(
                prefix,
                Err(TlsError::Incomplete),
                "prefix of an incomplete stream"
            );
        }
    } else {
        // [cut sizes][message]: the first byte says how many record sizes follow.
        let mut c = Choices::new(rest);
        let n = usize::from(c.u8() % 8);
        let sizes: Vec<usize> = (0..n).map(|_| 1 + usize::from(c.u16() % 16384)).collect();
        let msg = c.rest();
        let bare = parse_client_hello_handshake(msg);
        check(&bare);
        if let Ok(h) = &bare {
            let stream = in_records(msg, &sizes);
            assert_eq!(
                parse_client_hello_records(&stream).as_ref(),
                Ok(h),
                "the same message in records of {sizes:?}"
            );
        }
    }
});

fn check(r: &Result<ClientHello, TlsError>) {
    if let Ok(h) = r {
        if let Some(name) = &h.sni {
            fuzzcheck::check_host_name("sni", name);
        }
        for p in h.alpn.iter() {
            assert!(!p.is_empty(), "empty ALPN protocol kept");
        }
    }
}

/// `msg` as TLS handshake records: the first ones of the given sizes, the rest in records of
/// at most 16 KiB.
fn in_records(msg: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    let mut rest = msg;
    let mut sizes = sizes.iter().copied();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(16384).min(rest.len());
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
    }
    out
}
