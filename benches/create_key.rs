//! Issuing a key end to end (`Store::create_key` on a file database: validation, argon2id, one
//! `BEGIN IMMEDIATE` transaction with the key row and its audit row, fsync'd) against argon2id
//! hashing alone with the same function the core uses. Goal: create ≤ 1.15 × hash.
//!
//! `cargo bench --bench create_key`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use keyward_core::{hash, ExpiryChoice, NewKey};

/// A 32-character secret, as `token::generate_token` makes.
const SECRET: &[u8] = b"0123456789abcdefghijABCDEFGHIJxy";

fn new_key() -> NewKey {
    NewKey {
        // The benchmark creates hundreds of keys for one owner.
        override_limit: true,
        ..NewKey::named("bench").expiring(ExpiryChoice::Days(90))
    }
}

mod common;
use common::percentile;

fn create_vs_hash(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = runtime
        .block_on(keyward_store::open(&dir.path().join("bench.db")))
        .expect("open");

    let mut group = c.benchmark_group("create");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(12));
    group.bench_function("argon2id_hash", |b| {
        b.iter(|| hash::hash_secret_blocking(SECRET).expect("hash"))
    });
    group.bench_function("create_key", |b| {
        b.iter(|| {
            runtime
                .block_on(store.create_key(new_key()))
                .expect("create")
        })
    });
    group.finish();

    // The ratio, from interleaved runs so that other load on the machine hits both alike.
    let (mut hashes, mut creates) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        let started = Instant::now();
        hash::hash_secret_blocking(SECRET).expect("hash");
        hashes.push(started.elapsed());
        let started = Instant::now();
        runtime
            .block_on(store.create_key(new_key()))
            .expect("create");
        creates.push(started.elapsed());
    }
    let (hash_median, create_median) = (percentile(&hashes, 0.5), percentile(&creates, 0.5));
    println!(
        "create/hash interleaved x40: hash median {:.2} ms, create median {:.2} ms, ratio {:.3} \
         (goal <= 1.15)",
        hash_median.as_secs_f64() * 1e3,
        create_median.as_secs_f64() * 1e3,
        create_median.as_secs_f64() / hash_median.as_secs_f64()
    );
    runtime.block_on(store.close());
}

criterion_group!(benches, create_vs_hash);
criterion_main!(benches);
