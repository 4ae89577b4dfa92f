//! A pcap file (either byte order, micro- or nanosecond, Kuznetzov's modified format): what the
//! reader yields lies within the file and in the record it came from, and reading ends.
#![no_main]

use dataplane::capture::Format;
use libfuzzer_sys::fuzz_target;

include!("capture_common.rs");

fuzz_target!(|data: &[u8]| {
    // Other magics belong to the pcapng target.
    if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        return;
    }
    read_capture(data, Format::Pcap);
});
