//! What the fuzz targets share: the checks they make of what a parser returns (a name is a
//! valid host name, a slice lies within its input), a reader that turns the fuzzer's bytes into
//! choices, and a sealer of QUIC Initials (written here from RFC 9001 §5, not taken from the
//! parser) so that a target can hand the decryptor packets that must decrypt.

pub mod quic_seal;

/// Panics unless `name` is what pcgate may call a flow: 1 to 253 bytes, printable ASCII, lower
/// case, no `/` or `\`, no empty label and no trailing dot (RFC 1035 §2.3.4).
pub fn check_host_name(what: &str, name: &str) {
    assert!(
        !name.is_empty() && name.len() <= 253,
        "{what}: name of {} bytes: {name:?}",
        name.len()
    );
    for b in name.bytes() {
        assert!(
            b.is_ascii_graphic() && b != b'/' && b != b'\\' && !b.is_ascii_uppercase(),
            "{what}: byte {b:#04x} in name {name:?}"
        );
    }
    assert!(
        !name.split('.').any(str::is_empty),
        "{what}: empty label in name {name:?}"
    );
}

/// Panics unless `part` lies wholly inside `whole` (a parser that borrows from its input must
/// not hand back bytes from anywhere else).
pub fn check_within(what: &str, whole: &[u8], part: &[u8]) {
    let (w0, p0) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    assert!(
        part.is_empty() || (p0 >= w0 && p0 + part.len() <= w0 + whole.len()),
        "{what}: {} bytes at {p0:#x} outside the input ({} bytes at {w0:#x})",
        part.len(),
        whole.len()
    );
}

/// The IPv4 header checksum (RFC 791) of `header`, whose checksum field is zero.
pub fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Takes choices off the front of the fuzzer's input; once it runs dry every choice is zero
/// and every slice empty, so a target never needs to check lengths.
pub struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Choices<'a> {
        Choices { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A piece whose length is given by the next two bytes.
    pub fn piece(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.bytes(n)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_name_check_accepts_plain_names() {
        check_host_name("t", "www.example.com");
        check_host_name("t", "a");
        check_host_name("t", "xn--bcher-kva.example");
    }

    #[test]
    #[should_panic(expected = "empty label")]
    fn host_name_check_refuses_dots_only() {
        check_host_name("t", "...");
    }

    #[test]
    #[should_panic(expected = "byte 0x41")]
    fn host_name_check_refuses_upper_case() {
        check_host_name("t", "A.example");
    }

    #[test]
    #[should_panic(expected = "outside the input")]
    fn within_check_refuses_other_bytes() {
        let a = [0u8; 4];
        let b = [0u8; 4];
        check_within("t", &a, &b);
    }

    #[test]
    fn choices_run_dry_as_zeros() {
        let mut c = Choices::new(&[1, 2, 3]);
        assert_eq!(c.u16(), 0x0102);
        assert_eq!(c.u16(), 0x0300);
        assert_eq!(c.u32(), 0);
        assert!(c.bytes(5).is_empty());
    }
}
