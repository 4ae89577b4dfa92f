//! Per-subscriber policy: profiles, schedules, quotas, verdicts, block events.
//! (to be written)
