//! Test helpers: pcap and pcapng files built byte by byte, in either byte order, so tests say
//! exactly which fields a case exercises.

/// One legacy pcap record.
pub(super) struct PcapRecord<'a> {
    pub sec: u32,
    /// Microseconds or nanoseconds, as the file's magic says.
    pub frac: u32,
    pub data: &'a [u8],
    pub orig_len: u32,
}

fn u32_bytes(big_endian: bool, v: u32) -> [u8; 4] {
    if big_endian {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

fn u16_bytes(big_endian: bool, v: u16) -> [u8; 2] {
    if big_endian {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

/// A legacy pcap file: header for `link`, then `records`.
pub(super) fn pcap_file(
    big_endian: bool,
    nanos: bool,
    link: u32,
    records: &[PcapRecord<'_>],
) -> Vec<u8> {
    let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut out = Vec::new();
    out.extend_from_slice(&u32_bytes(big_endian, magic));
    out.extend_from_slice(&u16_bytes(big_endian, 2));
    out.extend_from_slice(&u16_bytes(big_endian, 4));
    out.extend_from_slice(&[0; 8]); // thiszone, sigfigs
    out.extend_from_slice(&u32_bytes(big_endian, 262_144));
    out.extend_from_slice(&u32_bytes(big_endian, link));
    for r in records {
        out.extend_from_slice(&u32_bytes(big_endian, r.sec));
        out.extend_from_slice(&u32_bytes(big_endian, r.frac));
        out.extend_from_slice(&u32_bytes(big_endian, r.data.len() as u32));
        out.extend_from_slice(&u32_bytes(big_endian, r.orig_len));
        out.extend_from_slice(r.data);
    }
    out
}

/// A pcapng section under construction; `new` writes its Section Header Block.
pub(super) struct Ng {
    big_endian: bool,
    out: Vec<u8>,
}

impl Ng {
    pub fn new(big_endian: bool) -> Ng {
        let mut ng = Ng {
            big_endian,
            out: Vec::new(),
        };
        let mut body = Vec::new();
        body.extend_from_slice(&ng.u32(0x1a2b_3c4d));
        body.extend_from_slice(&u16_bytes(big_endian, 1));
        body.extend_from_slice(&u16_bytes(big_endian, 0));
        body.extend_from_slice(&[0xff; 8]); // section length: unknown
        ng.block(0x0a0d_0d0a, &body);
        ng
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        u32_bytes(self.big_endian, v)
    }

    /// `v` as an 8-byte option value in this section's byte order.
    pub fn i64_bytes(&self, v: i64) -> [u8; 8] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Bytes written so far (the offset of the next block).
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// A block of `block_type` around `body`, padded to 32 bits.
    pub fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Ng {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let (t, l) = (self.u32(block_type), self.u32(total));
        self.out.extend_from_slice(&t);
        self.out.extend_from_slice(&l);
        self.out.extend_from_slice(body);
        self.out.resize(self.out.len() + padded - body.len(), 0);
        self.out.extend_from_slice(&l);
        self
    }

    fn options(&self, options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        if options.is_empty() {
            return out;
        }
        for (code, value) in options {
            out.extend_from_slice(&u16_bytes(self.big_endian, *code));
            out.extend_from_slice(&u16_bytes(self.big_endian, value.len() as u16));
            out.extend_from_slice(value);
            out.resize(out.len().div_ceil(4) * 4, 0);
        }
        out.extend_from_slice(&[0; 4]); // opt_endofopt
        out
    }

    /// An Interface Description Block with no snap length limit.
    pub fn idb(&mut self, link: u16, options: &[(u16, &[u8])]) -> &mut Ng {
        self.idb_snaplen(link, 0, options)
    }

    pub fn idb_snaplen(&mut self, link: u16, snaplen: u32, options: &[(u16, &[u8])]) -> &mut Ng {
        let mut body = Vec::new();
        body.extend_from_slice(&u16_bytes(self.big_endian, link));
        body.extend_from_slice(&[0; 2]);
        body.extend_from_slice(&self.u32(snaplen));
        body.extend_from_slice(&self.options(options));
        self.block(1, &body)
    }

    fn timed(&self, ts: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32((ts >> 32) as u32));
        body.extend_from_slice(&self.u32(ts as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(orig_len));
        body.extend_from_slice(data);
        body
    }

    /// An Enhanced Packet Block; it carries an `epb_flags` option like Wireshark writes.
    pub fn epb(&mut self, interface: u32, ts: u64, data: &[u8], orig_len: u32) -> &mut Ng {
        let mut body = self.u32(interface).to_vec();
        body.extend_from_slice(&self.timed(ts, data, orig_len));
        body.resize(body.len().div_ceil(4) * 4, 0);
        let flags = self.u32(1);
        body.extend_from_slice(&self.options(&[(2, &flags)]));
        self.block(6, &body)
    }

    /// An obsolete Packet Block.
    pub fn pb(&mut self, interface: u16, ts: u64, data: &[u8], orig_len: u32) -> &mut Ng {
        let mut body = u16_bytes(self.big_endian, interface).to_vec();
        body.extend_from_slice(&[0; 2]); // drops count
        body.extend_from_slice(&self.timed(ts, data, orig_len));
        self.block(2, &body)
    }

    /// A Simple Packet Block.
    pub fn spb(&mut self, data: &[u8], orig_len: u32) -> &mut Ng {
        let mut body = self.u32(orig_len).to_vec();
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}
