//! Tests of the policy as a whole: compile, look up, decide, account, publish, report.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};

use chrono::{TimeZone, Utc};

use super::*;
use crate::classify::{AppId, AppNames, Category, Match};

// ---- A catalog for tests -------------------------------------------------------------------

const APPS: [(&str, Category); 17] = [
    ("tiktok", Category::Social),
    ("instagram", Category::Social),
    ("snapchat", Category::Social),
    ("youtube", Category::Video),
    ("roblox", Category::Gaming),
    ("fortnite", Category::Gaming),
    ("minecraft", Category::Gaming),
    ("discord", Category::Messaging),
    ("netflix", Category::Streaming),
    ("whatsapp", Category::Messaging),
    ("pornhub", Category::Adult),
    ("bet365", Category::Gambling),
    ("tinder", Category::Dating),
    ("nordvpn", Category::Vpn),
    ("khan_academy", Category::Education),
    ("wikipedia", Category::Education),
    ("duolingo", Category::Education),
];

struct TestApps;

impl AppNames for TestApps {
    fn app_id(&self, id: &str) -> Option<AppId> {
        APPS.iter()
            .position(|(n, _)| *n == id)
            .and_then(|i| u16::try_from(i).ok())
            .map(AppId)
    }
    fn app_name(&self, app: AppId) -> Option<&str> {
        APPS.get(usize::from(app.0)).map(|(n, _)| *n)
    }
    fn app_category(&self, app: AppId) -> Option<Category> {
        APPS.get(usize::from(app.0)).map(|(_, c)| *c)
    }
}

fn app(name: &str) -> Option<Match> {
    let id = TestApps.app_id(name).expect("test app");
    Some(Match {
        app: Some(id),
        category: TestApps.app_category(id).expect("category"),
    })
}

fn cat(c: Category) -> Option<Match> {
    Some(Match {
        app: None,
        category: c,
    })
}

// ---- Counting allocations on this thread ---------------------------------------------------

struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}

// ---- Time ----------------------------------------------------------------------------------

/// Unix ns of a UTC wall-clock time. 2024-06-02 is a Sunday, 2024-06-03 a Monday.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> u64 {
    let t = Utc
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("time");
    u64::try_from(t.timestamp_nanos_opt().expect("range")).expect("after 1970")
}

// ---- The test policy -----------------------------------------------------------------------

const TEST_POLICY: &str = r#"
default_profile = "open"
default_timezone = "UTC"

[[subscriber]]
id = "447700900001"
identifiers = ["10.0.0.1", 1001]
profile = "kid"
timezone = "Europe/London"

[[subscriber]]
id = "447700900002"
identifiers = ["10.0.0.2", "10.1.0.0/16", "2001:db8::/64"]
profile = "kid"
timezone = "America/New_York"

[[subscriber]]
id = "447700900003"
identifiers = ["10.1.2.0/24"]
profile = "strict"
timezone = "UTC"

[profile.kid]
blocked_categories = ["gambling", "adult"]
blocked_apps = ["tinder"]
allowed_apps = ["wikipedia"]
allowed_domains = ["bbc.co.uk"]
quotas = [{ app = "tiktok", minutes = 2 }, { category = "gaming", minutes = 3 }]

[[profile.kid.schedules]]
name = "school-nights"
days = ["sun", "mon", "tue", "wed", "thu"]
start = "21:00"
end = "07:00"
block_all = true
allowed_categories = ["education"]

[[profile.kid.schedules]]
name = "lunch"
days = "weekdays"
start = "12:00"
end = "13:00"
blocked_categories = ["video"]

[[profile.kid.schedules]]
name = "afternoon"
days = "weekdays"
start = "15:00"
end = "16:00"
blocked_apps = ["youtube"]

[[profile.kid.schedules]]
name = "weekend-mornings"
days = "weekends"
start = "06:00"
end = "09:00"
blocked_categories = ["gaming"]

[profile.strict]
block_quic = true
block_doh = true
block_vpn = true
unknown = "block"

[profile.open]
blocked_categories = ["adult"]
quotas = [{ app = "tiktok", minutes = 1 }]
"#;

fn test_policy() -> Policy {
    Policy::from_toml_str(TEST_POLICY, "test.toml", &TestApps).expect("test policy compiles")
}

const KID_LONDON: &str = "447700900001";
const KID_NEW_YORK: &str = "447700900002";
const STRICT: &str = "447700900003";

fn sub(p: &Policy, id: &str) -> SubscriberRef {
    p.subscriber_by_id(id).expect("listed")
}

fn https() -> SocketAddr {
    "203.0.113.5:443".parse().expect("addr")
}

fn query(s: SubscriberRef, ts_ns: u64, name: Option<&str>, matched: Option<Match>) -> Query<'_> {
    Query {
        subscriber: s,
        ts_ns,
        l4_is_udp: false,
        is_quic: false,
        name,
        matched,
        server: https(),
        evasive: false,
    }
}

fn label(p: &Policy, v: &Verdict) -> String {
    p.rule_label(v.rule).to_string()
}

/// (case, subscriber, utc time, match, name, expected action, expected label)
type ScheduleCase = (
    &'static str,
    SubscriberRef,
    u64,
    Option<Match>,
    Option<&'static str>,
    Action,
    &'static str,
);

/// (case, utc time, name, match, expected action, expected label)
type OverrideCase = (
    &'static str,
    u64,
    Option<&'static str>,
    Option<Match>,
    Action,
    &'static str,
);

// ---- Lookup --------------------------------------------------------------------------------

#[test]
fn subscriber_lookup_uses_teid_then_exact_then_longest_prefix_then_default() {
    let p = test_policy();
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    let cases: [(&str, Option<u32>, &str); 9] = [
        ("10.0.0.1", None, KID_LONDON),
        ("192.0.2.9", Some(1001), KID_LONDON),
        ("10.0.0.2", Some(4242), KID_NEW_YORK),
        ("10.1.9.9", None, KID_NEW_YORK),
        ("10.1.2.3", None, STRICT),
        ("2001:db8::77", None, KID_NEW_YORK),
        ("2001:db8:1::77", None, DEFAULT_SUBSCRIBER_ID),
        ("192.0.2.9", None, DEFAULT_SUBSCRIBER_ID),
        ("::ffff:10.0.0.1", None, KID_LONDON),
    ];
    for (addr, teid, want) in cases {
        let s = p.subscriber_for(ip(addr), teid);
        assert_eq!(p.subscriber_id(s), want, "{addr} {teid:?}");
    }
    assert_eq!(
        p.subscriber_for(ip("192.0.2.9"), None),
        SubscriberRef::Default
    );
    assert_eq!(p.profile_name(SubscriberRef::Default), "open");
    assert_eq!(p.profile_name(sub(&p, STRICT)), "strict");
}

#[test]
fn a_flows_subscriber_is_whichever_end_is_listed_teid_then_client_then_server() {
    let p = test_policy();
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    let who = |client: &str, server: &str, teid: Option<u32>| {
        p.subscriber_id(p.subscriber_of_flow(ip(client), ip(server), teid))
            .to_owned()
    };
    let cases: [(&str, &str, Option<u32>, &str); 7] = [
        // The phone is the client, or the server (a connection to the phone).
        ("10.0.0.1", "198.51.100.60", None, KID_LONDON),
        ("198.51.100.60", "10.0.0.1", None, KID_LONDON),
        ("198.51.100.60", "2001:db8::9", None, KID_NEW_YORK),
        // Both ends listed: the client's line.
        ("10.0.0.2", "10.0.0.1", None, KID_NEW_YORK),
        ("10.0.0.1", "10.0.0.2", None, KID_LONDON),
        // The tunnel's TEID beats both addresses.
        ("10.0.0.2", "10.1.2.3", Some(1001), KID_LONDON),
        ("198.51.100.60", "192.0.2.9", None, DEFAULT_SUBSCRIBER_ID),
    ];
    for (client, server, teid, want) in cases {
        assert_eq!(
            who(client, server, teid),
            want,
            "{client} -> {server} {teid:?}"
        );
    }
}

#[test]
fn unknown_subscriber_gets_default_profile() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let s = p.subscriber_for("198.51.100.1".parse().expect("ip"), None);
    assert_eq!(s, SubscriberRef::Default);
    let ts = utc(2024, 6, 3, 10, 0, 0);
    // "open" blocks adult only; gambling passes (it is blocked for the kids).
    let v = p.decide(&query(s, ts, Some("x.example"), app("pornhub")), &ledger);
    assert_eq!(
        (v.action, label(&p, &v).as_str()),
        (Action::Block, "category:adult")
    );
    let v = p.decide(&query(s, ts, Some("x.example"), app("bet365")), &ledger);
    assert_eq!(v.action, Action::Allow);
    // An out-of-range reference (from another policy) also falls back to the default.
    let v = p.decide(
        &query(SubscriberRef::Listed(999), ts, None, app("bet365")),
        &ledger,
    );
    assert_eq!(v.action, Action::Allow);
    assert_eq!(
        p.subscriber_id(SubscriberRef::Listed(999)),
        DEFAULT_SUBSCRIBER_ID
    );
}

// ---- Schedules -----------------------------------------------------------------------------

#[test]
fn schedules_by_local_time_table() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let lon = sub(&p, KID_LONDON);
    let ny = sub(&p, KID_NEW_YORK);
    // (case, subscriber, utc time, match, name, expected action, expected label)
    let cases: Vec<ScheduleCase> = vec![
        // Sunday 21:30 BST: school night.
        (
            "sun night london",
            lon,
            utc(2024, 6, 2, 20, 30, 0),
            app("youtube"),
            None,
            Action::Block,
            "schedule:school-nights",
        ),
        // Same instant is Sunday 16:30 in New York.
        (
            "sun afternoon new york",
            ny,
            utc(2024, 6, 2, 20, 30, 0),
            app("youtube"),
            None,
            Action::Allow,
            "default",
        ),
        // New York's school night starts at 21:00 EDT = 01:00 UTC Monday.
        (
            "sun night new york",
            ny,
            utc(2024, 6, 3, 1, 0, 0),
            app("youtube"),
            None,
            Action::Block,
            "schedule:school-nights",
        ),
        // The window crosses midnight: Monday 06:59 BST still blocked, 07:00 free.
        (
            "mon 06:59 london",
            lon,
            utc(2024, 6, 3, 5, 59, 0),
            app("youtube"),
            None,
            Action::Block,
            "schedule:school-nights",
        ),
        (
            "mon 07:00 london",
            lon,
            utc(2024, 6, 3, 6, 0, 0),
            app("youtube"),
            None,
            Action::Allow,
            "default",
        ),
        // Education passes the block_all window; the unknown does not.
        (
            "education at night",
            lon,
            utc(2024, 6, 2, 22, 0, 0),
            app("khan_academy"),
            None,
            Action::Allow,
            "default",
        ),
        (
            "unnamed at night",
            lon,
            utc(2024, 6, 2, 22, 0, 0),
            None,
            None,
            Action::Block,
            "schedule:school-nights",
        ),
        // Friday night is not a school night, nor is Saturday's early Sunday morning.
        (
            "fri night",
            lon,
            utc(2024, 6, 7, 20, 30, 0),
            app("youtube"),
            None,
            Action::Allow,
            "default",
        ),
        (
            "sun 03:00",
            lon,
            utc(2024, 6, 2, 2, 0, 0),
            app("youtube"),
            None,
            Action::Allow,
            "default",
        ),
        // Several windows on one weekday.
        (
            "mon lunch",
            lon,
            utc(2024, 6, 3, 11, 30, 0),
            app("youtube"),
            None,
            Action::Block,
            "schedule:lunch",
        ),
        (
            "mon between",
            lon,
            utc(2024, 6, 3, 13, 30, 0),
            app("youtube"),
            None,
            Action::Allow,
            "default",
        ),
        (
            "mon afternoon",
            lon,
            utc(2024, 6, 3, 14, 30, 0),
            app("youtube"),
            None,
            Action::Block,
            "schedule:afternoon",
        ),
        (
            "mon afternoon other app",
            lon,
            utc(2024, 6, 3, 14, 30, 0),
            app("netflix"),
            None,
            Action::Allow,
            "default",
        ),
        // Weekends vs weekdays.
        (
            "sat morning gaming",
            lon,
            utc(2024, 6, 8, 7, 0, 0),
            app("roblox"),
            None,
            Action::Block,
            "schedule:weekend-mornings",
        ),
        (
            "mon morning gaming",
            lon,
            utc(2024, 6, 3, 7, 0, 0),
            app("roblox"),
            None,
            Action::Allow,
            "default",
        ),
        (
            "sat lunch video",
            lon,
            utc(2024, 6, 8, 11, 30, 0),
            app("youtube"),
            None,
            Action::Allow,
            "default",
        ),
        // DST: Sunday 2024-03-24 20:30 UTC is 20:30 GMT (free), a week later 21:30 BST.
        (
            "gmt sunday 20:30",
            lon,
            utc(2024, 3, 24, 20, 30, 0),
            app("youtube"),
            None,
            Action::Allow,
            "default",
        ),
        (
            "gmt sunday 21:00",
            lon,
            utc(2024, 3, 24, 21, 0, 0),
            app("youtube"),
            None,
            Action::Block,
            "schedule:school-nights",
        ),
        (
            "bst sunday 20:30 utc",
            lon,
            utc(2024, 3, 31, 20, 30, 0),
            app("youtube"),
            None,
            Action::Block,
            "schedule:school-nights",
        ),
    ];
    for (case, s, ts, matched, name, action, want) in cases {
        let v = p.decide(&query(s, ts, name, matched), &ledger);
        assert_eq!((v.action, label(&p, &v).as_str()), (action, want), "{case}");
    }
}

#[test]
fn overrides_beat_blocks_and_schedules() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let lon = sub(&p, KID_LONDON);
    let noon = utc(2024, 6, 3, 10, 0, 0);
    let night = utc(2024, 6, 2, 22, 0, 0);
    let wiki = TestApps.app_id("wikipedia");
    let cases: Vec<OverrideCase> = vec![
        (
            "blocked category",
            noon,
            Some("bet365.com"),
            app("bet365"),
            Action::Block,
            "category:gambling",
        ),
        (
            "blocked app",
            noon,
            Some("tinder.com"),
            app("tinder"),
            Action::Block,
            "app:tinder",
        ),
        // An allowed app wins even over a blocked category, at night too.
        (
            "allowed app over category",
            noon,
            None,
            Some(Match {
                app: wiki,
                category: Category::Gambling,
            }),
            Action::Allow,
            "allowed_app:wikipedia",
        ),
        (
            "allowed app at night",
            night,
            None,
            app("wikipedia"),
            Action::Allow,
            "allowed_app:wikipedia",
        ),
        // An allowed domain covers subdomains and beats a blocked category and the night.
        (
            "allowed domain",
            noon,
            Some("News.BBC.co.uk."),
            cat(Category::Adult),
            Action::Allow,
            "allowed_domain:bbc.co.uk",
        ),
        (
            "allowed domain at night",
            night,
            Some("www.bbc.co.uk"),
            app("youtube"),
            Action::Allow,
            "allowed_domain:bbc.co.uk",
        ),
        (
            "look-alike domain",
            noon,
            Some("evilbbc.co.uk"),
            cat(Category::Adult),
            Action::Block,
            "category:adult",
        ),
    ];
    for (case, ts, name, matched, action, want) in cases {
        let v = p.decide(&query(lon, ts, name, matched), &ledger);
        assert_eq!((v.action, label(&p, &v).as_str()), (action, want), "{case}");
    }
}

#[test]
fn valid_until_is_next_window_boundary() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let lon = sub(&p, KID_LONDON);
    // Sunday 20:59:30 BST: allowed until 21:00 BST.
    let v = p.decide(
        &query(lon, utc(2024, 6, 2, 19, 59, 30), None, app("youtube")),
        &ledger,
    );
    assert_eq!(v.action, Action::Allow);
    assert_eq!(v.valid_until_ns, utc(2024, 6, 2, 20, 0, 0));
    // At 21:00 BST: blocked until Monday 07:00 BST.
    let v = p.decide(
        &query(lon, utc(2024, 6, 2, 20, 0, 0), None, app("youtube")),
        &ledger,
    );
    assert_eq!(v.action, Action::Block);
    assert_eq!(v.valid_until_ns, utc(2024, 6, 3, 6, 0, 0));
    // Monday 07:30 BST: next boundary is lunch at 12:00 BST.
    let v = p.decide(
        &query(lon, utc(2024, 6, 3, 6, 30, 0), None, app("youtube")),
        &ledger,
    );
    assert_eq!(v.valid_until_ns, utc(2024, 6, 3, 11, 0, 0));
    // A flow that counts toward a quota is decided again at the next minute.
    let v = p.decide(
        &query(lon, utc(2024, 6, 3, 6, 30, 15), None, app("tiktok")),
        &ledger,
    );
    assert_eq!(v.action, Action::Allow);
    assert_eq!(v.valid_until_ns, utc(2024, 6, 3, 6, 31, 0));
    // A profile without windows: valid until the epoch changes.
    let v = p.decide(
        &query(
            sub(&p, STRICT),
            utc(2024, 6, 3, 6, 30, 0),
            Some("a.example"),
            None,
        ),
        &ledger,
    );
    assert_eq!(v.valid_until_ns, u64::MAX);
}

// ---- Quotas --------------------------------------------------------------------------------

#[test]
fn app_quota_under_at_and_over_the_limit() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let lon = sub(&p, KID_LONDON);
    let tiktok = app("tiktok");
    let decide = |ts| p.decide(&query(lon, ts, Some("tiktok.com"), tiktok), &ledger);
    // Monday 11:00 BST.
    assert_eq!(decide(utc(2024, 6, 3, 10, 0, 0)).action, Action::Allow);
    // Two flows in the same minute count one minute.
    p.account(&ledger, lon, tiktok, utc(2024, 6, 3, 10, 0, 5));
    p.account(&ledger, lon, tiktok, utc(2024, 6, 3, 10, 0, 40));
    assert_eq!(
        p.quota_used(&ledger, lon, "tiktok", utc(2024, 6, 3, 10, 0, 50)),
        Some(1)
    );
    assert_eq!(
        decide(utc(2024, 6, 3, 10, 0, 50)).action,
        Action::Allow,
        "under"
    );
    p.account(&ledger, lon, tiktok, utc(2024, 6, 3, 10, 1, 0));
    let v = decide(utc(2024, 6, 3, 10, 1, 30));
    assert_eq!(
        (v.action, label(&p, &v).as_str()),
        (Action::Block, "quota:tiktok"),
        "at"
    );
    assert_eq!(v.valid_until_ns, utc(2024, 6, 3, 10, 2, 0));
    p.account(&ledger, lon, tiktok, utc(2024, 6, 3, 10, 5, 0));
    assert_eq!(
        decide(utc(2024, 6, 3, 18, 0, 0)).action,
        Action::Block,
        "over"
    );
    // Other apps are not affected.
    let v = p.decide(
        &query(lon, utc(2024, 6, 3, 10, 2, 0), None, app("instagram")),
        &ledger,
    );
    assert_eq!(v.action, Action::Allow);
    // A new local day starts from zero.
    assert_eq!(decide(utc(2024, 6, 4, 10, 0, 0)).action, Action::Allow);
    // The day is the subscriber's: Friday 22:30 and 22:31 BST use the quota up; 00:30 BST
    // Saturday (23:30 UTC, still Friday in UTC) is a new day.
    p.account(&ledger, lon, tiktok, utc(2024, 6, 7, 21, 30, 0));
    p.account(&ledger, lon, tiktok, utc(2024, 6, 7, 21, 31, 0));
    assert_eq!(decide(utc(2024, 6, 7, 22, 59, 0)).action, Action::Block);
    assert_eq!(decide(utc(2024, 6, 7, 23, 30, 0)).action, Action::Allow);
    // The other London kid's usage is separate.
    let v = p.decide(
        &query(
            sub(&p, KID_NEW_YORK),
            utc(2024, 6, 3, 14, 0, 0),
            None,
            tiktok,
        ),
        &ledger,
    );
    assert_eq!(v.action, Action::Allow);
}

/// A New York line with 10 minutes of YouTube a day.
const NEW_YORK_YOUTUBE_10: &str = r#"
default_profile = "open"
[[subscriber]]
id = "12125550001"
identifiers = ["10.0.0.9"]
profile = "kid"
timezone = "America/New_York"
[profile.kid]
quotas = [{ app = "youtube", minutes = 10 }]
[profile.open]
"#;

/// Watches YouTube one packet a minute at each of `minutes` (Unix ns): decides, and counts the
/// minute when allowed, on two flows at once (a minute counts once however many flows are
/// active in it). Returns how many of the minutes were allowed.
fn watch_youtube(p: &Policy, ledger: &QuotaLedger, who: SubscriberRef, minutes: &[u64]) -> usize {
    let youtube = app("youtube");
    let mut allowed = 0;
    for &ts in minutes {
        let v = p.decide(&query(who, ts, Some("www.youtube.com"), youtube), ledger);
        if v.action == Action::Allow {
            allowed += 1;
            p.account(ledger, who, youtube, ts);
            p.account(ledger, who, youtube, ts + 20 * 1_000_000_000);
        }
    }
    allowed
}

#[test]
fn quota_counts_real_minutes_on_the_fall_back_day() {
    let p = Policy::from_toml_str(NEW_YORK_YOUTUBE_10, "t.toml", &TestApps).expect("policy");
    let ledger = QuotaLedger::for_policy(&p);
    let kid = sub(&p, "12125550001");
    // 2025-11-02, America/New_York: 01:20-01:26 EDT (05:20 UTC), then the clock goes back and
    // 01:20-01:26 EST (06:20 UTC): the same wall-clock minutes, 14 real minutes.
    let mut minutes: Vec<u64> = (20..27).map(|m| utc(2025, 11, 2, 5, m, 0)).collect();
    minutes.extend((20..27).map(|m| utc(2025, 11, 2, 6, m, 0)));
    assert_eq!(watch_youtube(&p, &ledger, kid, &minutes), 10);
    assert_eq!(
        p.quota_used(&ledger, kid, "youtube", utc(2025, 11, 2, 6, 30, 0)),
        Some(10)
    );
    let v = p.decide(
        &query(kid, utc(2025, 11, 2, 6, 27, 0), None, app("youtube")),
        &ledger,
    );
    assert_eq!(
        (v.action, label(&p, &v).as_str()),
        (Action::Block, "quota:youtube")
    );
    // The 25-hour day ends at local midnight: 23:59 EST (04:59 UTC on the 3rd) is still the
    // 2nd, blocked; 00:00 EST on the 3rd is a new day.
    assert_eq!(
        watch_youtube(&p, &ledger, kid, &[utc(2025, 11, 3, 4, 59, 0)]),
        0
    );
    assert_eq!(
        watch_youtube(&p, &ledger, kid, &[utc(2025, 11, 3, 5, 0, 0)]),
        1
    );
}

#[test]
fn quota_counts_real_minutes_on_the_spring_forward_day() {
    let p = Policy::from_toml_str(NEW_YORK_YOUTUBE_10, "t.toml", &TestApps).expect("policy");
    let ledger = QuotaLedger::for_policy(&p);
    let kid = sub(&p, "12125550001");
    // 2025-03-09, America/New_York: 01:55-01:59 EST (06:55 UTC), then 03:00-03:04 EDT
    // (07:00 UTC): ten minutes in a row across the hour that does not exist.
    let minutes: Vec<u64> = (55..65)
        .map(|m| utc(2025, 3, 9, 6, 0, 0) + m * 60 * 1_000_000_000)
        .collect();
    assert_eq!(watch_youtube(&p, &ledger, kid, &minutes), 10);
    assert_eq!(
        p.quota_used(&ledger, kid, "youtube", utc(2025, 3, 9, 7, 5, 0)),
        Some(10)
    );
    // The 23-hour day's last minute, 23:59 EDT (03:59 UTC on the 10th), is still the 9th;
    // 00:00 EDT is a new day.
    assert_eq!(
        watch_youtube(&p, &ledger, kid, &[utc(2025, 3, 10, 3, 59, 0)]),
        0
    );
    assert_eq!(
        watch_youtube(&p, &ledger, kid, &[utc(2025, 3, 10, 4, 0, 0)]),
        1
    );
    assert_eq!(
        p.quota_used(&ledger, kid, "youtube", utc(2025, 3, 10, 4, 0, 30)),
        Some(1)
    );
}

#[test]
fn category_quota_counts_minutes_across_apps_once() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let ny = sub(&p, KID_NEW_YORK);
    let t = |m| utc(2024, 6, 4, 14, m, 10); // Tuesday 10:xx EDT
                                            // Roblox and Minecraft in the same minute: one minute of gaming.
    p.account(&ledger, ny, app("roblox"), t(0));
    p.account(&ledger, ny, app("minecraft"), t(0));
    p.account(&ledger, ny, app("roblox"), t(1));
    assert_eq!(p.quota_used(&ledger, ny, "gaming", t(1)), Some(2));
    let v = p.decide(&query(ny, t(2), None, app("fortnite")), &ledger);
    assert_eq!(v.action, Action::Allow);
    p.account(&ledger, ny, app("fortnite"), t(2));
    let v = p.decide(&query(ny, t(3), None, app("minecraft")), &ledger);
    assert_eq!(
        (v.action, label(&p, &v).as_str()),
        (Action::Block, "quota:gaming")
    );
    // Non-gaming flows neither count nor are blocked.
    p.account(&ledger, ny, app("youtube"), t(4));
    assert_eq!(p.quota_used(&ledger, ny, "gaming", t(4)), Some(3));
    assert_eq!(p.quota_used(&ledger, ny, "tiktok", t(4)), Some(0));
    assert_eq!(p.quota_used(&ledger, ny, "netflix", t(4)), None);
}

#[test]
fn default_subscribers_quotas_are_not_tracked() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let ts = utc(2024, 6, 3, 10, 0, 0);
    for m in 0..5 {
        p.account(
            &ledger,
            SubscriberRef::Default,
            app("tiktok"),
            ts + m * 60_000_000_000,
        );
    }
    let v = p.decide(
        &query(
            SubscriberRef::Default,
            ts + 300_000_000_000,
            None,
            app("tiktok"),
        ),
        &ledger,
    );
    assert_eq!(v.action, Action::Allow);
    // 2 listed kids x 2 quotas; "strict" has none; unlisted have no slots.
    assert_eq!(ledger.len(), 4);
}

#[test]
fn ledger_of_another_policy_is_ignored_and_carry_over_keeps_usage() {
    let p1 = test_policy();
    let l1 = QuotaLedger::for_policy(&p1);
    let lon = sub(&p1, KID_LONDON);
    let tiktok = app("tiktok");
    p1.account(&l1, lon, tiktok, utc(2024, 6, 3, 10, 0, 0));
    p1.account(&l1, lon, tiktok, utc(2024, 6, 3, 10, 1, 0));
    let ts = utc(2024, 6, 3, 10, 2, 0);
    assert_eq!(
        p1.decide(&query(lon, ts, None, tiktok), &l1).action,
        Action::Block
    );

    // A second compile of the same text is another policy: p1's ledger means nothing to it.
    let p2 = test_policy();
    let lon2 = sub(&p2, KID_LONDON);
    assert_eq!(
        p2.decide(&query(lon2, ts, None, tiktok), &l1).action,
        Action::Allow
    );
    p2.account(&l1, lon2, app("roblox"), ts);

    // Carried over by subscriber id and quota target, usage survives the new policy.
    let l2 = QuotaLedger::carry_over(&p2, &p1, &l1);
    assert_eq!(p2.quota_used(&l2, lon2, "tiktok", ts), Some(2));
    assert_eq!(p2.quota_used(&l2, lon2, "gaming", ts), Some(0));
    assert_eq!(
        p2.decide(&query(lon2, ts, None, tiktok), &l2).action,
        Action::Block
    );
}

// ---- Ways around the policy, and unknown flows ---------------------------------------------

#[test]
fn quic_doh_vpn_and_unknown_table() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let strict = sub(&p, STRICT);
    let kid = sub(&p, KID_LONDON);
    let ts = utc(2024, 6, 3, 10, 0, 0);
    let sa = |s: &str| s.parse::<SocketAddr>().expect("addr");
    // (case, subscriber, udp, quic, name, match, server, action, label)
    type Case<'a> = (
        &'a str,
        SubscriberRef,
        bool,
        bool,
        Option<&'a str>,
        Option<Match>,
        SocketAddr,
        Action,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "quic with sni",
            strict,
            true,
            true,
            Some("www.example.com"),
            None,
            sa("203.0.113.5:443"),
            Action::Block,
            "quic",
        ),
        (
            "udp 443 not yet quic",
            strict,
            true,
            false,
            None,
            None,
            sa("203.0.113.5:443"),
            Action::Block,
            "quic",
        ),
        (
            "tcp 443 named",
            strict,
            false,
            false,
            Some("www.example.com"),
            None,
            sa("203.0.113.5:443"),
            Action::Allow,
            "default",
        ),
        (
            "quic allowed without block_quic",
            kid,
            true,
            true,
            Some("www.example.com"),
            None,
            sa("203.0.113.5:443"),
            Action::Allow,
            "default",
        ),
        (
            "doh by name",
            strict,
            false,
            false,
            Some("dns.google"),
            None,
            sa("203.0.113.5:443"),
            Action::Block,
            "doh",
        ),
        (
            "doh by subdomain",
            strict,
            false,
            false,
            Some("abc.dns.nextdns.io"),
            None,
            sa("203.0.113.5:443"),
            Action::Block,
            "doh",
        ),
        (
            "doh by category",
            strict,
            false,
            false,
            Some("resolver.example"),
            cat(Category::Doh),
            sa("203.0.113.5:443"),
            Action::Block,
            "doh",
        ),
        (
            "doh by address",
            strict,
            false,
            false,
            None,
            None,
            sa("1.1.1.1:443"),
            Action::Block,
            "doh",
        ),
        (
            "doh by v6 address",
            strict,
            false,
            false,
            None,
            None,
            sa("[2606:4700:4700::1111]:443"),
            Action::Block,
            "doh",
        ),
        (
            "dot port",
            strict,
            false,
            false,
            None,
            None,
            sa("198.51.100.53:853"),
            Action::Block,
            "doh",
        ),
        (
            "plain dns to a public resolver",
            strict,
            true,
            false,
            Some("example.com"),
            None,
            sa("8.8.8.8:53"),
            Action::Allow,
            "default",
        ),
        (
            "vpn category",
            strict,
            false,
            false,
            Some("nordvpn.com"),
            app("nordvpn"),
            sa("203.0.113.5:443"),
            Action::Block,
            "vpn",
        ),
        (
            "wireguard port unnamed",
            strict,
            true,
            false,
            None,
            None,
            sa("203.0.113.9:51820"),
            Action::Block,
            "vpn",
        ),
        (
            "unknown blocked",
            strict,
            false,
            false,
            None,
            None,
            sa("203.0.113.9:5000"),
            Action::Block,
            "unknown",
        ),
        (
            "named but unclassified",
            strict,
            false,
            false,
            Some("obscure.example"),
            None,
            sa("203.0.113.9:5000"),
            Action::Allow,
            "default",
        ),
        (
            "empty name is unknown",
            strict,
            false,
            false,
            Some(""),
            None,
            sa("203.0.113.9:5000"),
            Action::Block,
            "unknown",
        ),
        (
            "classified by address only",
            strict,
            false,
            false,
            None,
            cat(Category::News),
            sa("203.0.113.9:5000"),
            Action::Allow,
            "default",
        ),
        (
            "unknown allowed by default",
            kid,
            false,
            false,
            None,
            None,
            sa("203.0.113.9:5000"),
            Action::Allow,
            "default",
        ),
    ];
    for (case, s, udp, quic, name, matched, server, action, want) in cases {
        let q = Query {
            subscriber: s,
            ts_ns: ts,
            l4_is_udp: udp,
            is_quic: quic,
            name,
            matched,
            server,
            evasive: false,
        };
        let v = p.decide(&q, &ledger);
        assert_eq!((v.action, label(&p, &v).as_str()), (action, want), "{case}");
    }
}

const EVASION_POLICY: &str = r#"
default_profile = "open"
[[subscriber]]
id = "1"
identifiers = ["10.0.0.1"]
profile = "kid"
[[subscriber]]
id = "2"
identifiers = ["10.0.0.2"]
profile = "lenient"
[[subscriber]]
id = "3"
identifiers = ["10.0.0.3"]
profile = "watchful"
[profile.kid]
blocked_categories = ["adult"]
allowed_domains = ["bbc.co.uk"]
[profile.lenient]
blocked_categories = ["adult"]
evasion = "allow"
[profile.watchful]
evasion = "block"
[profile.open]
"#;

#[test]
fn evasive_flows_are_blocked_first_where_the_profile_blocks_anything_or_says_so() {
    let p = Policy::from_toml_str(EVASION_POLICY, "evasion.toml", &TestApps).expect("policy");
    let ledger = QuotaLedger::for_policy(&p);
    let ts = utc(2024, 6, 3, 10, 0, 0);
    let decide = |id: &str, name: Option<&str>, evasive: bool| {
        let s = match id {
            "default" => SubscriberRef::Default,
            id => sub(&p, id),
        };
        let q = Query {
            evasive,
            ..query(s, ts, name, None)
        };
        let v = p.decide(&q, &ledger);
        (v.action, label(&p, &v))
    };
    let evasion = (Action::Block, "evasion".to_string());
    // Blocks something, so evasion blocks by default, before the allow overrides: the name of
    // an evasive flow cannot be trusted.
    assert_eq!(decide("1", None, true), evasion);
    assert_eq!(decide("1", Some("www.bbc.co.uk"), true), evasion);
    assert_eq!(decide("1", None, false).0, Action::Allow);
    // Said otherwise, or blocks nothing: decided as any unnamed flow.
    assert_eq!(decide("2", None, true).0, Action::Allow);
    assert_eq!(decide("default", None, true).0, Action::Allow);
    // Blocks nothing else, but says so.
    assert_eq!(decide("3", None, true), evasion);
    assert_eq!(decide("3", None, false).0, Action::Allow);
}

#[test]
fn a_bad_evasion_value_is_an_error_with_its_field() {
    let text = EVASION_POLICY.replace(r#"evasion = "allow""#, r#"evasion = "maybe""#);
    let errors = Policy::from_toml_str(&text, "evasion.toml", &TestApps)
        .expect_err("a bad value")
        .0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "profile.lenient.evasion");
    assert_eq!(errors[0].line, 20);
    assert!(errors[0].to_string().contains("maybe"), "{}", errors[0]);
}

#[test]
fn block_vpn_covers_ike_nat_t_openvpn_l2tp_pptp_and_wireguard_ports() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let (strict, kid) = (sub(&p, STRICT), sub(&p, KID_LONDON));
    let ts = utc(2024, 6, 3, 10, 0, 0);
    let decide = |s, udp, name, matched, port: u16| {
        let q = Query {
            subscriber: s,
            ts_ns: ts,
            l4_is_udp: udp,
            is_quic: false,
            name,
            matched,
            server: SocketAddr::from(([203, 0, 113, 9], port)),
            evasive: false,
        };
        let v = p.decide(&q, &ledger);
        (v.action, label(&p, &v))
    };
    let vpn = (Action::Block, "vpn".to_owned());
    // (protocol, udp, port): IKE, IPsec NAT-T (UDP, and TCP encapsulation), OpenVPN (both),
    // L2TP, PPTP, WireGuard.
    let ports = [
        ("ike", true, 500),
        ("ipsec nat-t", true, 4500),
        ("ike over tcp", false, 4500),
        ("openvpn udp", true, 1194),
        ("openvpn tcp", false, 1194),
        ("l2tp", true, 1701),
        ("pptp", false, 1723),
        ("wireguard", true, 51820),
    ];
    for (proto, udp, port) in ports {
        assert_eq!(
            decide(strict, udp, None, None, port),
            vpn,
            "{proto} unnamed"
        );
        // Named from a DNS answer for the server, but no catalog app: still a VPN.
        let named = decide(strict, udp, Some("vpn.example.net"), None, port);
        assert_eq!(named, vpn, "{proto} named, unclassified");
        // A catalog app that happens to use the port is that app, not a VPN.
        let youtube = decide(strict, udp, Some("www.youtube.com"), app("youtube"), port);
        assert_eq!(
            youtube,
            (Action::Allow, "default".to_owned()),
            "{proto} app"
        );
        // A profile without block_vpn lets it pass.
        let open = decide(kid, udp, None, None, port);
        assert_eq!(open, (Action::Allow, "default".to_owned()), "{proto} open");
    }
}

#[test]
fn decide_and_account_do_not_allocate() {
    let p = test_policy();
    let ledger = QuotaLedger::for_policy(&p);
    let lon = sub(&p, KID_LONDON);
    let ts = utc(2024, 6, 3, 10, 0, 0);
    let q = query(lon, ts, Some("www.bbc.co.uk"), app("tiktok"));
    let q2 = query(
        lon,
        utc(2024, 3, 31, 0, 30, 0),
        Some("dns.google"),
        app("roblox"),
    );
    let ue: IpAddr = "10.1.2.3".parse().expect("ip");
    let before = allocations();
    let mut blocks = 0;
    for i in 0..100u64 {
        let q = if i % 2 == 0 { q } else { q2 };
        p.account(&ledger, lon, q.matched, q.ts_ns + i * 1_000_000_000);
        let v = p.decide(&q, &ledger);
        if v.action == Action::Block {
            blocks += 1;
        }
        let _ = p.subscriber_for(ue, Some(7));
    }
    let ev = BlockEvent::new(
        &p,
        &q,
        "10.0.0.1:50000".parse().expect("addr"),
        &p.decide(&q, &ledger),
    );
    assert_eq!(
        allocations() - before,
        0,
        "decide/account/lookup/event allocated"
    );
    assert!(blocks <= 100);
    assert_eq!(ev.subscriber_id.as_str(), KID_LONDON);
}

// ---- Epochs --------------------------------------------------------------------------------

// ---- Validation ----------------------------------------------------------------------------

const BAD_POLICY: &str = r#"default_profile = "nope"
[[subscriber]]
id = "1"
identifiers = ["10.0.0.300", "10.0.0.0/33", "10.0.0.1/8", 0]
profile = "ghost"
timezone = "Mars/Olympus"
[[subscriber]]
id = "1"
identifiers = ["10.9.9.9"]
profile = "p"
[[subscriber]]
id = "2"
identifiers = ["10.9.9.9"]
profile = "p"
[profile.p]
blocked_apps = ["tiktok", "myspace"]
blocked_categories = ["gamblin"]
quotas = [{ app = "tiktok", minutes = 0 }, { category = "gaming", app = "roblox", minutes = 5 }]
unknown = "maybe"
allowed_domains = ["ok.example", "bad domain"]
[[profile.p.schedules]]
days = ["mon", "funday"]
start = "25:00"
end = "07:60"
[[profile.p.schedules]]
days = "daily"
start = "10:00"
end = "10:00"
"#;

#[test]
fn every_validation_error_comes_back_at_once_with_line_and_field() {
    let errs = Policy::from_toml_str(BAD_POLICY, "bad.toml", &TestApps).expect_err("invalid");
    let got: Vec<(usize, &str, &PolicyErrorKind)> = errs
        .iter()
        .map(|e| (e.line, e.field.as_str(), &e.kind))
        .collect();
    let want: Vec<(usize, &str, PolicyErrorKind)> = vec![
        (
            1,
            "default_profile",
            PolicyErrorKind::UnknownProfile("nope".into()),
        ),
        (
            4,
            "subscriber[0].identifiers[0]",
            PolicyErrorKind::BadIdentifier("10.0.0.300".into()),
        ),
        (
            4,
            "subscriber[0].identifiers[1]",
            PolicyErrorKind::BadCidr("10.0.0.0/33".into()),
        ),
        (
            4,
            "subscriber[0].identifiers[2]",
            PolicyErrorKind::BadCidr("10.0.0.1/8".into()),
        ),
        (
            4,
            "subscriber[0].identifiers[3]",
            PolicyErrorKind::BadIdentifier("0".into()),
        ),
        (
            5,
            "subscriber[0].profile",
            PolicyErrorKind::UnknownProfile("ghost".into()),
        ),
        (
            6,
            "subscriber[0].timezone",
            PolicyErrorKind::BadTimezone("Mars/Olympus".into()),
        ),
        (
            8,
            "subscriber[1].id",
            PolicyErrorKind::DuplicateSubscriber {
                id: "1".into(),
                first_line: 3,
            },
        ),
        (
            13,
            "subscriber[2].identifiers[0]",
            PolicyErrorKind::DuplicateIdentifier {
                ident: "10.9.9.9".into(),
                first_line: 9,
            },
        ),
        (
            16,
            "profile.p.blocked_apps[1]",
            PolicyErrorKind::UnknownApp("myspace".into()),
        ),
        (
            17,
            "profile.p.blocked_categories[0]",
            PolicyErrorKind::UnknownCategory("gamblin".into()),
        ),
        (
            18,
            "profile.p.quotas[0].minutes",
            PolicyErrorKind::QuotaMinutes(0),
        ),
        (18, "profile.p.quotas[1]", PolicyErrorKind::QuotaTarget),
        (
            19,
            "profile.p.unknown",
            PolicyErrorKind::BadUnknownMode("maybe".into()),
        ),
        (
            20,
            "profile.p.allowed_domains[1]",
            PolicyErrorKind::BadDomain("bad domain".into()),
        ),
        (
            22,
            "profile.p.schedules[0].days",
            PolicyErrorKind::BadDay("funday".into()),
        ),
        (
            23,
            "profile.p.schedules[0].start",
            PolicyErrorKind::BadTime("25:00".into()),
        ),
        (
            24,
            "profile.p.schedules[0].end",
            PolicyErrorKind::BadTime("07:60".into()),
        ),
        (
            28,
            "profile.p.schedules[1].end",
            PolicyErrorKind::EmptyWindow("10:00-10:00".into()),
        ),
    ];
    let want_ref: Vec<(usize, &str, &PolicyErrorKind)> =
        want.iter().map(|(l, f, k)| (*l, *f, k)).collect();
    assert_eq!(got, want_ref);
    // Every message names the file, line, column and field.
    for e in errs.iter() {
        let s = e.to_string();
        assert!(
            s.starts_with(&format!(
                "bad.toml:{}:{}: field `{}`: ",
                e.line, e.column, e.field
            )),
            "{s}"
        );
    }
    let start = errs
        .iter()
        .find(|e| e.field.ends_with("start"))
        .expect("start error");
    assert_eq!((start.line, start.column), (23, 9));
    assert!(errs.to_string().starts_with("invalid policy (19 errors)"));
}

#[test]
fn syntax_and_structure_errors_are_located() {
    let cases: [(&str, usize, &str); 4] = [
        ("default_profile = \n", 1, ""),
        (
            "default_profile = \"p\"\n[profile.p]\nblocked_catgories = [\"adult\"]\n",
            3,
            "blocked_catgories",
        ),
        (
            "default_profile = \"p\"\n[profile.p]\nblock_quic = \"yes\"\n",
            3,
            "bool",
        ),
        (
            "default_profile = \"p\"\n[profile.p]\n[[subscriber]]\nid = \"1\"\n",
            3,
            "profile",
        ),
    ];
    for (text, line, needle) in cases {
        let errs = Policy::from_toml_str(text, "s.toml", &TestApps).expect_err(text);
        assert_eq!(errs.len(), 1, "{text}");
        let e = &errs.0[0];
        assert_eq!(e.line, line, "{text}: {e}");
        assert!(e.to_string().starts_with(&format!("s.toml:{line}:")), "{e}");
        assert!(e.to_string().contains(needle), "{text}: {e}");
    }
}

#[test]
fn missing_default_profile_is_an_error() {
    let errs = Policy::from_toml_str("[profile.p]\n", "m.toml", &TestApps).expect_err("missing");
    assert_eq!(errs.0[0].kind, PolicyErrorKind::Missing("default_profile"));
    assert_eq!(errs.0[0].line, 1);
}

#[test]
fn load_reports_unreadable_files() {
    let errs = Policy::load(std::path::Path::new("/nonexistent/policy.toml"), &TestApps)
        .expect_err("no file");
    assert!(matches!(errs.0[0].kind, PolicyErrorKind::Io(_)));
    assert!(errs.to_string().contains("/nonexistent/policy.toml"));
}

// ---- Events --------------------------------------------------------------------------------

#[test]
fn block_event_carries_names_and_the_queue_counts_drops() {
    let mut p = test_policy();
    p.set_epoch(1);
    let ledger = QuotaLedger::for_policy(&p);
    let lon = sub(&p, KID_LONDON);
    let q = query(
        lon,
        utc(2024, 6, 2, 21, 0, 0),
        Some("www.youtube.com"),
        app("youtube"),
    );
    let v = p.decide(&q, &ledger);
    let client: SocketAddr = "10.0.0.1:50123".parse().expect("addr");
    let ev = BlockEvent::new(&p, &q, client, &v);
    assert_eq!(ev.subscriber_id.as_str(), KID_LONDON);
    assert_eq!(ev.rule_label.as_str(), "schedule:school-nights");
    assert_eq!(ev.name(), Some("www.youtube.com"));
    assert_eq!(ev.action, Action::Block);
    assert_eq!(ev.epoch, 1);
    assert_eq!(ev.category, Some(Category::Video));
    assert_eq!((ev.client, ev.server), (client, https()));

    let queue = EventQueue::new(2);
    let accepted: Vec<bool> = (0..5).map(|_| queue.push(ev.clone())).collect();
    assert_eq!(accepted, [true, true, false, false, false]);
    assert_eq!((queue.pushed(), queue.dropped()), (2, 3));
    assert_eq!(queue.drain().count(), 2);
    assert!(queue.pop().is_none());
    assert!(queue.push(ev));
    assert_eq!((queue.pushed(), queue.dropped(), queue.len()), (3, 3, 1));
}

#[test]
fn event_queue_counts_every_event_under_concurrent_producers() {
    let p = test_policy();
    let q = query(SubscriberRef::Default, 0, None, None);
    let v = Verdict {
        action: Action::Block,
        rule: Rule::Unknown,
        valid_until_ns: 0,
    };
    let ev = BlockEvent::new(&p, &q, https(), &v);
    let queue = EventQueue::new(64);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    queue.push(ev.clone());
                }
            });
        }
    });
    assert_eq!(queue.pushed() + queue.dropped(), 400);
    assert_eq!(queue.pushed(), 64);
    assert_eq!(queue.drain().count(), 64);
    assert_eq!(ev.subscriber_id.as_str(), DEFAULT_SUBSCRIBER_ID);
    assert_eq!(ev.rule_label.as_str(), "unknown");
    assert_eq!(ev.name(), None);
}

// ---- The embedded default ------------------------------------------------------------------

#[test]
fn embedded_default_policy_compiles_and_decides() {
    let p = Policy::embedded_default(&TestApps).expect("fixtures/policy.toml compiles");
    assert_eq!(p.subscriber_count(), 4);
    let mut names: Vec<&str> = p.profile_names().collect();
    names.sort_unstable();
    assert_eq!(names, ["child", "standard", "teen"]);
    assert_eq!(p.profile_name(SubscriberRef::Default), "standard");
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    assert_eq!(
        p.subscriber_id(p.subscriber_for(ip("10.45.0.7"), None)),
        "447700900123"
    );
    assert_eq!(
        p.subscriber_id(p.subscriber_for(ip("2001:db8:46::9"), None)),
        "447700900456"
    );
    assert_eq!(
        p.subscriber_id(p.subscriber_for(ip("10.45.1.9"), None)),
        "310150123456789"
    );
    assert_eq!(
        p.subscriber_id(p.subscriber_for(ip("192.0.2.1"), Some(305419896))),
        "447700900123"
    );

    let ledger = QuotaLedger::for_policy(&p);
    let teen_ny = p.subscriber_by_id("310150123456789").expect("listed");
    // Monday 2024-06-03 01:30 UTC = Sunday 21:30 EDT: school night for the New York teen.
    let ts = utc(2024, 6, 3, 1, 30, 0);
    let v = p.decide(
        &query(teen_ny, ts, Some("www.tiktok.com"), app("tiktok")),
        &ledger,
    );
    assert_eq!(p.rule_label(v.rule).to_string(), "schedule:school-nights");
    let v = p.decide(
        &query(teen_ny, ts, Some("web.whatsapp.com"), app("whatsapp")),
        &ledger,
    );
    assert_eq!(v.action, Action::Allow);
    let v = p.decide(
        &query(SubscriberRef::Default, ts, None, app("pornhub")),
        &ledger,
    );
    assert_eq!(p.rule_label(v.rule).to_string(), "app:pornhub");
}
