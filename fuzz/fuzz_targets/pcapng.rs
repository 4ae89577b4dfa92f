//! A pcapng file (sections of either byte order, any number of interfaces): what the reader
//! yields lies within the file and in the block it came from, and reading ends.
#![no_main]

use dataplane::capture::Format;
use libfuzzer_sys::fuzz_target;

include!("capture_common.rs");

fuzz_target!(|data: &[u8]| {
    if !data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        return;
    }
    read_capture(data, Format::Pcapng);
});
