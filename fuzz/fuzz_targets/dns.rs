//! The DNS message parser (questions, A/AAAA answers, compression pointers), over UDP and over
//! TCP. Checks: every name is a valid host name; at most `MAX_ANSWERS` answers are kept; the id
//! and QR flag are the header's; the TCP form (length prefix) gives the same message; bytes after
//! a message that parsed do not change it.
#![no_main]

use dataplane::inspect::dns::{parse, parse_tcp, MAX_ANSWERS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = parse(data) else {
        return;
    };
    if let Some(q) = &m.qname {
        fuzzcheck::check_host_name("qname", q);
    }
    for (owner, _) in &m.answers {
        fuzzcheck::check_host_name("answer owner", owner);
    }
    assert!(m.answers.len() <= MAX_ANSWERS);
    assert_eq!(m.id, u16::from_be_bytes([data[0], data[1]]));
    assert_eq!(m.is_response, data[2] & 0x80 != 0);
    if let Ok(len) = u16::try_from(data.len()) {
        let mut tcp = len.to_be_bytes().to_vec();
        tcp.extend_from_slice(data);
        assert_eq!(parse_tcp(&tcp).as_ref(), Ok(&m), "over TCP");
    }
    let mut longer = data.to_vec();
    longer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    assert_eq!(parse(&longer).as_ref(), Ok(&m), "with bytes after it");
});
