//! A capture written straight to a stream, record by record: classic pcap (microsecond
//! timestamps, little-endian; draft-ietf-opsawg-pcap) or pcapng (one section, one Ethernet
//! interface with nanosecond timestamps, Enhanced Packet Blocks; draft-ietf-opsawg-pcapng).
//!
//! Unlike [`crate::pcap_writer`], which builds a file in memory so fixtures can damage it on
//! purpose, this writer holds nothing but a buffered stream, so captures of many gigabytes
//! cost no memory.

use std::io::Write;

use crate::pcap_writer::LinkType;

/// File format of a synthesized capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Classic pcap, microsecond timestamps, little-endian.
    #[default]
    Pcap,
    /// pcapng, nanosecond timestamps.
    Pcapng,
}

/// Snapshot length written in the headers.
pub const SNAPLEN: u32 = 262_144;

/// Classic pcap layout.
mod pcap_field {
    pub const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
    pub const VERSION_MAJOR: u16 = 2;
    pub const VERSION_MINOR: u16 = 4;
    pub const RECORD_HEADER_LEN: usize = 16;
}

/// pcapng block types and options.
mod pcapng_field {
    pub const BLOCK_SHB: u32 = 0x0a0d_0d0a;
    pub const BLOCK_IDB: u32 = 0x0000_0001;
    pub const BLOCK_EPB: u32 = 0x0000_0006;
    pub const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
    pub const OPT_ENDOFOPT: u16 = 0;
    pub const OPT_IF_TSRESOL: u16 = 9;
    pub const TSRESOL_NANO: u8 = 9;
    /// Block type, block length, interface id, timestamp (2 words), captured and original
    /// lengths, trailing block length.
    pub const EPB_OVERHEAD: usize = 32;
}

/// Writes records to `out` as they come.
#[derive(Debug)]
pub struct CaptureSink<W: Write> {
    out: W,
    format: Format,
    packets: u64,
    file_bytes: u64,
}

impl<W: Write> CaptureSink<W> {
    /// Starts a capture of `link_type` frames: writes the file header (pcap) or the section
    /// header and the interface description (pcapng).
    pub fn new(mut out: W, format: Format, link_type: LinkType) -> std::io::Result<Self> {
        let mut head = Vec::with_capacity(64);
        match format {
            Format::Pcap => {
                head.extend_from_slice(&pcap_field::MAGIC_MICRO.to_le_bytes());
                head.extend_from_slice(&pcap_field::VERSION_MAJOR.to_le_bytes());
                head.extend_from_slice(&pcap_field::VERSION_MINOR.to_le_bytes());
                head.extend_from_slice(&0u32.to_le_bytes()); // thiszone
                head.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
                head.extend_from_slice(&SNAPLEN.to_le_bytes());
                head.extend_from_slice(&u32::from(link_type.0).to_le_bytes());
            }
            Format::Pcapng => {
                let mut shb = Vec::with_capacity(16);
                shb.extend_from_slice(&pcapng_field::BYTE_ORDER_MAGIC.to_le_bytes());
                shb.extend_from_slice(&1u16.to_le_bytes());
                shb.extend_from_slice(&0u16.to_le_bytes());
                shb.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
                block(&mut head, pcapng_field::BLOCK_SHB, &shb);
                let mut idb = Vec::with_capacity(20);
                idb.extend_from_slice(&link_type.0.to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                idb.extend_from_slice(&SNAPLEN.to_le_bytes());
                idb.extend_from_slice(&pcapng_field::OPT_IF_TSRESOL.to_le_bytes());
                idb.extend_from_slice(&1u16.to_le_bytes());
                idb.extend_from_slice(&[pcapng_field::TSRESOL_NANO, 0, 0, 0]);
                idb.extend_from_slice(&pcapng_field::OPT_ENDOFOPT.to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                block(&mut head, pcapng_field::BLOCK_IDB, &idb);
            }
        }
        out.write_all(&head)?;
        Ok(CaptureSink {
            out,
            format,
            packets: 0,
            file_bytes: head.len() as u64,
        })
    }

    /// Bytes a record of a `frame_len`-byte frame takes in the file.
    pub fn record_len(format: Format, frame_len: usize) -> usize {
        match format {
            Format::Pcap => pcap_field::RECORD_HEADER_LEN + frame_len,
            Format::Pcapng => pcapng_field::EPB_OVERHEAD + frame_len.next_multiple_of(4),
        }
    }

    /// Appends one frame captured whole at `ts_ns` (nanoseconds since the epoch).
    pub fn write(&mut self, ts_ns: u64, frame: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(frame.len()).map_err(|_| invalid("frame too long"))?;
        match self.format {
            Format::Pcap => {
                let secs = u32::try_from(ts_ns / 1_000_000_000)
                    .map_err(|_| invalid("timestamp past 2106"))?;
                let micros = ((ts_ns % 1_000_000_000) / 1_000) as u32; // < 10^6
                let mut h = [0u8; pcap_field::RECORD_HEADER_LEN];
                h[0..4].copy_from_slice(&secs.to_le_bytes());
                h[4..8].copy_from_slice(&micros.to_le_bytes());
                h[8..12].copy_from_slice(&len.to_le_bytes());
                h[12..16].copy_from_slice(&len.to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(frame)?;
            }
            Format::Pcapng => {
                let padded = frame.len().next_multiple_of(4);
                let total = u32::try_from(pcapng_field::EPB_OVERHEAD + padded)
                    .map_err(|_| invalid("frame too long"))?;
                let mut h = [0u8; 28];
                h[0..4].copy_from_slice(&pcapng_field::BLOCK_EPB.to_le_bytes());
                h[4..8].copy_from_slice(&total.to_le_bytes());
                // h[8..12]: interface 0.
                h[12..16].copy_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
                h[16..20].copy_from_slice(&(ts_ns as u32).to_le_bytes());
                h[20..24].copy_from_slice(&len.to_le_bytes());
                h[24..28].copy_from_slice(&len.to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(frame)?;
                self.out.write_all(&[0u8; 3][..padded - frame.len()])?;
                self.out.write_all(&total.to_le_bytes())?;
            }
        }
        self.packets += 1;
        self.file_bytes += Self::record_len(self.format, frame.len()) as u64;
        Ok(())
    }

    /// Records written.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Bytes written so far, headers included.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Flushes and returns the stream.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned())
}

/// Appends a pcapng block: type, total length, body (4-byte aligned), total length.
fn block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    let total = (body.len() + 12) as u32; // header bodies here are a few dozen bytes
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::{PcapBlockOwned, PcapError};

    fn read_back(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut reader = pcap_parser::create_reader(1 << 16, bytes).unwrap();
        let mut out = Vec::new();
        let mut ns_per_unit = 1_000u64;
        loop {
            match reader.next() {
                Ok((n, block)) => {
                    match block {
                        PcapBlockOwned::Legacy(b) => out.push((
                            u64::from(b.ts_sec) * 1_000_000_000 + u64::from(b.ts_usec) * 1_000,
                            b.data.to_vec(),
                        )),
                        PcapBlockOwned::NG(pcap_parser::Block::InterfaceDescription(_)) => {
                            ns_per_unit = 1;
                        }
                        PcapBlockOwned::NG(pcap_parser::Block::EnhancedPacket(b)) => {
                            let units = (u64::from(b.ts_high) << 32) | u64::from(b.ts_low);
                            out.push((units * ns_per_unit, b.data[..b.caplen as usize].to_vec()))
                        }
                        _ => {}
                    }
                    reader.consume(n);
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
                Err(e) => panic!("{e:?}"),
            }
        }
        out
    }

    #[test]
    fn both_formats_read_back_with_their_timestamps_and_bytes() {
        for format in [Format::Pcap, Format::Pcapng] {
            let mut sink = CaptureSink::new(Vec::new(), format, LinkType::ETHERNET).unwrap();
            sink.write(1_717_200_000_123_456_789, &[1, 2, 3, 4, 5])
                .unwrap();
            sink.write(1_717_200_001_000_000_000, &[9; 64]).unwrap();
            assert_eq!(sink.packets(), 2);
            let counted = sink.file_bytes();
            let bytes = sink.finish().unwrap();
            assert_eq!(counted, bytes.len() as u64);
            let got = read_back(&bytes);
            let first_ts = match format {
                Format::Pcap => 1_717_200_000_123_456_000,
                Format::Pcapng => 1_717_200_000_123_456_789,
            };
            assert_eq!(
                got,
                vec![
                    (first_ts, vec![1, 2, 3, 4, 5]),
                    (1_717_200_001_000_000_000, vec![9; 64])
                ],
                "{format:?}"
            );
        }
    }
}
