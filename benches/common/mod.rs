//! What the benchmarks share: timing repeated runs, and reading percentiles off them the same way
//! in every report. Each benchmark uses a part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Runs `run` `times` times and returns how long each took.
pub fn timed(times: usize, mut run: impl FnMut()) -> Vec<Duration> {
    (0..times)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect()
}

/// The `q` quantile of `samples` by nearest rank: 0.5 is the median, 1.0 the slowest.
pub fn percentile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// [`percentile`] in milliseconds.
pub fn ms(samples: &[Duration], q: f64) -> f64 {
    percentile(samples, q).as_secs_f64() * 1e3
}

/// [`percentile`] in microseconds.
pub fn us(samples: &[Duration], q: f64) -> f64 {
    percentile(samples, q).as_secs_f64() * 1e6
}
