//! Naming a flow from its first bytes: TLS ClientHello SNI and ALPN ([`tls`]), HTTP/1.x Host
//! ([`http`]), DNS query names and answers ([`dns`]), QUIC Initial SNI ([`quic`]). Each extractor
//! is a pure function over bytes with its own error type; the per-flow state that feeds them
//! (stream reassembly, [`stream`]) lives beside them. Names come out lower-cased, without a
//! trailing dot (see [`normalize_name`]).

pub mod dns;
pub mod hostname;
pub mod http;
pub mod namer;
pub mod quic;
pub mod stream;
pub mod tls;

use std::sync::Arc;

/// Lower-cases `name` and strips one trailing dot. Returns `None` for anything that is not a
/// host name ([`hostname::check`]: an empty name or label, bytes that cannot be in a host name,
/// too long). The name is shared text made with one allocation: flows, DNS answers and records
/// all hold it.
pub fn normalize_name(name: &[u8]) -> Option<Arc<str>> {
    hostname::host_name(name).ok()
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

    /// Found by the `gquic` fuzz target: a CHLO whose SNI was `.1` named the flow `.1`.
    #[test]
    fn normalize_rejects_empty_labels() {
        for name in [&b".1"[..], b"....", b"a..b", b".a.b", b"a.b..", b".."] {
            assert_eq!(
                normalize_name(name),
                None,
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
        assert_eq!(normalize_name(b"a.b.").as_deref(), Some("a.b"));
    }
}
