//! What a replay's settings cost before it starts, checked against what the process may use, so
//! that a setting too large for the machine is refused with an error that names it, instead of
//! an abort (`memory allocation of ... failed`) half-way through start-up.
//!
//! The cost counted is the address space a replay takes up front or may take at most, whatever
//! the traffic: each worker's flow slab (reserved for `--max-flows` flows, up to
//! [`crate::flow::table::RESERVE_MAX`]), its DNS answer cache when full, each thread's stack and malloc arena, and
//! the capture files (memory-mapped whole); what is made before the check (catalog, matcher,
//! policy, the block-event queue) is in what the process maps already. It is checked against
//! the address-space limit (`ulimit -v`, RLIMIT_AS) less what the process maps already; with no
//! such limit only the bounds of the settings themselves apply ([`MAX_WORKERS`], slot numbers
//! that fit in 32 bits). What flows hold beyond their slot (names, reassembly buffers) grows
//! with the traffic and is not counted here.
//!
//! Linux only (it reads `/proc/self/limits` and `/proc/self/status`); elsewhere the address
//! space is taken as unlimited.

use super::replay::ReplayConfig;
use crate::flow::table::FlowTable;
use std::fmt;

/// Most workers (threads) a replay may have: far beyond any machine's cores, and low enough
/// that thread creation never fails for lack of threads.
pub const MAX_WORKERS: usize = 1024;

/// Address space a thread of the replay takes besides its worker's tables: its stack (Rust's
/// default 2 MiB) and the malloc arena glibc gives a new thread (64 MiB of address space,
/// reserved, not used).
pub const THREAD_BYTES: u64 = (2 + 64) << 20;

/// Bytes one DNS answer cache entry takes at most (key, entry, hash slot and queue place, and
/// the shared name it holds).
pub const DNS_ENTRY_BYTES: u64 = 256;

/// Address space the rest of the process takes besides what is counted (the binary, the
/// catalog and matcher, the main thread's arena): kept free when checking.
pub const BASE_BYTES: u64 = 256 << 20;

/// A replay's cost, by part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    pub workers: usize,
    pub max_flows: usize,
    /// Bytes of one worker's flow slab, reserved up front.
    pub flow_table_bytes: u64,
    /// Bytes of one worker's DNS answer cache when full.
    pub dns_cache_bytes: u64,
    /// Threads besides the calling one.
    pub threads: usize,
    /// Bytes of the capture files, mapped whole.
    pub capture_bytes: u64,
}

impl Cost {
    /// The cost of replaying `capture_bytes` of captures with `config`.
    pub fn of(config: &ReplayConfig, capture_bytes: u64) -> Cost {
        let workers = config.workers.max(1);
        Cost {
            workers,
            max_flows: config.worker.max_flows,
            flow_table_bytes: FlowTable::reserved_bytes(config.worker.max_flows),
            dns_cache_bytes: (config.worker.dns_cache_entries as u64)
                .saturating_mul(DNS_ENTRY_BYTES),
            threads: workers - 1,
            capture_bytes,
        }
    }

    /// All of it, in bytes.
    pub fn total(&self) -> u64 {
        let per_worker = self.flow_table_bytes.saturating_add(self.dns_cache_bytes);
        (self.workers as u64)
            .saturating_mul(per_worker)
            .saturating_add((self.threads as u64).saturating_mul(THREAD_BYTES))
            .saturating_add(self.capture_bytes)
    }
}

/// A setting the process cannot afford, with what it asked, what it costs and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("--workers {0}: more than {MAX_WORKERS} workers; use at most {MAX_WORKERS}")]
    TooManyWorkers(usize),
    #[error(
        "--max-flows {0}: more than 4294967295 flows per worker (slot numbers are 32-bit); \
         use at most 4294967295"
    )]
    TooManyFlows(usize),
    #[error("{0}")]
    AddressSpace(AddressSpace),
}

/// The cost against the address-space limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpace {
    pub cost: Cost,
    /// RLIMIT_AS.
    pub limit: u64,
    /// Of which the process maps already.
    pub used: u64,
}

impl fmt::Display for AddressSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.cost;
        write!(
            f,
            "--workers {} with --max-flows {} and --dns-cache {} needs {} of address space \
             ({} workers x ({} flow table + {} DNS cache when full), {} threads x {} stack and \
             arena, {} of captures mapped), but the address-space limit \
             (ulimit -v) is {} and {} of it is in use: lower --workers, --max-flows or \
             --dns-cache, or raise the limit",
            c.workers,
            c.max_flows,
            c.dns_cache_bytes / DNS_ENTRY_BYTES,
            mib(c.total()),
            c.workers,
            mib(c.flow_table_bytes),
            mib(c.dns_cache_bytes),
            c.threads,
            mib(THREAD_BYTES),
            mib(c.capture_bytes),
            mib(self.limit),
            mib(self.used),
        )
    }
}

/// `n` bytes in MiB, for messages.
fn mib(n: u64) -> String {
    format!("{} MiB", n.div_ceil(1 << 20))
}

/// Checks `cost` against the bounds of the settings and the address space this process may
/// still map (`limit`: RLIMIT_AS, `used`: what it maps now; `None` for no limit).
pub fn check(cost: Cost, address_space: Option<(u64, u64)>) -> Result<(), LimitError> {
    if cost.workers > MAX_WORKERS {
        return Err(LimitError::TooManyWorkers(cost.workers));
    }
    if u32::try_from(cost.max_flows).is_err() {
        return Err(LimitError::TooManyFlows(cost.max_flows));
    }
    if let Some((limit, used)) = address_space {
        let free = limit.saturating_sub(used).saturating_sub(BASE_BYTES);
        if cost.total() > free {
            return Err(LimitError::AddressSpace(AddressSpace { cost, limit, used }));
        }
    }
    Ok(())
}

/// This process's address-space limit and what it maps now, when it has a limit.
pub fn address_space() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let limit = parse_limit(&limits)?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib << 10);
    Some((limit, used))
}

/// The soft "Max address space" of `/proc/self/limits`, `None` when unlimited.
fn parse_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max address space"))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::WorkerConfig;
    use crate::flow::table::RESERVE_MAX;

    fn config(workers: usize, max_flows: usize) -> ReplayConfig {
        ReplayConfig {
            workers,
            worker: WorkerConfig {
                max_flows,
                ..WorkerConfig::default()
            },
            ..ReplayConfig::default()
        }
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn eight_default_workers_do_not_fit_4_gib_and_the_error_names_the_options() {
        let cost = Cost::of(&config(8, 4_000_000), 0);
        let err = check(cost, Some((4 * GIB, 100 << 20))).unwrap_err();
        let text = err.to_string();
        for part in [
            "--workers 8",
            "--max-flows 4000000",
            "address-space limit (ulimit -v) is 4096 MiB",
            "lower --workers, --max-flows or --dns-cache",
        ] {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
        assert!(cost.total() > 4 * GIB);
    }

    #[test]
    fn defaults_fit_4_gib_with_two_workers_and_anything_without_a_limit() {
        let cost = Cost::of(&config(2, 4_000_000), 100 << 20);
        assert_eq!(check(cost, Some((4 * GIB, 100 << 20))), Ok(()));
        let huge = Cost::of(&config(64, 100_000_000), 0);
        assert_eq!(check(huge, None), Ok(()));
        assert!(matches!(
            check(huge, Some((4 * GIB, 0))),
            Err(LimitError::AddressSpace(_))
        ));
    }

    #[test]
    fn settings_beyond_their_own_bounds_are_refused_whatever_the_memory() {
        let cost = Cost::of(&config(MAX_WORKERS + 1, 10), 0);
        assert_eq!(
            check(cost, None),
            Err(LimitError::TooManyWorkers(MAX_WORKERS + 1))
        );
        let cost = Cost::of(&config(1, usize::MAX), 0);
        assert_eq!(check(cost, None), Err(LimitError::TooManyFlows(usize::MAX)));
        // The slab reserve is capped, so even an absurd limit costs a bounded amount.
        assert_eq!(
            cost.flow_table_bytes,
            FlowTable::reserved_bytes(RESERVE_MAX)
        );
    }

    #[test]
    fn limits_file_is_read_for_the_soft_address_space_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max stack size            8388608              unlimited            bytes     \n\
                    Max address space         4294967296           unlimited            bytes     \n";
        assert_eq!(parse_limit(text), Some(4 * GIB));
        let unlimited = "Max address space         unlimited            unlimited            bytes";
        assert_eq!(parse_limit(unlimited), None);
    }
}
