//! The one check of a name taken from the wire (TLS and QUIC SNI, HTTP Host, DNS query name)
//! before it names a flow: a host name in the sense of RFC 1035 section 2.3.4 and RFC 1123
//! section 2.1, as resolvers and certificates see it.
//!
//! A name is at most 253 bytes (one trailing dot is dropped first), made of labels of 1 to 63
//! bytes separated by single dots; a label holds ASCII letters, digits, `-` and `_` (service
//! labels such as `_dmarc`, and real host names, use it). IP address literals pass (digits and
//! dots; an IPv6 literal of the HTTP Host, brackets removed, is checked as hex digits and
//! colons). Anything else (`....`, an empty label, a space, a slash, a byte above 0x7f, a label
//! of 64 bytes) is refused with a [`BadName`] that the extractors turn into their `BadName` error,
//! counted as `bad_name`: a name that no resolver would look up cannot name a flow.
//!
//! It does not lower-case or allocate; [`host_name`] does both once the name passed.

use std::net::Ipv6Addr;
use std::sync::Arc;

/// Longest host name without the trailing dot (RFC 1035 section 2.3.4: 255 bytes on the wire).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 section 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name from the wire is not a host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    #[error("empty name")]
    Empty,
    #[error("name longer than 253 bytes")]
    TooLong,
    #[error("empty label")]
    EmptyLabel,
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    #[error("byte {0:#04x} cannot be in a host name")]
    BadByte(u8),
}

/// Checks `name` (one trailing dot allowed) and returns it without that dot.
pub fn check(name: &[u8]) -> Result<&[u8], BadName> {
    let mut scratch = [0u8; MAX_NAME_LEN];
    lower_into(name, &mut scratch).map(|n| &name[..n])
}

/// Checks `name` and writes it lower-cased, without its trailing dot, into `out`, in one pass;
/// returns its length.
fn lower_into(name: &[u8], out: &mut [u8; MAX_NAME_LEN]) -> Result<usize, BadName> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(BadName::TooLong);
    }
    let mut label = 0usize;
    for (o, &b) in out.iter_mut().zip(name) {
        match b {
            b'.' if label == 0 => return Err(BadName::EmptyLabel),
            b'.' => label = 0,
            _ if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' => {
                label += 1;
                if label > MAX_LABEL_LEN {
                    return Err(BadName::LabelTooLong);
                }
            }
            b':' => return ipv6_literal(name, out),
            _ => return Err(BadName::BadByte(b)),
        }
        *o = b.to_ascii_lowercase();
    }
    if label == 0 {
        return Err(BadName::EmptyLabel);
    }
    Ok(name.len())
}

/// An IPv6 address literal (the HTTP Host `[2001:db8::1]`, brackets removed), checked and
/// written lower-cased into `out`; its length.
fn ipv6_literal(name: &[u8], out: &mut [u8; MAX_NAME_LEN]) -> Result<usize, BadName> {
    if let Some(&b) = name
        .iter()
        .find(|&&b| !(b.is_ascii_hexdigit() || b == b':' || b == b'.'))
    {
        return Err(BadName::BadByte(b));
    }
    let text = std::str::from_utf8(name).map_err(|_| BadName::BadByte(b':'))?;
    text.parse::<Ipv6Addr>()
        .map_err(|_| BadName::BadByte(b':'))?;
    for (o, &b) in out.iter_mut().zip(name) {
        *o = b.to_ascii_lowercase();
    }
    Ok(name.len())
}

/// The name checked, lower-cased, without its trailing dot, as shared text (one allocation:
/// flows, DNS answers and records all hold it).
pub fn host_name(name: &[u8]) -> Result<Arc<str>, BadName> {
    let mut lower = [0u8; MAX_NAME_LEN];
    let len = lower_into(name, &mut lower)?;
    // Only ASCII bytes passed the check.
    std::str::from_utf8(&lower[..len])
        .map(Arc::from)
        .map_err(|_| BadName::BadByte(0x80))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_pass_lower_cased_without_trailing_dot() {
        assert_eq!(
            host_name(b"WWW.Example.COM.").as_deref(),
            Ok("www.example.com")
        );
        assert_eq!(
            host_name(b"_dmarc.example.com").as_deref(),
            Ok("_dmarc.example.com")
        );
        assert_eq!(
            host_name(b"xn--bcher-kva.de").as_deref(),
            Ok("xn--bcher-kva.de")
        );
        assert_eq!(host_name(b"localhost").as_deref(), Ok("localhost"));
        assert_eq!(host_name(b"192.0.2.1").as_deref(), Ok("192.0.2.1"));
        assert_eq!(host_name(b"2001:DB8::1").as_deref(), Ok("2001:db8::1"));
    }

    #[test]
    fn dots_only_and_empty_labels_are_refused() {
        assert_eq!(check(b"...."), Err(BadName::EmptyLabel));
        assert_eq!(check(b"."), Err(BadName::Empty));
        assert_eq!(check(b""), Err(BadName::Empty));
        assert_eq!(check(b"a..b"), Err(BadName::EmptyLabel));
        assert_eq!(check(b".a.b"), Err(BadName::EmptyLabel));
        assert_eq!(check(b"a.b.."), Err(BadName::EmptyLabel));
    }

    #[test]
    fn bad_bytes_are_refused_naming_the_byte() {
        assert_eq!(check(b"a b.com"), Err(BadName::BadByte(b' ')));
        assert_eq!(check(b"a/b.com"), Err(BadName::BadByte(b'/')));
        assert_eq!(check(b"a\x00b.com"), Err(BadName::BadByte(0)));
        assert_eq!(check("bücher.de".as_bytes()), Err(BadName::BadByte(0xc3)));
        assert_eq!(check(b"*.example.com"), Err(BadName::BadByte(b'*')));
        assert_eq!(check(b"[::1]"), Err(BadName::BadByte(b'[')));
        assert_eq!(check(b"a:b:zz"), Err(BadName::BadByte(b'z')));
        assert_eq!(
            check(b"1:2"),
            Err(BadName::BadByte(b':')),
            "not an IPv6 address"
        );
    }

    #[test]
    fn lengths_are_bounded_at_253_and_63() {
        let label63 = "a".repeat(63);
        let ok = [label63.as_str(); 3].join(".")
            + ".abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0";
        assert_eq!(ok.len(), 255);
        let fits = &ok[..253];
        assert!(check(fits.as_bytes()).is_ok());
        assert_eq!(check(format!("{fits}.").as_bytes()), Ok(fits.as_bytes()));
        assert_eq!(check(&ok.as_bytes()[..254]), Err(BadName::TooLong));
        assert_eq!(check("a".repeat(64).as_bytes()), Err(BadName::LabelTooLong));
        assert!(check(label63.as_bytes()).is_ok());
    }
}
