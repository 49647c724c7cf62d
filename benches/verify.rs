//! `Store::verify` of a valid key: the first time (argon2id runs) against later times (the
//! token's fingerprint is in the verify cache, so only the database read runs: the first check
//! recorded the use, and it is written again only after a minute). Goal: cached ≤ 20 µs. For
//! scale, one plain read (`get_key`), and the cached check on a memory file system.
//!
//! `cargo bench --bench verify`

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keyward_core::{NewKey, SecretToken, Store};

mod common;
use common::{timed, us};

fn open_with_key(runtime: &tokio::runtime::Runtime, folder: &Path) -> (Store, SecretToken) {
    let store = runtime
        .block_on(keyward_store::open(&folder.join("bench.db")))
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
        let samples = timed(2_000, shm_check);
        println!(
            "cached on tmpfs x2000: p50 {:.1} µs, p95 {:.1} µs",
            us(&samples, 0.5),
            us(&samples, 0.95)
        );
        runtime.block_on(shm_store.close());
    }
    group.finish();

    let uncached_samples = timed(20, || check(&uncached));
    let cached_samples = timed(2_000, || check(&store));
    println!(
        "uncached x20: p50 {:.0} µs, p95 {:.0} µs; cached x2000: p50 {:.1} µs, p95 {:.1} µs \
         (goal <= 20 µs)",
        us(&uncached_samples, 0.5),
        us(&uncached_samples, 0.95),
        us(&cached_samples, 0.5),
        us(&cached_samples, 0.95)
    );
    runtime.block_on(store.close());
}

criterion_group!(benches, verify);
criterion_main!(benches);
