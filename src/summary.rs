//! The human summary printed at the end of a replay.

use control::events::BlockTally;
use dataplane::engine::counters::PROTOS;
use dataplane::engine::Counters;
use std::fmt;
use std::time::Duration;

/// Reasons that mean damaged input (worth a warning), as opposed to traffic that is simply not
/// ours (ARP, ICMP) or bookkeeping (fragments held for reassembly).
const DAMAGE: [&str; 9] = [
    "truncated_file",
    "corrupt_record",
    "unknown_interface",
    "unsupported_link_type",
    "truncated",
    "malformed",
    "fragment_dropped",
    "gtpu_bad_extension",
    "ip_length_beyond_packet",
];

pub struct Summary<'a> {
    pub counters: &'a Counters,
    pub elapsed: Duration,
    /// Blocks, when a policy decided flows.
    pub blocks: Option<&'a BlockTally>,
    /// Block events that did not fit the queue.
    pub events_dropped: u64,
}

impl Summary<'_> {
    /// A one-line warning when the input was damaged.
    pub fn warning(&self) -> Option<String> {
        let damaged: Vec<String> = DAMAGE
            .iter()
            .filter_map(|r| {
                let n = self.counters.reason(r);
                (n > 0).then(|| format!("{r} {n}{}", self.detail(r)))
            })
            .collect();
        let mut warnings = Vec::new();
        if !damaged.is_empty() {
            warnings.push(format!(
                "damaged input skipped and counted: {}",
                damaged.join(", ")
            ));
        }
        if self.events_dropped > 0 {
            warnings.push(format!(
                "{} block events dropped (queue full)",
                self.events_dropped
            ));
        }
        (!warnings.is_empty()).then(|| warnings.join("; "))
    }
}

impl Summary<'_> {
    /// What more a reason's count can say: which link types were unsupported.
    fn detail(&self, reason: &str) -> String {
        let links = &self.counters.unsupported_links;
        if reason != "unsupported_link_type" || links.is_empty() {
            return String::new();
        }
        let each: Vec<String> = links
            .iter()
            .map(|(link, n)| format!("{link}: {n}"))
            .collect();
        format!(
            " (link type{} {})",
            if links.len() == 1 { "" } else { "s" },
            each.join(", ")
        )
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
                writeln!(f, "  {r:<24} {n}{}", self.detail(r))?;
            }
        }
        if let Some(t) = self.blocks {
            writeln!(
                f,
                "blocks      {} ({} packets blocked)",
                t.total, c.blocked_packets
            )?;
            for (title, map) in [
                ("by app", &t.by_app),
                ("by category", &t.by_category),
                ("by subscriber", &t.by_subscriber),
            ] {
                if map.is_empty() {
                    continue;
                }
                writeln!(f, "  {title}")?;
                for (k, n) in map {
                    writeln!(f, "    {k:<22} {n}")?;
                }
            }
            if self.events_dropped > 0 {
                writeln!(f, "  events dropped         {}", self.events_dropped)?;
            }
        }
        writeln!(f, "elapsed     {:.3} s", secs)?;
        match (c.threads, c.pinned_threads) {
            (0 | 1, _) => writeln!(f, "threads     1")?,
            (n, p) if p == n => writeln!(f, "threads     {n}, each on a CPU of its own")?,
            (n, 0) => writeln!(f, "threads     {n}, placed by the scheduler")?,
            (n, p) => writeln!(f, "threads     {n}, {p} of them on a CPU of their own")?,
        }
        writeln!(f, "rate        {:.0} packets/s", pps)?;
        let h = &c.latency_ns;
        if !h.is_empty() {
            writeln!(
                f,
                "latency     p50 {} ns, p99 {} ns, p99.9 {} ns per packet ({} sampled)",
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.len()
            )?;
        }
        if let Some(per_flow) = c.flow_table_bytes.checked_div(c.peak_flows) {
            writeln!(
                f,
                "flow state  {} bytes per flow ({} flows at peak, {} bytes of tables, {} of them \
                 the timer wheel)",
                per_flow, c.peak_flows, c.flow_table_bytes, c.flow_wheel_bytes
            )?;
        }
        if let Some(kib) = peak_rss_kib() {
            writeln!(f, "peak memory {} MiB resident", kib / 1024)?;
        }
        Ok(())
    }
}

/// The process's peak resident set size, where the system tells it (Linux: VmHWM).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
