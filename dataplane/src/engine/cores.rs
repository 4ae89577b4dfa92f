//! Where the parallel engine's threads run: each on a CPU of its own, when it has one for every
//! CPU the process may use (its default, one worker per core).
//!
//! One thread per core is not enough by itself. When one of the threads wakes another (a worker
//! that waited for a batch, the dispatcher that waited for room), Linux may run the woken one on
//! the waker's core, where its data looks cache-hot, and load balancing moves one of them away
//! only later. Meanwhile the two take turns on one core while the other idles. On the project's
//! two-core machine this happened in about half of the replays with two workers, which then took
//! 15-40 % longer: most had 53 to 194 involuntary context switches against about 20, and in one
//! that `perf sched timehist` recorded, the two threads took turns on one CPU, 0.4-0.7 ms each,
//! for 80 ms of its 157 (benches/README.md). So thread `i` (0 is the dispatcher's, the calling
//! thread) is kept on the `i`-th CPU the process may use (`sched_setaffinity`), and the calling
//! thread gets its own CPUs back when the replay ends.
//!
//! With fewer threads than CPUs nothing is pinned: two processes that pinned to the same first
//! CPUs would crowd onto them while the others idle, and with a CPU to spare the scheduler has
//! somewhere to put a woken thread. With more threads than CPUs, or when the kernel refuses,
//! the threads run where the scheduler puts them: pinning is an optimisation, never a reason to
//! fail, and the summary says how many threads were pinned.

/// Whether the engine keeps each of its threads on a CPU of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// Each thread on a CPU of its own, when there are exactly as many threads as CPUs the
    /// process may use.
    #[default]
    Pinned,
    /// Wherever the scheduler puts them.
    Free,
}

/// The CPU for each of `threads` threads (the first is the calling thread's), or `None` when
/// they are not to be pinned (see the module documentation).
pub(super) fn plan(placement: Placement, threads: usize) -> Option<Vec<usize>> {
    if placement == Placement::Free {
        return None;
    }
    let cpus = os::allowed()?;
    (cpus.len() == threads).then_some(cpus)
}

/// Keeps the calling thread on one CPU while it lives; dropped, it lets the thread run on the
/// CPUs it could run on before.
pub(super) struct Pin {
    before: os::CpuSet,
}

impl Pin {
    /// Pins the calling thread to `cpu`; `None` when the kernel refuses (the thread then runs
    /// where it did).
    pub(super) fn current_thread(cpu: usize) -> Option<Pin> {
        let before = os::get()?;
        os::set_only(cpu).then_some(Pin { before })
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        os::set(&self.before);
    }
}

#[cfg(target_os = "linux")]
mod os {
    pub(super) use rustix::thread::CpuSet;
    use rustix::thread::{sched_getaffinity, sched_setaffinity};

    pub(super) fn get() -> Option<CpuSet> {
        sched_getaffinity(None).ok()
    }

    /// The CPUs the calling thread may run on, in order.
    pub(super) fn allowed() -> Option<Vec<usize>> {
        let set = get()?;
        Some((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
    }

    pub(super) fn set_only(cpu: usize) -> bool {
        if cpu >= CpuSet::MAX_CPU {
            return false;
        }
        let mut set = CpuSet::new();
        set.set(cpu);
        sched_setaffinity(None, &set).is_ok()
    }

    pub(super) fn set(set: &CpuSet) {
        // Restoring a set the thread had a moment ago does not fail; if it did, the thread
        // would only stay on its CPU.
        let _ = sched_setaffinity(None, set);
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    pub(super) struct CpuSet;

    pub(super) fn get() -> Option<CpuSet> {
        None
    }

    pub(super) fn allowed() -> Option<Vec<usize>> {
        None
    }

    pub(super) fn set_only(_: usize) -> bool {
        false
    }

    pub(super) fn set(_: &CpuSet) {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn plans_one_cpu_per_thread_only_for_as_many_threads_as_cpus() {
        let cpus = os::allowed().expect("a Linux thread can read its CPUs");
        assert!(!cpus.is_empty());
        assert_eq!(plan(Placement::Pinned, cpus.len()), Some(cpus.clone()));
        assert_eq!(plan(Placement::Pinned, cpus.len() + 1), None);
        if cpus.len() > 1 {
            assert_eq!(plan(Placement::Pinned, cpus.len() - 1), None);
        }
        assert_eq!(plan(Placement::Free, cpus.len()), None);
    }

    #[test]
    fn a_pin_keeps_the_thread_on_its_cpu_and_gives_the_cpus_back_when_dropped() {
        // On a thread of its own: the test harness's threads keep their CPUs whatever happens.
        std::thread::spawn(|| {
            let before = os::allowed().expect("CPUs");
            let cpu = *before.last().expect("at least one CPU");
            let pin = Pin::current_thread(cpu).expect("pinning to an allowed CPU");
            assert_eq!(os::allowed(), Some(vec![cpu]));
            assert_eq!(rustix::thread::sched_getcpu(), cpu);
            drop(pin);
            assert_eq!(os::allowed(), Some(before));
        })
        .join()
        .expect("the pinned thread ran to the end");
    }

    #[test]
    fn a_cpu_the_kernel_refuses_leaves_the_thread_where_it_was() {
        std::thread::spawn(|| {
            let before = os::allowed().expect("CPUs");
            // Past the set's size; and the set's last CPU, which this machine does not have.
            assert!(Pin::current_thread(os::CpuSet::MAX_CPU).is_none());
            let last = os::CpuSet::MAX_CPU - 1;
            if !std::path::Path::new(&format!("/sys/devices/system/cpu/cpu{last}")).exists() {
                assert!(Pin::current_thread(last).is_none());
            }
            assert_eq!(os::allowed(), Some(before));
        })
        .join()
        .expect("the thread ran to the end");
    }
}
