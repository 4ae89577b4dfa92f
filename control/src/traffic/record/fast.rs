//! A quick reader of the common record: a JSON object whose keys are the record's own fields
//! (each at most once, in any order), with strings free of escapes and control characters and
//! integers written as plain digits. It returns the same [`Wire`] that serde_json would; for
//! anything else (an unknown key, an escape, a number with a sign, fraction or exponent, a wrong
//! type, a duplicate, broken JSON) it returns `None`, and serde_json reads the record instead,
//! which also says why it refuses one. So the reader decides nothing serde_json would not: it
//! only skips serde's generic machinery (about a quarter of a record's CPU time in flow mode).

use super::{Base64Text, FlowEvent, Pair, Text, Wire};
use std::borrow::Cow;

/// Reads `bytes` as a record, or `None` when serde_json must (module comment).
pub(super) fn read(bytes: &[u8]) -> Option<Wire<'_>> {
    let mut r = Reader { b: bytes, i: 0 };
    let wire = r.record()?;
    r.ws();
    (r.i == bytes.len()).then_some(wire)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

/// The record's fields.
#[derive(Clone, Copy)]
enum Field {
    Event,
    FlowId,
    Ts,
    Msisdn,
    Imsi,
    UeIp,
    Teid,
    L4,
    Client,
    Server,
    Name,
    Payload,
    Bytes,
    Packets,
}

impl<'a> Reader<'a> {
    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, consumed when it is `want`.
    fn eat(&mut self, want: u8) -> bool {
        self.ws();
        if self.b.get(self.i) == Some(&want) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A string without escapes: its raw bytes. With `text`, also without control characters
    /// (serde_json refuses them in a string it reads as text, and lets them through in one it
    /// reads as bytes, as a base64 field is: the base64 decoder refuses them there).
    fn raw_str(&mut self, text: bool) -> Option<&'a [u8]> {
        if !self.eat(b'"') {
            return None;
        }
        let rest = &self.b[self.i..];
        // Text fields are short: one pass byte by byte. A base64 field runs to kilobytes.
        let end = if text {
            rest.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?
        } else {
            memchr::memchr2(b'"', b'\\', rest)?
        };
        if rest[end] != b'"' {
            return None;
        }
        self.i += end + 1;
        Some(&rest[..end])
    }

    fn text(&mut self) -> Option<Text<'a>> {
        let s = std::str::from_utf8(self.raw_str(true)?).ok()?;
        Some(Text(Cow::Borrowed(s)))
    }

    /// `null` (consumed: true) or not (nothing consumed).
    fn null(&mut self) -> bool {
        self.ws();
        if self.b[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null() {
            Some(None)
        } else {
            f(self).map(Some)
        }
    }

    /// An unsigned integer in plain digits (no sign, fraction, exponent or leading zero).
    fn uint(&mut self) -> Option<u64> {
        self.ws();
        let digits = self.b[self.i..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let s = &self.b[self.i..self.i + digits];
        if digits == 0 || (digits > 1 && s[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.b.get(self.i + digits) {
            return None;
        }
        let mut n: u64 = 0;
        for &d in s {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.i += digits;
        Some(n)
    }

    /// `{ "c2s": v, "s2c": v }`, either missing (the default), each at most once.
    fn pair<T: Default>(
        &mut self,
        mut value: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Pair<T>> {
        let mut pair = Pair::default();
        let (mut c2s, mut s2c) = (false, false);
        self.object(|r, key| {
            let (seen, slot) = match key {
                b"c2s" => (&mut c2s, &mut pair.c2s),
                b"s2c" => (&mut s2c, &mut pair.s2c),
                _ => return None,
            };
            if std::mem::replace(seen, true) {
                return None;
            }
            *slot = value(r)?;
            Some(())
        })?;
        Some(pair)
    }

    /// An object: `member` reads the value of each key.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.raw_str(true)?;
            if !self.eat(b':') {
                return None;
            }
            member(self, key)?;
            if self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn record(&mut self) -> Option<Wire<'a>> {
        let mut seen = 0u16;
        let (mut event, mut flow_id, mut ts, mut ue_ip, mut l4, mut client, mut server) =
            (None, None, None, None, None, None, None);
        let (mut msisdn, mut imsi, mut teid, mut name, mut payload) =
            (None, None, None, None, None);
        let (mut bytes, mut packets) = (Pair::default(), Pair::default());
        self.object(|r, key| {
            let field = match key {
                b"event" => Field::Event,
                b"flow_id" => Field::FlowId,
                b"ts" => Field::Ts,
                b"msisdn" => Field::Msisdn,
                b"imsi" => Field::Imsi,
                b"ue_ip" => Field::UeIp,
                b"teid" => Field::Teid,
                b"l4" => Field::L4,
                b"client" => Field::Client,
                b"server" => Field::Server,
                b"name" => Field::Name,
                b"payload" => Field::Payload,
                b"bytes" => Field::Bytes,
                b"packets" => Field::Packets,
                _ => return None,
            };
            // A duplicate: serde_json refuses it.
            let bit = 1u16 << field as u16;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            match field {
                Field::Event => {
                    event = Some(match r.raw_str(true)? {
                        b"start" => FlowEvent::Start,
                        b"update" => FlowEvent::Update,
                        b"end" => FlowEvent::End,
                        _ => return None,
                    })
                }
                Field::FlowId => flow_id = Some(r.text()?),
                Field::Ts => ts = Some(r.text()?),
                Field::Msisdn => msisdn = r.opt(Self::text)?,
                Field::Imsi => imsi = r.opt(Self::text)?,
                Field::UeIp => ue_ip = Some(r.text()?),
                Field::Teid => teid = r.opt(|r| u32::try_from(r.uint()?).ok())?,
                Field::L4 => l4 = Some(r.text()?),
                Field::Client => client = Some(r.text()?),
                Field::Server => server = Some(r.text()?),
                Field::Name => name = r.opt(Self::text)?,
                Field::Payload => {
                    payload = r.opt(|r| {
                        r.pair(|r| r.opt(|r| Some(Base64Text(Cow::Borrowed(r.raw_str(false)?)))))
                    })?
                }
                Field::Bytes => bytes = r.pair(Self::uint)?,
                Field::Packets => packets = r.pair(Self::uint)?,
            }
            Some(())
        })?;
        Some(Wire {
            event: event?,
            flow_id: flow_id?,
            ts: ts?,
            msisdn,
            imsi,
            ue_ip: ue_ip?,
            teid,
            l4: l4?,
            client: client?,
            server: server?,
            name,
            payload,
            bytes,
            packets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcgate_tools::pgw::{Config, Generator};

    /// serde_json's reading of `b`, as text to compare.
    fn by_serde(b: &[u8]) -> Option<String> {
        serde_json::from_slice::<Wire>(b)
            .ok()
            .map(|w| format!("{w:?}"))
    }

    /// Whenever the quick reader answers, serde_json reads the same record. Returns whether it
    /// answered.
    fn agrees(b: &[u8]) -> bool {
        let Some(wire) = read(b) else {
            return false;
        };
        assert_eq!(
            Some(format!("{wire:?}")),
            by_serde(b),
            "{}",
            String::from_utf8_lossy(b)
        );
        true
    }

    /// The simulator's records (payloads, names, dead-letter material among them).
    fn records(n: u64, small: bool) -> Vec<Vec<u8>> {
        let mut cfg = Config {
            count: Some(n),
            invalid_every: Some(20),
            ..Config::default()
        };
        if small {
            cfg.records.payload_max = 0;
            cfg.records.payload_max_s2c = 0;
            cfg.records.with_names = true;
        }
        let mut g = Generator::new(&cfg).unwrap();
        std::iter::from_fn(|| g.next_record().unwrap().map(|e| e.json)).collect()
    }

    #[test]
    fn the_simulators_records_are_read_quickly_and_alike() {
        for small in [false, true] {
            let recs = records(2_000, small);
            let serde_reads = recs.iter().filter(|r| by_serde(r).is_some()).count();
            let quick = recs.iter().filter(|r| agrees(r)).count();
            // Every record serde_json reads, apart from a few damaged on purpose with escapes.
            assert!(quick > serde_reads * 99 / 100, "{quick} of {serde_reads}");
        }
    }

    #[test]
    fn what_the_quick_reader_leaves_to_serde_json() {
        let base = r#"{"event":"start","flow_id":"f1","ts":"2024-06-01T18:00:00Z","ue_ip":"10.0.0.1","l4":"tcp","client":"10.0.0.1:1","server":"1.2.3.4:443""#;
        let with = |tail: &str| format!("{base}{tail}}}");
        // Read quickly (and alike).
        for tail in [
            "",
            r#","teid":0"#,
            r#","teid":4294967295"#,
            r#","msisdn":null,"name":null,"teid":null,"payload":null"#,
            r#","payload":{"c2s":"AAEC","s2c":null}"#,
            r#","payload":{}"#,
            ",\"payload\":{\"s2c\":\"AA\u{1}=\"}",
            r#","bytes":{"c2s":18446744073709551615},"packets":{"s2c":3,"c2s":2}"#,
            " , \"name\" :\t\"x\"\r\n ",
        ] {
            assert!(agrees(with(tail).as_bytes()), "{tail}");
        }
        assert!(agrees(format!(" \n{}\t ", with("")).as_bytes()));
        // Left to serde_json, which reads or refuses them.
        for tail in [
            r#","teid":01"#,
            r#","teid":-1"#,
            r#","teid":-0"#,
            r#","teid":1.0"#,
            r#","teid":1e2"#,
            r#","teid":4294967296"#,
            r#","teid":"7""#,
            r#","bytes":{"c2s":18446744073709551616}"#,
            r#","bytes":null"#,
            r#","bytes":{"c2s":1,"c2s":2}"#,
            r#","payload":{"c2s":"AA==","x":null}"#,
            r#","payload":{"c2s":"A\/=="}"#,
            r#","payload":[1,2]"#,
            r#","name":"a\"b""#,
            r#","name":"a\u00e9""#,
            ",\"name\":\"a\u{1}b\"",
            r#","flow_id":"again""#,
            r#","extra":1"#,
            r#","ev\u0065nt":"end""#,
            r#","msisdn":7"#,
            ",",
        ] {
            assert!(read(with(tail).as_bytes()).is_none(), "{tail}");
        }
        for broken in [
            String::new(),
            "{}".into(),
            base.into(),
            format!("{}x", with("")),
            format!("{}{{}}", with("")),
            base.replace("\"start\"", "\"START\""),
            base.replace("\"start\"", "\"st\\u0061rt\""),
        ] {
            assert!(read(broken.as_bytes()).is_none(), "{broken}");
        }
        // Not UTF-8 in a text field; in a base64 field it is the decoder's to refuse.
        let mut bad = with(r#","name":"ab""#).into_bytes();
        let at = bad.len() - 3;
        bad[at] = 0xff;
        assert!(read(&bad).is_none());
        let mut bad = with(r#","payload":{"c2s":"ab"}"#).into_bytes();
        let at = bad.len() - 4;
        bad[at] = 0xff;
        assert!(agrees(&bad));
    }

    /// Records damaged one byte at a time (a JSON-significant byte put in, swapped in, or the
    /// rest cut off): whatever the quick reader still reads, serde_json reads alike.
    #[test]
    fn damaged_records_are_read_alike_or_left_to_serde_json() {
        const BYTES: &[u8] = b"\"\\{}[],:0123-.eE nulltrue\x01\t\xc3\xa9\xff";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut quick, mut total) = (0, 0);
        for rec in records(40, true).iter().chain(&records(10, false)) {
            for _ in 0..300 {
                let at = rand(rec.len());
                let byte = BYTES[rand(BYTES.len())];
                let mut swapped = rec.clone();
                swapped[at] = byte;
                let mut put = rec.clone();
                put.insert(at, byte);
                for v in [&swapped[..], &put[..], &rec[..at]] {
                    total += 1;
                    quick += usize::from(agrees(v));
                }
            }
        }
        // Many damaged records are still records (a digit for a digit, a space between tokens).
        assert!(quick > total / 20, "{quick} of {total}");
    }
}
