//! The HTTP/1.x request-head parser (Host, or the authority of CONNECT or an absolute-form
//! target). Checks: a name found is a valid host name without `:port`; once a prefix of the
//! stream gives an answer, the whole stream gives the same; a stream that needs more bytes
//! needed them at every prefix; whatever `looks_like_request` refuses is never a request.
#![no_main]

use dataplane::inspect::http::{looks_like_request, parse_request_host, HttpError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let full = parse_request_host(stream);
    if let Ok(Some(name)) = &full {
        fuzzcheck::check_host_name("host", name);
        // One colon is a `host:port` left whole; IPv6 literals have two or more.
        assert_ne!(name.matches(':').count(), 1, "port left in {name:?}");
    }
    if !looks_like_request(stream) {
        assert!(
            full.is_err(),
            "a request that does not look like one: {full:?}"
        );
    }
    let at = usize::from(cut) * stream.len() / 256;
    let prefix = parse_request_host(&stream[..at]);
    if let Ok(p) = &prefix {
        assert_eq!(
            full.as_ref(),
            Ok(p),
            "a complete head changed with more bytes"
        );
    }
    if full == Err(HttpError::Incomplete) {
        assert_eq!(
            prefix,
            Err(HttpError::Incomplete),
            "prefix of an incomplete head"
        );
    }
});
