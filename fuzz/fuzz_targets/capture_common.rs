// Shared by the `pcap` and `pcapng` targets (included with `include!`, so each stays one file).

/// Reads a capture held in `data` to its end and checks what the reader yields: every packet's
/// bytes lie within the file, the reported offset never goes back nor past the end, and the
/// reader ends within one item per 12 bytes of file (the smallest pcap record header is 16 bytes
/// and the smallest pcapng block 12).
fn read_capture(data: &[u8], expect: dataplane::capture::Format) {
    use dataplane::capture::Capture;
    let Ok(capture) = Capture::from_bytes("fuzz", data.to_vec()) else {
        return;
    };
    assert_eq!(capture.format(), expect, "format detected by magic");
    assert_eq!(capture.len(), data.len());
    let whole = capture.bytes();
    assert_eq!(whole, data, "the capture holds the input as given");
    let mut packets = capture.packets();
    let mut last_offset = 0;
    let mut items = 0usize;
    while let Some(item) = packets.next() {
        items += 1;
        assert!(
            items <= data.len() / 12 + 1,
            "{items} items out of a {}-byte file",
            data.len()
        );
        let offset = packets.offset();
        assert!(offset >= last_offset, "offset went back: {last_offset} -> {offset}");
        assert!(offset <= data.len(), "offset {offset} past the end {}", data.len());
        if let Ok(p) = item {
            fuzzcheck::check_within("packet data", whole, p.data);
            // The packet lies in the record just read.
            let at = p.data.as_ptr() as usize - whole.as_ptr() as usize;
            assert!(
                at >= last_offset && at + p.data.len() <= offset,
                "packet at {at}..{} outside its record {last_offset}..{offset}",
                at + p.data.len()
            );
        }
        last_offset = offset;
    }
}
