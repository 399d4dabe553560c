//! One race at the lab's difficulty (2 zero bytes, ~65,536 hashes) through a warm search pool
//! against fresh threads (`parallel::search`), on every core.
//! `cargo bench -p pow-core --bench pool`.

use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use pow_core::engine::Kernel;
use pow_core::search::parallel;
use pow_core::search::pool::{Job, Mode, Pool};
use pow_core::{Difficulty, Prepared};

fn races(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = Kernel::fastest();
    let d = Difficulty::from_zero_bytes(2).unwrap();
    // Distinct transactions, so the answers (and work) vary as in a real run of races.
    let txs: Vec<Arc<Prepared>> = (0..64)
        .map(|i| Arc::new(Prepared::new(format!("race {i}").as_bytes(), d)))
        .collect();
    let mut g = c.benchmark_group("race-difficulty-2");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));

    let never = AtomicBool::new(false);
    let mut i = 0;
    g.bench_function(format!("fresh-threads-x{threads}"), |b| {
        b.iter(|| {
            i = (i + 1) % txs.len();
            parallel::search(&txs[i], threads, kernel, &never)
        })
    });

    let pool = Pool::new(threads, kernel).unwrap();
    let mut i = 0;
    g.bench_function(format!("pool-x{threads}"), |b| {
        b.iter(|| {
            i = (i + 1) % txs.len();
            let (tx, rx) = mpsc::channel();
            let job = Job {
                prepared: txs[i].clone(),
                mode: Mode::Smallest,
                cancel: Arc::default(),
            };
            pool.search(job, Box::new(move |o| tx.send(o).unwrap()))
                .unwrap();
            rx.recv().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, races);
criterion_main!(benches);
