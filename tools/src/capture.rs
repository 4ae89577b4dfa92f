//! Assembling captures from flows: merge the flows' frames in time order, write them as a
//! classic pcap or a pcapng with one interface per link type, and write the flows' expected
//! records as JSON lines (in order of each flow's first packet).

use thiserror::Error;

use crate::flow::Flow;
use crate::packets::Frame;
use crate::pcap_writer::{Endian, LinkType, PcapWriter, PcapngWriter, TsResolution, WriteError};

/// Snapshot length written in file and interface headers.
pub const SNAPLEN: u32 = 262_144;

/// Errors while assembling a capture.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// The writer refused a record.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A frame of a link type the file has no interface for.
    #[error("frame with link type {0} in a capture that has no such interface")]
    LinkTypeMismatch(u16),
    /// An expected record could not be serialized.
    #[error("cannot serialize expected flow: {0}")]
    Json(#[from] serde_json::Error),
}

/// All frames of `flows`, merged by timestamp (stable: a tie keeps flow order).
pub fn merged_frames(flows: &[Flow]) -> Vec<Frame> {
    let mut frames: Vec<Frame> = flows
        .iter()
        .flat_map(|f| f.frames.iter().cloned())
        .collect();
    frames.sort_by_key(|f| f.ts_ns);
    frames
}

/// A classic pcap of `frames`, all of which must have `link_type`.
pub fn write_pcap(
    frames: &[Frame],
    link_type: LinkType,
    resolution: TsResolution,
    endian: Endian,
) -> Result<Vec<u8>, CaptureError> {
    let mut w = PcapWriter::new(link_type, resolution, endian, SNAPLEN);
    for f in frames {
        if f.link_type != link_type {
            return Err(CaptureError::LinkTypeMismatch(f.link_type.0));
        }
        w.write_packet(f.ts_ns, &f.bytes)?;
    }
    Ok(w.into_bytes())
}

/// One pcapng interface: link type, timestamp resolution, name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface<'a> {
    /// Link type of its frames.
    pub link_type: LinkType,
    /// Timestamp resolution (`if_tsresol`).
    pub resolution: TsResolution,
    /// `if_name`.
    pub name: &'a str,
}

/// A pcapng of `frames`; each frame goes to the first interface of its link type.
pub fn write_pcapng(
    frames: &[Frame],
    interfaces: &[Interface<'_>],
) -> Result<Vec<u8>, CaptureError> {
    let mut w = PcapngWriter::new();
    let mut ids = Vec::with_capacity(interfaces.len());
    for i in interfaces {
        ids.push((
            i.link_type,
            w.add_interface(i.link_type, i.resolution, i.name, SNAPLEN)?,
        ));
    }
    for f in frames {
        let id = ids
            .iter()
            .find(|(lt, _)| *lt == f.link_type)
            .map(|(_, id)| *id)
            .ok_or(CaptureError::LinkTypeMismatch(f.link_type.0))?;
        w.write_packet(id, f.ts_ns, &f.bytes)?;
    }
    Ok(w.into_bytes())
}

/// The expected records of `flows`, one JSON object per line, by first packet time.
pub fn expected_jsonl(flows: &[Flow]) -> Result<String, CaptureError> {
    let mut order: Vec<&Flow> = flows.iter().collect();
    order.sort_by_key(|f| f.first_ts());
    let mut out = String::new();
    for f in order {
        out.push_str(&serde_json::to_string(&f.expected())?);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::AppInfo;
    use crate::packets::{Link, Path};
    use crate::UdpExchange;

    fn flow(start: u64, link: Link) -> Flow {
        let ex = UdpExchange::new(
            "10.0.0.1:1000".parse().unwrap(),
            "10.0.0.2:53".parse().unwrap(),
            Path::on(link),
            start,
        )
        .client_sends(vec![1])
        .server_sends(vec![2]);
        Flow::udp(&ex, AppInfo::opaque()).unwrap()
    }

    #[test]
    fn frames_merge_in_time_order_and_expected_follows_first_packets() {
        let flows = vec![flow(5_000_000, Link::RawIp), flow(0, Link::RawIp)];
        let frames = merged_frames(&flows);
        assert!(frames.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        let jsonl = expected_jsonl(&flows).unwrap();
        assert_eq!(jsonl.lines().count(), 2);
        let pcap = write_pcap(&frames, LinkType::RAW, TsResolution::Micro, Endian::Little).unwrap();
        assert_eq!(
            pcap.len(),
            24 + 4 * 16 + frames.iter().map(|f| f.bytes.len()).sum::<usize>()
        );
    }

    #[test]
    fn frames_of_a_missing_link_type_are_refused() {
        let frames = merged_frames(&[flow(0, Link::ethernet())]);
        assert!(matches!(
            write_pcap(&frames, LinkType::RAW, TsResolution::Micro, Endian::Little),
            Err(CaptureError::LinkTypeMismatch(1))
        ));
        let ifs = [Interface {
            link_type: LinkType::RAW,
            resolution: TsResolution::Nano,
            name: "raw",
        }];
        assert!(matches!(
            write_pcapng(&frames, &ifs),
            Err(CaptureError::LinkTypeMismatch(1))
        ));
    }
}
