//! HTTP/1.1 payload builders (RFC 9112): a GET request with a Host header (optionally with
//! `:port`) and a response with a body of filler bytes.

use std::ops::Range;

use crate::rng::Rng;

/// A GET request for `path` with `Host: host_header` (e.g. `example.com` or
/// `example.com:8080`).
pub fn get_request(host_header: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\n\
         Host: {host_header}\r\n\
         User-Agent: Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile\r\n\
         Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n\
         Accept-Language: en-US,en;q=0.9\r\n\
         Connection: keep-alive\r\n\r\n"
    )
    .into_bytes()
}

/// A `200 OK` response with `body_len` bytes of printable filler.
pub fn ok_response(rng: &mut Rng, body_len: usize) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {body_len}\r\n\
         Cache-Control: max-age=600\r\nServer: fixture\r\n\r\n"
    )
    .into_bytes();
    out.extend((0..body_len).map(|_| b'a' + (rng.next_u32() % 26) as u8));
    out
}

/// Where the value of the Host header sits in a request (to cut a segment inside it).
pub fn host_value_range(request: &[u8]) -> Option<Range<usize>> {
    const NAME: &[u8] = b"\r\nHost: ";
    let start = request.windows(NAME.len()).position(|w| w == NAME)? + NAME.len();
    let len = request
        .get(start..)?
        .windows(2)
        .position(|w| w == b"\r\n")?;
    Some(start..start + len)
}

/// The host name of a Host header value, without its port (`[v6]:port` keeps the brackets'
/// content).
pub fn host_without_port(host_header: &str) -> &str {
    if let Some(rest) = host_header.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_header.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_header,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_host_header_at_reported_range() {
        let r = get_request("shop.example.com:8080", "/cart");
        assert!(r.starts_with(b"GET /cart HTTP/1.1\r\n"));
        let range = host_value_range(&r).unwrap();
        assert_eq!(&r[range], b"shop.example.com:8080");
        assert!(r.ends_with(b"\r\n\r\n"));
    }

    #[test]
    fn port_is_stripped_from_host() {
        assert_eq!(host_without_port("a.example:8080"), "a.example");
        assert_eq!(host_without_port("a.example"), "a.example");
        assert_eq!(host_without_port("[2001:db8::1]:80"), "2001:db8::1");
    }

    #[test]
    fn response_declares_its_body_length() {
        let mut rng = Rng::new(1);
        let r = ok_response(&mut rng, 300);
        let text = String::from_utf8(r.clone()).unwrap();
        assert!(text.contains("Content-Length: 300\r\n"));
        let head = text.find("\r\n\r\n").unwrap() + 4;
        assert_eq!(r.len() - head, 300);
    }
}
