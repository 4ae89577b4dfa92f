//! Matcher micro-benchmarks: name lookups (exact hit, suffix hit, miss, substring hit) against
//! 1k, 100k and 1M synthetic list domains plus the default catalog, and loading a list of 1M
//! domains. Prints the memory the structures hold (their own heap accounting) and the change of
//! the process's resident set (from /proc/self/statm) around a load.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::classify::{Catalog, Category, CategoryList, Matcher};

/// Resident set size in bytes (Linux), or 0 where /proc is not there.
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// A deterministic synthetic domain, 2 to 4 labels, realistic lengths (~20-30 bytes).
fn domain(i: usize) -> String {
    const TLDS: [&str; 6] = ["com", "net", "org", "io", "co.uk", "de"];
    let tld = TLDS[i % TLDS.len()];
    match i % 3 {
        0 => format!("site{i:x}-media.{tld}"),
        1 => format!("cdn.host{i}.{tld}"),
        _ => format!("img{}.shop{i:x}.example.{tld}", i % 10),
    }
}

fn list_text(n: usize) -> String {
    let mut t = String::with_capacity(n * 28);
    for i in 0..n {
        t.push_str(&domain(i));
        t.push('\n');
    }
    t
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn lookups(c: &mut Criterion) {
    let catalog = Catalog::embedded_default().expect("embedded catalog");
    let mut group = c.benchmark_group("lookup_name");
    group.throughput(Throughput::Elements(1));
    for n in [1_000usize, 100_000, 1_000_000] {
        let list = CategoryList::parse(&list_text(n), Category::Adult, "synthetic");
        let m = Matcher::build(&catalog, &[list]);
        eprintln!(
            "matcher with {n} list domains: {} names, domain set {:.1} MiB, substrings {:.1} KiB",
            m.stats().names,
            mib(m.stats().domain_set_bytes),
            m.stats().substring_bytes as f64 / 1024.0
        );
        // 1024 queries of each kind, spread over the list, cycled through.
        let step = (n / 1024).max(1);
        let exact: Vec<String> = (0..1024).map(|k| domain((k * step) % n)).collect();
        let suffix: Vec<String> = exact.iter().map(|d| format!("a1.b2.{d}")).collect();
        let miss: Vec<String> = (0..1024)
            .map(|k| format!("www.unlisted{k}.nowhere-{}.example", k % 7))
            .collect();
        let substring: Vec<String> = (0..1024)
            .map(|k| format!("v{k}.tiktokcdn-sg{}.example.net", k % 5))
            .collect();
        assert!(m.lookup_name(&exact[1]).is_some());
        assert!(m.lookup_name(&suffix[1]).is_some());
        assert!(m.lookup_name(&miss[1]).is_none());
        assert!(m
            .lookup_name(&substring[1])
            .is_some_and(|x| x.app.is_some()));
        for (kind, queries) in [
            ("hit_exact", &exact),
            ("hit_suffix", &suffix),
            ("miss", &miss),
            ("hit_substring", &substring),
        ] {
            group.bench_with_input(BenchmarkId::new(kind, n), queries, |b, q| {
                let mut i = 0usize;
                b.iter(|| {
                    i = (i + 1) & 1023;
                    black_box(m.lookup_name(black_box(&q[i])))
                })
            });
        }
    }
    group.finish();
}

fn list_loading(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let text = list_text(N);
    let catalog = Catalog::embedded_default().expect("embedded catalog");

    // One measured load with its memory, printed once.
    let rss_before = rss_bytes();
    let started = Instant::now();
    let list = CategoryList::parse(&text, Category::Adult, "synthetic");
    let parse_time = started.elapsed();
    let rss_list = rss_bytes();
    let started = Instant::now();
    let m = Matcher::build(&catalog, std::slice::from_ref(&list));
    let build_time = started.elapsed();
    let rss_matcher = rss_bytes();
    eprintln!(
        "load {N} domains ({:.1} MiB of text): parse {parse_time:?}, matcher build {build_time:?}",
        mib(text.len())
    );
    eprintln!(
        "  list: {} domains, {:.1} MiB held (RSS +{:.1} MiB); matcher: {:.1} MiB held (RSS +{:.1} MiB); report: {}",
        list.len(),
        mib(list.heap_bytes()),
        mib(rss_list.saturating_sub(rss_before)),
        mib(m.stats().domain_set_bytes),
        mib(rss_matcher.saturating_sub(rss_list)),
        list.report()
    );
    drop(m);
    drop(list);

    let mut group = c.benchmark_group("list_load");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("parse_1M_domains", |b| {
        b.iter(|| {
            black_box(CategoryList::parse(
                black_box(&text),
                Category::Adult,
                "synthetic",
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, lookups, list_loading);
criterion_main!(benches);
