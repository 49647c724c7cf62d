//! `Store::verify` of a valid key: the first time (argon2id runs) against later times (the
//! token's fingerprint is in the verify cache, so only the database read runs: the first check
//! recorded the use, and it is written again only after a minute). Goal: cached ≤ 20 µs. For
//! scale, one plain read (`get_key`), and the cached check on a memory file system.
//!
//! `cargo bench --bench verify`

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use keyward_core::{NewKey, SecretToken, Store};

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.95))
}

fn open_with_key(runtime: &tokio::runtime::Runtime, folder: &Path) -> (Store, SecretToken) {
    let store = runtime
        .block_on(Store::open(&folder.join("bench.db")))
        .expect("open");
    let created = runtime
        .block_on(store.create_key(NewKey::named("bench")))
        .expect("create");
    (store, created.token)
}

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let disk = tempfile::tempdir().expect("temp dir");
    let (store, token) = open_with_key(&runtime, disk.path());
    let uncached = store.clone().with_verify_cache_capacity(0);
    let check = |store: &Store| {
        let verdict = runtime.block_on(store.verify(&token, &[])).expect("verify");
        assert!(verdict.is_valid());
    };

    let mut group = c.benchmark_group("verify");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("uncached", |b| b.iter(|| check(&uncached)));
    check(&store);
    group
        .sample_size(100)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("cached", |b| b.iter(|| check(&store)));
    // One indexed read through the pool, for scale: what a database round trip costs here.
    let id = runtime
        .block_on(store.list_keys(&Default::default()))
        .expect("list")
        .keys[0]
        .id
        .clone();
    group.bench_function("get_key_one_read", |b| {
        b.iter(|| runtime.block_on(store.get_key(&id)).expect("get"))
    });

    // The same on a memory file system: what is left is SQLite and the async round trip.
    let memory = Path::new("/dev/shm");
    if memory.is_dir() {
        let shm = tempfile::tempdir_in(memory).expect("temp dir in /dev/shm");
        let (shm_store, shm_token) = open_with_key(&runtime, shm.path());
        let shm_check = || {
            let verdict = runtime
                .block_on(shm_store.verify(&shm_token, &[]))
                .expect("verify");
            assert!(verdict.is_valid());
        };
        shm_check();
        group.bench_function("cached_on_tmpfs", |b| b.iter(shm_check));
        let samples: Vec<Duration> = (0..2_000)
            .map(|_| {
                let started = Instant::now();
                shm_check();
                started.elapsed()
            })
            .collect();
        let (p50, p95) = percentiles(samples);
        println!("cached on tmpfs x2000: p50 {p50:.1} µs, p95 {p95:.1} µs");
        runtime.block_on(shm_store.close());
    }
    group.finish();

    let uncached_samples: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            check(&uncached);
            started.elapsed()
        })
        .collect();
    let cached_samples: Vec<Duration> = (0..2_000)
        .map(|_| {
            let started = Instant::now();
            check(&store);
            started.elapsed()
        })
        .collect();
    let (uncached_p50, uncached_p95) = percentiles(uncached_samples);
    let (cached_p50, cached_p95) = percentiles(cached_samples);
    println!(
        "uncached x20: p50 {uncached_p50:.0} µs, p95 {uncached_p95:.0} µs; cached x2000: p50 \
         {cached_p50:.1} µs, p95 {cached_p95:.1} µs (goal <= 20 µs)"
    );
    runtime.block_on(store.close());
}

criterion_group!(benches, verify);
criterion_main!(benches);
