//! HTTP/1.x request head: Host header, or the authority of CONNECT.
//! (stub: interface only; to be implemented)

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("incomplete HTTP request head")]
    Incomplete,
    #[error("not an HTTP/1.x request")]
    NotHttp,
}

/// The host a request goes to (Host header, or CONNECT authority), normalised and without
/// `:port`. `Ok(None)`: a complete request head that names no host (HTTP/1.0 without Host).
pub fn parse_request_host(stream: &[u8]) -> Result<Option<String>, HttpError> {
    let _ = stream;
    todo!()
}

/// Whether `start` can be the beginning of an HTTP/1.x request (a known method and a space, or
/// a prefix of one). Cheap; used to pick the extractor for a new flow.
pub fn looks_like_request(start: &[u8]) -> bool {
    let _ = start;
    todo!()
}
