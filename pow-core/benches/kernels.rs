//! Hash rate of each kernel this CPU runs, one thread, on the seed's 34-byte transaction and
//! on layouts with two final blocks. `cargo bench -p pow-core --bench kernels`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pow_core::engine::Kernel;
use pow_core::{Difficulty, Prepared};

/// Nonces per measured call: ten aligned chunks of 7-digit nonces.
const NONCES: u64 = 100_000;

fn kernels(c: &mut Criterion) {
    // 64 zero bits: no nonce in range solves it, so every call hashes all NONCES.
    let d = Difficulty::from_zero_bits(64).unwrap();
    let cases: [(&str, &[u8]); 3] = [
        ("34B", b"Gova and Emmanuel Blockchain Lab 3"),
        ("50B-two-blocks", &[b'A'; 50]),
        ("60B-const-first-block", &[b'C'; 60]),
    ];
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(NONCES));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    for (label, data) in cases {
        let p = Prepared::new(data, d);
        for &k in Kernel::ALL.iter().filter(|k| k.is_available()) {
            g.bench_with_input(BenchmarkId::new(k.name(), label), &p, |b, p| {
                b.iter(|| k.scan(p, 1_000_000, 1_000_000 + NONCES))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
