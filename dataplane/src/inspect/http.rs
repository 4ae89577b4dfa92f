//! HTTP/1.x request head: Host header, or the authority of CONNECT.
//!
//! Follows RFC 9112 §2.2 (line endings: CRLF, bare LF tolerated), §3 (request line,
//! request-target forms), §3.2 and §5 (fields, obsolete line folding) and RFC 9110 §7.2 (Host),
//! §9.3.6 (CONNECT). The whole head, up to its empty line, must be present before an answer is
//! given, so a Host header split across TCP segments is never read half-way; a head longer than
//! [`MAX_HEAD_LEN`] without an end is not taken for HTTP. Bodies, HTTP/2 and responses are out of
//! scope. Nothing is allocated but the returned name.

use super::hostname::{host_name, BadName};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("incomplete HTTP request head")]
    Incomplete,
    #[error("not an HTTP/1.x request")]
    NotHttp,
    /// A Host (or CONNECT authority) that is not a host name ([`super::hostname`]).
    #[error("bad host: {0}")]
    BadName(BadName),
}

/// The longest request head looked at; one without its end within this many bytes is `NotHttp`.
pub const MAX_HEAD_LEN: usize = 16 * 1024;

/// Request methods recognised (RFC 9110 §9 and the WebDAV ones of RFC 4918, 3253, 5323, 4791).
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"PATCH",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
    b"MKCALENDAR",
];

const CONNECT: &[u8] = b"CONNECT";
const HTTP1_VERSION_PREFIX: &[u8] = b"HTTP/1.";
const HOST: &[u8] = b"host";

/// The host a request goes to (Host header, or CONNECT authority), normalised and without
/// `:port`. `Ok(None)`: a complete request head that names no host (HTTP/1.0 without Host).
pub fn parse_request_host(stream: &[u8]) -> Result<Option<Arc<str>>, HttpError> {
    if stream.is_empty() {
        return Err(HttpError::Incomplete);
    }
    if !looks_like_request(stream) {
        return Err(HttpError::NotHttp);
    }
    let head = stream.get(..MAX_HEAD_LEN).unwrap_or(stream);
    let mut lines = Lines { rest: head };
    let Some(request_line) = lines.next() else {
        return Err(incomplete_or_too_long(stream));
    };
    let (method, target) = split_request_line(request_line)?;

    let mut host: Option<&[u8]> = None;
    let mut last_was_host = false;
    let mut ended = false;
    for line in lines.by_ref() {
        if line.is_empty() {
            ended = true;
            break;
        }
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            // obs-fold: a continuation of the previous field line (RFC 9112 §5.2).
            if last_was_host && host.is_some_and(<[u8]>::is_empty) {
                host = Some(trim(line));
            }
            continue;
        }
        last_was_host = false;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        if host.is_none() && name.eq_ignore_ascii_case(HOST) {
            host = Some(trim(value.get(1..).unwrap_or(&[])));
            last_was_host = true;
        }
    }
    if !ended {
        return Err(incomplete_or_too_long(stream));
    }

    let target_authority = if method == CONNECT {
        Some(target)
    } else {
        absolute_form_authority(target)
    };
    let host = host.filter(|h| !h.is_empty());
    let authority = if method == CONNECT {
        target_authority.or(host)
    } else {
        host.or(target_authority)
    };
    authority
        .map(host_of_authority)
        .transpose()
        .map_err(HttpError::BadName)
}

/// Whether `start` can be the beginning of an HTTP/1.x request (a known method and a space, or
/// a prefix of one). Cheap; used to pick the extractor for a new flow. An empty `start` proves
/// nothing and gives `false`.
pub fn looks_like_request(start: &[u8]) -> bool {
    !start.is_empty()
        && METHODS.iter().any(|method| {
            let expected = method.iter().chain(std::iter::once(&b' '));
            // Compares up to the method and its space: a prefix, or the whole and more.
            start.iter().zip(expected).all(|(a, b)| a == b)
        })
}

/// A head without its end: more may come, unless the bound is already reached.
fn incomplete_or_too_long(stream: &[u8]) -> HttpError {
    if stream.len() >= MAX_HEAD_LEN {
        HttpError::NotHttp
    } else {
        HttpError::Incomplete
    }
}

/// Complete lines of a head, without their LF and an optional CR before it. A last line that
/// has no LF yet is not given.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let lf = self.rest.iter().position(|&b| b == b'\n')?;
        let (line, rest) = self.rest.split_at(lf);
        self.rest = rest.get(1..).unwrap_or(&[]);
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// Splits `method SP request-target SP HTTP-version` and checks the version is HTTP/1.x.
fn split_request_line(line: &[u8]) -> Result<(&[u8], &[u8]), HttpError> {
    let space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(HttpError::NotHttp)?;
    let (method, rest) = line.split_at(space);
    let rest = trim(rest);
    let last_space = rest
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(HttpError::NotHttp)?;
    let (target, version) = rest.split_at(last_space);
    let version = trim(version);
    let target = trim(target);
    if target.is_empty() || !version.starts_with(HTTP1_VERSION_PREFIX) {
        return Err(HttpError::NotHttp);
    }
    Ok((method, target))
}

/// The authority of an absolute-form target (`http://user@host:port/path`), if it is one.
fn absolute_form_authority(target: &[u8]) -> Option<&[u8]> {
    let sep = target.windows(3).position(|w| w == b"://")?;
    let scheme = target.get(..sep)?;
    if scheme.is_empty()
        || !scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
    {
        return None;
    }
    let rest = target.get(sep + 3..)?;
    let end = rest
        .iter()
        .position(|b| b"/?#".contains(b))
        .unwrap_or(rest.len());
    let authority = rest.get(..end)?;
    // Drop any userinfo.
    let host_start = authority
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(0, |at| at + 1);
    authority.get(host_start..)
}

/// The host of `host[:port]` or `[v6]:port`, normalised; IPv6 literals come without brackets.
fn host_of_authority(authority: &[u8]) -> Result<Arc<str>, BadName> {
    let authority = trim(authority);
    if let Some(inner) = authority.strip_prefix(b"[") {
        let close = inner
            .iter()
            .position(|&b| b == b']')
            .ok_or(BadName::BadByte(b'['))?;
        let literal = inner.get(..close).unwrap_or_default();
        // Brackets hold an IPv6 address (RFC 3986 section 3.2.2), nothing else.
        if !literal.contains(&b':') {
            return Err(BadName::BadByte(b'['));
        }
        return host_name(literal);
    }
    let mut colons = authority.iter().enumerate().filter(|(_, &b)| b == b':');
    let host = match (colons.next(), colons.next()) {
        (Some((at, _)), None) => authority.get(..at).unwrap_or_default(),
        // No port, or a bare IPv6 address (not allowed, but unambiguous enough).
        _ => authority,
    };
    host_name(host)
}

/// Strips optional whitespace (SP, HTAB) at both ends.
fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Found by the `http` fuzz target: `Host: [:443]` named the flow `:443`.
    #[test]
    fn bracketed_host_must_be_an_ipv6_address() {
        let head = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        for bad in ["[:443]", "[a.b]:80"] {
            assert!(
                matches!(
                    parse_request_host(head(bad).as_bytes()),
                    Err(HttpError::BadName(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            parse_request_host(head("[2001:DB8::1]:8080").as_bytes())
                .unwrap()
                .as_deref(),
            Some("2001:db8::1")
        );
    }

    fn host(s: &str) -> Result<Option<Arc<str>>, HttpError> {
        Ok(Some(s.into()))
    }

    /// Every proper prefix is Incomplete; the whole gives `want`.
    fn assert_prefixes(request: &[u8], want: Result<Option<Arc<str>>, HttpError>) {
        for n in 0..request.len() {
            assert_eq!(
                parse_request_host(&request[..n]),
                Err(HttpError::Incomplete),
                "prefix of {n} bytes: {:?}",
                String::from_utf8_lossy(&request[..n])
            );
        }
        assert_eq!(parse_request_host(request), want);
    }

    const BROWSER_GET: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\
        Accept: text/html\r\n\
        Host: www.ntop.org\r\n\
        Connection: keep-alive\r\n\r\n";

    #[test]
    fn every_prefix_is_incomplete_then_the_host() {
        assert_prefixes(BROWSER_GET, host("www.ntop.org"));
    }

    #[test]
    fn body_after_head_is_ignored() {
        let mut request = b"POST /api HTTP/1.1\r\nHost: api.example.com\r\n\
            Content-Length: 5\r\n\r\n"
            .to_vec();
        request.extend_from_slice(b"hello");
        assert_eq!(parse_request_host(&request), host("api.example.com"));
    }

    #[test]
    fn port_is_stripped_and_name_lower_cased() {
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nHost: WWW.Example.COM:8080\r\n\r\n"),
            host("www.example.com")
        );
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nhOsT: Example.com.\r\n\r\n"),
            host("example.com")
        );
    }

    #[test]
    fn ipv6_literal_host_loses_brackets_and_port() {
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8080\r\n\r\n"),
            host("2001:db8::1")
        );
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n"),
            host("::1")
        );
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
            Err(HttpError::BadName(BadName::BadByte(b'[')))
        );
    }

    #[test]
    fn host_that_is_not_a_host_name_is_a_bad_name() {
        for (head, why) in [
            (
                &b"GET / HTTP/1.1\r\nHost: ....\r\n\r\n"[..],
                BadName::EmptyLabel,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a b.com\r\n\r\n",
                BadName::BadByte(b' '),
            ),
            (b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", BadName::Empty),
            (
                b"CONNECT a..b:443 HTTP/1.1\r\nHost: ok.com\r\n\r\n",
                BadName::EmptyLabel,
            ),
        ] {
            assert_eq!(parse_request_host(head), Err(HttpError::BadName(why)));
        }
    }

    #[test]
    fn ipv4_host_with_port() {
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.0\r\nHost: 192.168.1.1:80\r\n\r\n"),
            host("192.168.1.1")
        );
    }

    #[test]
    fn connect_uses_its_authority() {
        let request = b"CONNECT Proxy.Example.net:443 HTTP/1.1\r\n\
            Host: other.example.net:443\r\n\r\n";
        assert_prefixes(request, host("proxy.example.net"));
        assert_eq!(
            parse_request_host(b"CONNECT [2001:db8::2]:443 HTTP/1.1\r\n\r\n"),
            host("2001:db8::2")
        );
    }

    #[test]
    fn absolute_form_host_used_without_host_header() {
        assert_eq!(
            parse_request_host(b"GET http://User:pw@Abs.Example.com:8080/x?y HTTP/1.1\r\n\r\n"),
            host("abs.example.com")
        );
        assert_eq!(
            parse_request_host(b"GET https://abs.example.com HTTP/1.1\r\nAccept: */*\r\n\r\n"),
            host("abs.example.com")
        );
        // With a Host header, the header names the flow.
        assert_eq!(
            parse_request_host(
                b"GET http://abs.example.com/ HTTP/1.1\r\nHost: h.example.com\r\n\r\n"
            ),
            host("h.example.com")
        );
    }

    #[test]
    fn no_host_gives_none() {
        assert_prefixes(b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", Ok(None));
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"),
            Ok(None)
        );
        assert_eq!(parse_request_host(b"GET /a/b HTTP/1.1\r\n\r\n"), Ok(None));
    }

    #[test]
    fn odd_spacing_and_bare_lf() {
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\nHost:\t  tab.example.com \t\nX: y\n\n"),
            host("tab.example.com")
        );
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nHost:nospace.example.com\r\n\r\n"),
            host("nospace.example.com")
        );
        // The first Host wins; other headers that merely contain "host" do not count.
        assert_eq!(
            parse_request_host(
                b"GET / HTTP/1.1\r\nX-Forwarded-Host: x.example\r\nHost: a.example\r\nHost: b.example\r\n\r\n"
            ),
            host("a.example")
        );
        // Whitespace before the colon makes it another field name.
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nHost : a.example\r\n\r\n"),
            Ok(None)
        );
    }

    #[test]
    fn folded_host_value_is_read_from_its_continuation() {
        assert_eq!(
            parse_request_host(
                b"GET / HTTP/1.1\r\nHost:\r\n   folded.example.com\r\nAccept: */*\r\n\r\n"
            ),
            host("folded.example.com")
        );
        // A fold after a complete Host value does not change it.
        assert_eq!(
            parse_request_host(b"GET / HTTP/1.1\r\nHost: a.example\r\n b.example\r\n\r\n"),
            host("a.example")
        );
    }

    #[test]
    fn host_split_across_segments_waits_for_the_end_of_head() {
        let request = b"GET / HTTP/1.1\r\nHost: split.example.com\r\n\r\n";
        let cut = request
            .windows(5)
            .position(|w| w == b"split")
            .expect("present")
            + 3;
        assert_eq!(
            parse_request_host(&request[..cut]),
            Err(HttpError::Incomplete)
        );
        assert_eq!(parse_request_host(request), host("split.example.com"));
    }

    #[test]
    fn not_http_is_rejected_early() {
        assert_eq!(
            parse_request_host(b"SSH-2.0-OpenSSH_9.6\r\n"),
            Err(HttpError::NotHttp)
        );
        assert_eq!(
            parse_request_host(&[22, 3, 1, 2, 0]),
            Err(HttpError::NotHttp)
        );
        assert_eq!(
            parse_request_host(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(HttpError::NotHttp)
        );
        assert_eq!(
            parse_request_host(b"GETX / HTTP/1.1\r\n"),
            Err(HttpError::NotHttp)
        );
        assert_eq!(
            parse_request_host(b"get / HTTP/1.1\r\n"),
            Err(HttpError::NotHttp)
        );
        // A request line without an HTTP/1.x version.
        assert_eq!(
            parse_request_host(b"GET / FOO/1.0\r\n\r\n"),
            Err(HttpError::NotHttp)
        );
        assert_eq!(
            parse_request_host(b"GET /\r\n\r\n"),
            Err(HttpError::NotHttp)
        );
        assert_eq!(
            parse_request_host(b"GET / HTTP/2\r\n\r\n"),
            Err(HttpError::NotHttp)
        );
    }

    #[test]
    fn huge_head_without_end_is_not_http() {
        let mut request = b"GET / HTTP/1.1\r\nHost: big.example.com\r\n".to_vec();
        while request.len() < MAX_HEAD_LEN {
            request
                .extend_from_slice(b"Cookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            parse_request_host(&request[..MAX_HEAD_LEN - 1]),
            Err(HttpError::Incomplete)
        );
        assert_eq!(parse_request_host(&request), Err(HttpError::NotHttp));
        // A request line alone longer than the bound.
        let mut long_line = b"GET /".to_vec();
        long_line.resize(MAX_HEAD_LEN + 10, b'a');
        assert_eq!(parse_request_host(&long_line), Err(HttpError::NotHttp));
    }

    #[test]
    fn looks_like_request_accepts_methods_and_their_prefixes() {
        for start in [
            &b"G"[..],
            b"GE",
            b"GET",
            b"GET ",
            b"GET /x",
            b"PROPFIND /",
            b"CONN",
            b"OPTIONS *",
        ] {
            assert!(
                looks_like_request(start),
                "{:?}",
                String::from_utf8_lossy(start)
            );
        }
        for start in [
            &b""[..],
            b"GETS",
            b"X",
            b"PRI * HTTP/2.0",
            b"\x16\x03\x01",
            b"HTTP/1.1 200 OK",
            b"GET\t/",
        ] {
            assert!(
                !looks_like_request(start),
                "{:?}",
                String::from_utf8_lossy(start)
            );
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_request_host(&bytes);
            let _ = looks_like_request(&bytes);
        }

        #[test]
        fn random_heads_after_a_method_never_panic(tail in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(b'['), Just(b']'),
                Just(b'@'), Just(b'/'), any::<u8>()], 0..256)) {
            let mut request = b"GET ".to_vec();
            request.extend_from_slice(&tail);
            let _ = parse_request_host(&request);
            let mut request = b"CONNECT ".to_vec();
            request.extend_from_slice(&tail);
            let _ = parse_request_host(&request);
        }
    }
}
