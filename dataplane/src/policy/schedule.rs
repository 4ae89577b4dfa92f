//! Weekly time windows in a subscriber's local time, and the local clock they are read with.
//!
//! A window has a set of days and a start and end as minutes after local midnight. When the end
//! is before the start, the window crosses midnight and belongs to the day it starts on: Sunday
//! 21:00-07:00 covers Sunday 21:00 to Monday 07:00. `24:00` is accepted as an end (the end of the
//! day). The clock is the packet's timestamp converted with the IANA zone (chrono-tz), so a replay
//! decides as the live system did, daylight-saving changes included.
//!
//! Not here: what a window does to a flow (see [`super::decide`]).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::sets::{AppSet, CategorySet, DomainSet};

pub(crate) const MINUTES_PER_DAY: u16 = 1440;
/// Real minutes a quota day can hold: a local day is 23 h on a spring-forward day and 25 h on a
/// fall-back day (26 h leaves room for the rare zones that changed by more).
pub(crate) const QUOTA_MINUTES_PER_DAY: u16 = 26 * 60;
pub(crate) const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY as u32;
pub(crate) const NS_PER_SEC: u64 = 1_000_000_000;
pub(crate) const NS_PER_MIN: u64 = 60 * NS_PER_SEC;

/// Days of the week, bit 0 = Monday ... bit 6 = Sunday.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Days(u8);

impl Days {
    pub(crate) const WEEKDAYS: Days = Days(0b001_1111);
    pub(crate) const WEEKENDS: Days = Days(0b110_0000);
    pub(crate) const DAILY: Days = Days(0b111_1111);

    /// `weekday` counts from Monday = 0.
    pub(crate) fn contains(self, weekday: u8) -> bool {
        weekday < 7 && self.0 & (1 << weekday) != 0
    }

    /// One day name (`mon`..`sun`, full names too) or a group (`weekdays`, `weekends`, `daily`).
    pub(crate) fn parse_one(name: &str) -> Option<Days> {
        let n = name.trim().to_ascii_lowercase();
        let day = |i: u8| Some(Days(1 << i));
        match n.as_str() {
            "mon" | "monday" => day(0),
            "tue" | "tuesday" => day(1),
            "wed" | "wednesday" => day(2),
            "thu" | "thursday" => day(3),
            "fri" | "friday" => day(4),
            "sat" | "saturday" => day(5),
            "sun" | "sunday" => day(6),
            "weekdays" => Some(Days::WEEKDAYS),
            "weekends" => Some(Days::WEEKENDS),
            "daily" | "all" | "everyday" => Some(Days::DAILY),
            _ => None,
        }
    }

    pub(crate) fn union(self, other: Days) -> Days {
        Days(self.0 | other.0)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Parses `HH:MM` into minutes after midnight; `24:00` only when `is_end`.
pub(crate) fn parse_hhmm(s: &str, is_end: bool) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m > 59 {
        return None;
    }
    match h {
        0..=23 => Some(h * 60 + m),
        24 if is_end && m == 0 => Some(MINUTES_PER_DAY),
        _ => None,
    }
}

/// What a window adds while it is active.
#[derive(Debug, Clone, Default)]
pub(crate) struct WindowRules {
    /// Block everything except the allowed apps, categories and domains below.
    pub block_all: bool,
    pub allowed_categories: CategorySet,
    pub allowed_apps: AppSet,
    pub allowed_domains: DomainSet,
    /// Blocked in addition to the profile's own lists.
    pub blocked_categories: CategorySet,
    pub blocked_apps: AppSet,
}

/// One weekly window of a profile.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    pub name: Box<str>,
    pub days: Days,
    /// Minutes after local midnight, 0..1440.
    pub start: u16,
    /// Minutes after local midnight, 1..=1440; `end < start` crosses midnight.
    pub end: u16,
    pub rules: WindowRules,
}

impl Window {
    /// Whether the window covers the local time `t`.
    pub(crate) fn active(&self, t: &LocalTime) -> bool {
        if self.start < self.end {
            self.days.contains(t.weekday) && (self.start..self.end).contains(&t.minute)
        } else {
            let yesterday = (t.weekday + 6) % 7;
            (self.days.contains(t.weekday) && t.minute >= self.start)
                || (self.days.contains(yesterday) && t.minute < self.end)
        }
    }

    /// Pushes the minutes-of-week (Monday 00:00 = 0) at which this window starts or ends.
    pub(crate) fn push_boundaries(&self, out: &mut Vec<u32>) {
        for day in 0..7u8 {
            if !self.days.contains(day) {
                continue;
            }
            let base = u32::from(day) * u32::from(MINUTES_PER_DAY);
            let start = base + u32::from(self.start);
            let mut end = base + u32::from(self.end);
            if self.end < self.start {
                end += u32::from(MINUTES_PER_DAY);
            }
            out.push(start % MINUTES_PER_WEEK);
            out.push(end % MINUTES_PER_WEEK);
        }
    }
}

/// A packet's time on the subscriber's wall clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalTime {
    /// Monday = 0 ... Sunday = 6.
    pub weekday: u8,
    /// Minutes after local midnight, 0..1440.
    pub minute: u16,
    /// Days since 0001-01-01 of the local date, plus one (so 0 never names a real day).
    pub day_stamp: u32,
    /// Local wall-clock time, truncated to the minute.
    pub minute_start: NaiveDateTime,
}

impl LocalTime {
    /// Converts a Unix timestamp in nanoseconds to local time in `tz`.
    pub(crate) fn at(ts_ns: u64, tz: Tz) -> LocalTime {
        let secs = i64::try_from(ts_ns / NS_PER_SEC).unwrap_or(i64::MAX);
        let utc = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(DateTime::UNIX_EPOCH);
        let local = utc.with_timezone(&tz).naive_local();
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let minute_start = local
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(local);
        LocalTime {
            weekday: local.weekday().num_days_from_monday() as u8,
            minute,
            day_stamp: u32::try_from(local.date().num_days_from_ce())
                .unwrap_or(0)
                .saturating_add(1),
            minute_start,
        }
    }

    fn minute_of_week(&self) -> u32 {
        u32::from(self.weekday) * u32::from(MINUTES_PER_DAY) + u32::from(self.minute)
    }
}

/// A packet's place in the subscriber's quota day: the local date, and the real (UTC) minutes
/// since that date began at local midnight. On a fall-back day 01:20 EDT and 01:20 EST are two
/// minutes (85 and 145), and the day has 1500; on a spring-forward day it has 1380.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuotaClock {
    /// As [`LocalTime::day_stamp`].
    pub day_stamp: u32,
    /// Real minutes since local midnight, 0..[`QUOTA_MINUTES_PER_DAY`] on every real day.
    pub minute: u16,
}

impl QuotaClock {
    /// The quota day and minute of a Unix timestamp in nanoseconds in `tz`.
    pub(crate) fn at(ts_ns: u64, tz: Tz) -> QuotaClock {
        let secs = i64::try_from(ts_ns / NS_PER_SEC).unwrap_or(i64::MAX);
        let utc = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(DateTime::UNIX_EPOCH);
        let date = utc.with_timezone(&tz).date_naive();
        let day_stamp = u32::try_from(date.num_days_from_ce())
            .unwrap_or(0)
            .saturating_add(1);
        let since_midnight = day_start(date, tz).map_or(0, |start| (utc.timestamp() - start) / 60);
        QuotaClock {
            day_stamp,
            minute: u16::try_from(since_midnight.max(0)).unwrap_or(u16::MAX),
        }
    }
}

/// The instant (Unix seconds) at which `date` begins in `tz`: local midnight, the earlier one
/// when midnight happens twice, or the end of the gap when a clock change skips midnight.
fn day_start(date: NaiveDate, tz: Tz) -> Option<i64> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    (0..=i64::from(MINUTES_PER_DAY)).find_map(|m| {
        match tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m))) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                Some(t.timestamp())
            }
            chrono::LocalResult::None => None,
        }
    })
}

/// The start of the next minute after `ts_ns` (minute boundaries are the same in every zone
/// pcgate cares about: offsets are whole minutes).
pub(crate) fn next_minute(ts_ns: u64) -> u64 {
    (ts_ns - ts_ns % NS_PER_MIN).saturating_add(NS_PER_MIN)
}

/// The first instant after `ts_ns` at which local time reaches one of `boundaries`
/// (sorted minutes-of-week), as a Unix timestamp in ns; `u64::MAX` when there are none.
/// A boundary that falls into a daylight-saving gap gives the next minute instead (decide again
/// soon rather than too late).
pub(crate) fn next_boundary(boundaries: &[u32], t: &LocalTime, ts_ns: u64, tz: Tz) -> u64 {
    let now = t.minute_of_week();
    let Some(next) = boundaries
        .iter()
        .copied()
        .find(|&b| b > now)
        .or_else(|| boundaries.first().map(|&b| b + MINUTES_PER_WEEK))
    else {
        return u64::MAX;
    };
    let delta = i64::from(next - now);
    let target = t.minute_start + chrono::Duration::minutes(delta);
    let instant = match tz.from_local_datetime(&target) {
        chrono::LocalResult::Single(dt) => Some(dt),
        chrono::LocalResult::Ambiguous(earliest, _) => Some(earliest),
        chrono::LocalResult::None => None,
    };
    instant
        .and_then(|dt| dt.timestamp_nanos_opt())
        .and_then(|ns| u64::try_from(ns).ok())
        .filter(|&ns| ns > ts_ns)
        .unwrap_or_else(|| next_minute(ts_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-06-03 is a Monday.
    fn utc_ns(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
        let t = Utc
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid");
        t.timestamp_nanos_opt().expect("in range") as u64
    }

    fn window(days: Days, start: &str, end: &str) -> Window {
        Window {
            name: "w".into(),
            days,
            start: parse_hhmm(start, false).expect("start"),
            end: parse_hhmm(end, true).expect("end"),
            rules: WindowRules::default(),
        }
    }

    #[test]
    fn parse_hhmm_accepts_only_clock_times() {
        let cases = [
            ("00:00", false, Some(0)),
            ("7:05", false, Some(425)),
            ("23:59", false, Some(1439)),
            ("24:00", true, Some(1440)),
            ("24:00", false, None),
            ("24:01", true, None),
            ("12:60", false, None),
            ("1200", false, None),
            ("12:5", false, None),
            ("-1:00", false, None),
            ("+1:00", false, None),
            ("", false, None),
        ];
        for (s, end, want) in cases {
            assert_eq!(parse_hhmm(s, end), want, "{s}");
        }
    }

    #[test]
    fn window_crossing_midnight_belongs_to_its_start_day() {
        let sun = Days::parse_one("sun").expect("day");
        let w = window(sun, "21:00", "07:00");
        // (weekday, minute, active)
        let cases = [
            (6, 21 * 60, true),       // Sun 21:00
            (6, 20 * 60 + 59, false), // Sun 20:59
            (0, 6 * 60 + 59, true),   // Mon 06:59
            (0, 7 * 60, false),       // Mon 07:00
            (0, 22 * 60, false),      // Mon 22:00: Monday is not listed
            (5, 23 * 60, false),      // Sat 23:00
            (6, 3 * 60, false),       // Sun 03:00: Saturday night is not listed
        ];
        for (weekday, minute, want) in cases {
            let t = LocalTime {
                weekday,
                minute,
                day_stamp: 1,
                minute_start: NaiveDateTime::default(),
            };
            assert_eq!(w.active(&t), want, "day {weekday} minute {minute}");
        }
    }

    #[test]
    fn local_time_follows_zone_and_dst() {
        // 2024-06-03 20:30 UTC: London (BST) 21:30 Monday; New York (EDT) 16:30 Monday.
        let ts = utc_ns(2024, 6, 3, 20, 30);
        let lon = LocalTime::at(ts, chrono_tz::Europe::London);
        assert_eq!((lon.weekday, lon.minute), (0, 21 * 60 + 30));
        let ny = LocalTime::at(ts, chrono_tz::America::New_York);
        assert_eq!((ny.weekday, ny.minute), (0, 16 * 60 + 30));
        // 2024-01-08 20:30 UTC: London (GMT) 20:30.
        let winter = LocalTime::at(utc_ns(2024, 1, 8, 20, 30), chrono_tz::Europe::London);
        assert_eq!(winter.minute, 20 * 60 + 30);
        // Tokyo is already Tuesday.
        let tokyo = LocalTime::at(ts, chrono_tz::Asia::Tokyo);
        assert_eq!((tokyo.weekday, tokyo.minute), (1, 5 * 60 + 30));
    }

    #[test]
    fn quota_clock_counts_real_minutes_since_local_midnight() {
        let ny = chrono_tz::America::New_York;
        let at = |ts| {
            let c = QuotaClock::at(ts, ny);
            (c.day_stamp, c.minute)
        };
        let (nov2, _) = at(utc_ns(2025, 11, 2, 12, 0));
        // Fall-back day: midnight EDT is 04:00 UTC; 01:20 EDT and 01:20 EST are 60 minutes
        // apart; 23:59 EST is minute 1499 of the same day.
        assert_eq!(at(utc_ns(2025, 11, 2, 4, 0)), (nov2, 0));
        assert_eq!(at(utc_ns(2025, 11, 2, 5, 20)), (nov2, 80));
        assert_eq!(at(utc_ns(2025, 11, 2, 6, 20)), (nov2, 140));
        assert_eq!(at(utc_ns(2025, 11, 3, 4, 59)), (nov2, 1499));
        assert_eq!(at(utc_ns(2025, 11, 3, 5, 0)), (nov2 + 1, 0));
        // Spring-forward day: 01:59 EST and 03:00 EDT are one minute apart; 23:59 EDT is 1379.
        let (mar9, _) = at(utc_ns(2025, 3, 9, 12, 0));
        assert_eq!(at(utc_ns(2025, 3, 9, 6, 59)), (mar9, 119));
        assert_eq!(at(utc_ns(2025, 3, 9, 7, 0)), (mar9, 120));
        assert_eq!(at(utc_ns(2025, 3, 10, 3, 59)), (mar9, 1379));
        assert_eq!(at(utc_ns(2025, 3, 10, 4, 0)), (mar9 + 1, 0));
        // The day is the local date, as for schedules.
        assert_eq!(
            QuotaClock::at(utc_ns(2025, 11, 2, 5, 20), ny).day_stamp,
            LocalTime::at(utc_ns(2025, 11, 2, 5, 20), ny).day_stamp
        );
        // Sao Paulo, 2018-11-04: the clock went from 00:00 to 01:00, so the day began at
        // 01:00 BRST (03:00 UTC).
        let sp = chrono_tz::America::Sao_Paulo;
        assert_eq!(QuotaClock::at(utc_ns(2018, 11, 4, 3, 0), sp).minute, 0);
        assert_eq!(QuotaClock::at(utc_ns(2018, 11, 4, 3, 30), sp).minute, 30);
    }

    #[test]
    fn next_boundary_is_the_next_start_or_end_in_utc() {
        let tz = chrono_tz::Europe::London;
        let w = window(Days::DAILY, "21:00", "07:00");
        let mut b = Vec::new();
        w.push_boundaries(&mut b);
        b.sort_unstable();
        b.dedup();
        // Monday 2024-06-03 19:59:30 UTC = 20:59:30 BST: next boundary 21:00 BST = 20:00 UTC.
        let ts = utc_ns(2024, 6, 3, 19, 59) + 30 * NS_PER_SEC;
        let t = LocalTime::at(ts, tz);
        assert_eq!(next_boundary(&b, &t, ts, tz), utc_ns(2024, 6, 3, 20, 0));
        // Exactly at 21:00 BST the next boundary is 07:00 BST Tuesday = 06:00 UTC.
        let ts = utc_ns(2024, 6, 3, 20, 0);
        let t = LocalTime::at(ts, tz);
        assert_eq!(next_boundary(&b, &t, ts, tz), utc_ns(2024, 6, 4, 6, 0));
        // No windows: valid for ever.
        assert_eq!(next_boundary(&[], &t, ts, tz), u64::MAX);
    }

    #[test]
    fn next_boundary_wraps_the_week_and_crosses_dst() {
        let tz = chrono_tz::Europe::London;
        // Only Sunday 21:00-07:00.
        let w = window(Days::parse_one("sun").expect("day"), "21:00", "07:00");
        let mut b = Vec::new();
        w.push_boundaries(&mut b);
        b.sort_unstable();
        // Monday 2024-03-25 08:00 BST (07:00 UTC): next boundary Sunday 2024-03-31 21:00 BST
        // (20:00 UTC). DST starts in between (2024-03-31 01:00 UTC), so a wall-clock delta
        // would be an hour off.
        let ts = utc_ns(2024, 3, 25, 7, 0);
        let t = LocalTime::at(ts, tz);
        assert_eq!(next_boundary(&b, &t, ts, tz), utc_ns(2024, 3, 31, 20, 0));
    }

    #[test]
    fn boundary_in_dst_gap_gives_next_minute() {
        let tz = chrono_tz::Europe::London;
        // 01:30 does not exist on 2024-03-31 in London.
        let w = window(Days::DAILY, "01:30", "02:30");
        let mut b = Vec::new();
        w.push_boundaries(&mut b);
        b.sort_unstable();
        let ts = utc_ns(2024, 3, 31, 0, 45) + 10 * NS_PER_SEC; // 00:45:10 GMT
        let t = LocalTime::at(ts, tz);
        assert_eq!(next_boundary(&b, &t, ts, tz), utc_ns(2024, 3, 31, 0, 46));
    }
}
