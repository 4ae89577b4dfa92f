//! Naming a flow from its first bytes: TLS ClientHello SNI and ALPN ([`tls`]), HTTP/1.x Host
//! ([`http`]), DNS query names and answers ([`dns`]), QUIC Initial SNI ([`quic`]). Each extractor
//! is a pure function over bytes with its own error type; the per-flow state that feeds them
//! (stream reassembly, [`stream`]) lives beside them. Names come out lower-cased, without a
//! trailing dot (see [`normalize_name`]).

pub mod dns;
pub mod http;
pub mod namer;
pub mod quic;
pub mod stream;
pub mod tls;

/// Lower-cases `name` and strips one trailing dot. Returns `None` for an empty name or one with
/// bytes that cannot be in a host name (controls, spaces, non-UTF-8).
pub fn normalize_name(name: &[u8]) -> Option<String> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    if !name
        .iter()
        .all(|&b| b.is_ascii_graphic() && b != b'/' && b != b'\\')
    {
        return None;
    }
    Some(String::from_utf8_lossy(name).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::normalize_name;

    #[test]
    fn normalize_lowercases_and_strips_trailing_dot() {
        assert_eq!(
            normalize_name(b"WWW.Ntop.ORG.").as_deref(),
            Some("www.ntop.org")
        );
        assert_eq!(normalize_name(b"a.b").as_deref(), Some("a.b"));
    }

    #[test]
    fn normalize_rejects_empty_and_control_bytes() {
        assert_eq!(normalize_name(b""), None);
        assert_eq!(normalize_name(b"."), None);
        assert_eq!(normalize_name(b"a\x00b"), None);
        assert_eq!(normalize_name(b"a b"), None);
    }
}
