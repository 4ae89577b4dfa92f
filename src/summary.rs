//! The human summary printed at the end of a replay.

use dataplane::engine::counters::PROTOS;
use dataplane::engine::Counters;
use std::fmt;
use std::time::Duration;

/// Reasons that mean damaged input (worth a warning), as opposed to traffic that is simply not
/// ours (ARP, ICMP) or bookkeeping (fragments held for reassembly).
const DAMAGE: [&str; 7] = [
    "truncated_file",
    "corrupt_record",
    "unknown_interface",
    "unsupported_link_type",
    "truncated",
    "malformed",
    "fragment_dropped",
];

pub struct Summary<'a> {
    pub counters: &'a Counters,
    pub elapsed: Duration,
}

impl Summary<'_> {
    /// A one-line warning when the input was damaged.
    pub fn warning(&self) -> Option<String> {
        let damaged: Vec<String> = DAMAGE
            .iter()
            .filter_map(|r| {
                let n = self.counters.reason(r);
                (n > 0).then(|| format!("{r} {n}"))
            })
            .collect();
        (!damaged.is_empty())
            .then(|| format!("damaged input skipped and counted: {}", damaged.join(", ")))
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counters;
        let secs = self.elapsed.as_secs_f64();
        let pps = if secs > 0.0 {
            c.packets as f64 / secs
        } else {
            0.0
        };
        writeln!(f, "packets     {}", c.packets)?;
        writeln!(f, "bytes       {}", c.bytes)?;
        writeln!(f, "flows       {}", c.flows)?;
        let named: u64 = c.named.iter().sum::<u64>() + c.named_from_dns;
        writeln!(f, "named flows {named}")?;
        for (p, n) in PROTOS.iter().zip(c.named) {
            writeln!(f, "  {:<10} {n}", p.as_str())?;
        }
        writeln!(f, "  {:<10} {}", "dns-answer", c.named_from_dns)?;
        if !c.reasons.is_empty() {
            writeln!(f, "skipped or malformed")?;
            let mut reasons = c.reasons.clone();
            reasons.sort();
            for (r, n) in reasons {
                writeln!(f, "  {r:<24} {n}")?;
            }
        }
        writeln!(f, "elapsed     {:.3} s", secs)?;
        writeln!(f, "rate        {:.0} packets/s", pps)
    }
}
