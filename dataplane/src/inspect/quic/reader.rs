//! A bounds-checked cursor over bytes: every read either succeeds or reports that the input ended,
//! so parsers built on it cannot index out of range. Includes the QUIC variable-length integer
//! (RFC 9000 §16).

/// The input ended before a field did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short;

#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// What is left.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).ok_or(Short)?;
        let out = self.bytes.get(self.pos..end).ok_or(Short)?;
        self.pos = end;
        Ok(out)
    }

    /// Takes `n` bytes where `n` came off the wire as a `u64`.
    pub fn take_u64(&mut self, n: u64) -> Result<&'a [u8], Short> {
        self.take(usize::try_from(n).map_err(|_| Short)?)
    }

    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }

    pub fn peek_u8(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    pub fn u32_be(&mut self) -> Result<u32, Short> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned integer of `n` (at most 8) bytes, big- or little-endian.
    pub fn uint(&mut self, n: usize, big_endian: bool) -> Result<u64, Short> {
        if n > 8 {
            return Err(Short);
        }
        let b = self.take(n)?;
        let fold = |acc: u64, &x: &u8| acc << 8 | u64::from(x);
        Ok(if big_endian {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        })
    }

    /// A QUIC variable-length integer (RFC 9000 §16).
    pub fn varint(&mut self) -> Result<u64, Short> {
        let first = self.peek_u8().ok_or(Short)?;
        let len = 1usize << (first >> 6);
        let b = self.take(len)?;
        Ok(b.iter()
            .skip(1)
            .fold(u64::from(first & 0x3f), |acc, &x| acc << 8 | u64::from(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_decodes_rfc9000_examples() {
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, want) in cases {
            let mut r = Reader::new(bytes);
            assert_eq!(r.varint(), Ok(want));
            assert!(r.rest().is_empty());
        }
    }

    #[test]
    fn short_input_is_reported() {
        assert_eq!(Reader::new(&[0x7b]).varint(), Err(Short));
        assert_eq!(Reader::new(&[]).u8(), Err(Short));
        assert_eq!(Reader::new(&[1, 2, 3]).u32_be(), Err(Short));
        assert_eq!(Reader::new(&[1, 2]).take_u64(u64::MAX), Err(Short));
    }

    #[test]
    fn uint_reads_both_byte_orders() {
        assert_eq!(Reader::new(&[1, 2]).uint(2, true), Ok(0x0102));
        assert_eq!(Reader::new(&[1, 2]).uint(2, false), Ok(0x0201));
    }
}
