//! The persistent search pool against independent answers: the single-thread portable search,
//! a portable scan from a lottery's start, `verify`, and the vectors of `../shared/vectors.json`.
//! Races (several jobs, cancellation, drop) are run many times. No wall-clock bounds: a wait
//! for a callback has a generous timeout only so that a bug fails instead of hanging.
// The pool is threads: native only.
#![cfg(not(target_family = "wasm"))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pow_core::engine::{scan_portable, Kernel, CHUNK, FIRST_FOUR_DIGIT_NONCE};
use pow_core::search::pool::{Job, Mode, Pool, PoolError, MAX_JOBS};
use pow_core::search::{self, Outcome};
use pow_core::{puzzle, Difficulty, Prepared};

/// Long enough that only a hung pool reaches it.
const HANG: Duration = Duration::from_secs(60);

/// Kernels to run the pool with: the reference and the fastest this CPU has.
fn kernels() -> Vec<Kernel> {
    let mut k = vec![Kernel::Portable];
    if Kernel::fastest() != Kernel::Portable {
        k.push(Kernel::fastest());
    }
    k
}

fn job(p: &Arc<Prepared>, mode: Mode) -> (Job, Arc<AtomicBool>) {
    let cancel = Arc::new(AtomicBool::new(false));
    let job = Job {
        prepared: p.clone(),
        mode,
        cancel: cancel.clone(),
    };
    (job, cancel)
}

/// Runs one job to its end and gives its outcome.
fn run(pool: &Pool, p: &Arc<Prepared>, mode: Mode) -> Outcome {
    let (tx, rx) = mpsc::channel();
    pool.search(
        job(p, mode).0,
        Box::new(move |o| tx.send(o).expect("the test waits")),
    )
    .unwrap();
    rx.recv_timeout(HANG).expect("the job ends")
}

/// The smallest solution, from the single-thread portable search.
fn smallest(p: &Prepared) -> u64 {
    search::solve_with(Kernel::Portable, p, &|| false)
        .solution
        .expect("a solution")
        .nonce
}

/// The first solution at or after `start` rounded down to a chunk, wrapping past `u64::MAX`,
/// by a portable scan.
fn lottery_reference(p: &Prepared, start: u64) -> u64 {
    let base = start - start % CHUNK;
    if let Some(s) = scan_portable(p, base, u64::MAX).found {
        return s.nonce;
    }
    if p.confirm(u64::MAX).is_some() {
        return u64::MAX;
    }
    scan_portable(p, 0, base).found.expect("a solution").nonce
}

#[test]
fn pool_agrees_with_the_single_thread_search() {
    let mut cases = 0;
    for kernel in kernels() {
        for threads in 1..=3 {
            let pool = Pool::new(threads, kernel).unwrap();
            for bits in [0u64, 1, 5, 9, 13, 16, 17] {
                for len in [0usize, 3, 34, 55, 61, 64, 70, 130] {
                    let data: Vec<u8> = (0..len).map(|i| (i * 31 + bits as usize) as u8).collect();
                    let p = Arc::new(Prepared::new(
                        &data,
                        Difficulty::from_zero_bits(bits).unwrap(),
                    ));
                    let want = smallest(&p);
                    let got = run(&pool, &p, Mode::Smallest);
                    let sol = got.solution.expect("a solution");
                    let what = format!("{} x{threads}, {bits} bits, {len} bytes", kernel.name());
                    assert_eq!(sol.nonce, want, "{what}");
                    assert_eq!(
                        puzzle::verify(&data, sol.nonce, p.difficulty()),
                        Ok(sol.hash),
                        "{what}"
                    );
                    assert!(
                        got.hashes > want,
                        "{what}: every nonce up to the answer counted"
                    );
                    assert_eq!(got.kernel, kernel);
                    assert!(got.submitted <= got.first_hash.unwrap());
                    assert!(got.first_hash.unwrap() <= got.finished);
                    cases += 1;
                }
            }
        }
    }
    eprintln!("{cases} searches compared");
}

#[test]
fn pool_finds_the_vectors_answers() {
    for kernel in kernels() {
        for threads in 1..=3 {
            let pool = Pool::new(threads, kernel).unwrap();
            // Difficulty 3 (~10^7 hashes) only with a fast kernel.
            let top = if kernel == Kernel::Portable { 2 } else { 3 };
            for v in common::vectors()
                .into_iter()
                .filter(|v| v.difficulty <= top)
            {
                let d = Difficulty::from_zero_bytes(v.difficulty).unwrap();
                let p = Arc::new(Prepared::new(v.data.as_bytes(), d));
                let sol = run(&pool, &p, Mode::Smallest).solution.expect("a solution");
                assert_eq!(
                    (sol.nonce, sol.hash),
                    (v.nonce, v.hash),
                    "{} x{threads}: {}",
                    kernel.name(),
                    v.why
                );
            }
        }
    }
}

#[test]
fn many_concurrent_jobs_on_two_workers_are_all_correct() {
    let pool = Pool::new(2, Kernel::fastest()).unwrap();
    for round in 0..20u64 {
        let (tx, rx) = mpsc::channel();
        let mut want = Vec::new();
        for j in 0..12u64 {
            let data = format!("round {round} job {j}");
            let bits = 8 + (j + round) % 10;
            let p = Arc::new(Prepared::new(
                data.as_bytes(),
                Difficulty::from_zero_bits(bits).unwrap(),
            ));
            let (mode, answer) = if j % 3 == 2 {
                let start = (round * 7_777 + j) * 1_234_567;
                (Mode::Lottery { start }, lottery_reference(&p, start))
            } else {
                (Mode::Smallest, smallest(&p))
            };
            // Lottery answers are checked too: with 2 workers any solution may win, but the
            // reference's is the first, and the winner must verify and lie in the scanned order.
            want.push((data, p.clone(), mode, answer));
            let tx = tx.clone();
            pool.search(job(&p, mode).0, Box::new(move |o| tx.send((j, o)).unwrap()))
                .unwrap();
        }
        drop(tx);
        let mut seen = vec![0; 12];
        for _ in 0..12 {
            let (j, o) = rx.recv_timeout(HANG).expect("every job ends");
            seen[j as usize] += 1;
            let (data, p, mode, answer) = &want[j as usize];
            let sol = o.solution.expect("a solution");
            assert_eq!(
                puzzle::verify(data.as_bytes(), sol.nonce, p.difficulty()),
                Ok(sol.hash)
            );
            match mode {
                Mode::Smallest => assert_eq!(sol.nonce, *answer, "round {round} job {j}"),
                Mode::Lottery { .. } => assert_first_in_its_chunk(p, sol.nonce),
            }
        }
        assert_eq!(seen, vec![1; 12], "each callback exactly once");
        assert!(rx.recv_timeout(Duration::from_millis(10)).is_err());
    }
}

/// A lottery's answer is the first solution of the piece a worker scanned it in: the chunk
/// it lies in, where the first chunk goes out as `0..1000` and `1000..10^4`.
fn assert_first_in_its_chunk(p: &Prepared, nonce: u64) {
    let base = match nonce - nonce % CHUNK {
        0 if nonce >= FIRST_FOUR_DIGIT_NONCE => FIRST_FOUR_DIGIT_NONCE,
        base => base,
    };
    assert_eq!(
        scan_portable(p, base, nonce + 1).found.map(|s| s.nonce),
        Some(nonce)
    );
}

#[test]
fn a_long_search_does_not_starve_a_short_one() {
    let pool = Pool::new(1, Kernel::fastest()).unwrap();
    let never = Arc::new(Prepared::new(
        b"never",
        Difficulty::from_zero_bits(60).unwrap(),
    ));
    let (long_job, cancel) = job(&never, Mode::Smallest);
    let (tx, rx) = mpsc::channel();
    let long_tx = tx.clone();
    pool.search(
        long_job,
        Box::new(move |o| long_tx.send(("long", o)).unwrap()),
    )
    .unwrap();
    for i in 0..20 {
        let data = format!("short {i}");
        let p = Arc::new(Prepared::new(
            data.as_bytes(),
            Difficulty::from_zero_bits(16).unwrap(),
        ));
        let tx = tx.clone();
        pool.search(
            job(&p, Mode::Smallest).0,
            Box::new(move |o| tx.send(("short", o)).unwrap()),
        )
        .unwrap();
        let (which, o) = rx.recv_timeout(HANG).unwrap();
        assert_eq!(
            which, "short",
            "the long job cannot end before it is cancelled"
        );
        assert_eq!(o.solution.unwrap().nonce, smallest(&p));
    }
    cancel.store(true, Ordering::Release);
    let (which, o) = rx.recv_timeout(HANG).unwrap();
    assert_eq!((which, o.solution), ("long", None));
}

#[test]
fn a_cancelled_job_calls_back_exactly_once_with_no_solution() {
    let never = Arc::new(Prepared::new(
        b"cancel me",
        Difficulty::from_zero_bits(60).unwrap(),
    ));
    for threads in 1..=3 {
        let pool = Pool::new(threads, Kernel::fastest()).unwrap();
        for i in 0..40u64 {
            let calls = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = mpsc::channel();
            let (j, cancel) = job(&never, Mode::Smallest);
            if i % 4 == 0 {
                cancel.store(true, Ordering::Release);
            }
            let c = calls.clone();
            pool.search(
                j,
                Box::new(move |o| {
                    c.fetch_add(1, Ordering::SeqCst);
                    tx.send(o).unwrap();
                }),
            )
            .unwrap();
            std::thread::sleep(Duration::from_micros(i * 50));
            cancel.store(true, Ordering::Release);
            let o = rx.recv_timeout(HANG).expect("the cancelled job calls back");
            assert_eq!(o.solution, None);
            // No second call: the sender is gone once the callback has run.
            assert!(rx.recv_timeout(Duration::from_millis(5)).is_err());
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert_eq!(pool.active_jobs(), 0);
        }
    }
}

#[test]
fn cancelling_one_job_leaves_the_others_correct() {
    let pool = Pool::new(2, Kernel::fastest()).unwrap();
    let never = Arc::new(Prepared::new(
        b"cancel me",
        Difficulty::from_zero_bits(60).unwrap(),
    ));
    for round in 0..10 {
        let (tx, rx) = mpsc::channel();
        let (j, cancel) = job(&never, Mode::Smallest);
        let t = tx.clone();
        pool.search(j, Box::new(move |o| t.send((usize::MAX, o)).unwrap()))
            .unwrap();
        let mut want = Vec::new();
        for k in 0..4 {
            let p = Arc::new(Prepared::new(
                format!("{round}/{k}").as_bytes(),
                Difficulty::from_zero_bits(15).unwrap(),
            ));
            want.push(smallest(&p));
            let t = tx.clone();
            pool.search(
                job(&p, Mode::Smallest).0,
                Box::new(move |o| t.send((k, o)).unwrap()),
            )
            .unwrap();
        }
        cancel.store(true, Ordering::Release);
        for _ in 0..5 {
            let (k, o) = rx.recv_timeout(HANG).unwrap();
            if k == usize::MAX {
                assert_eq!(o.solution, None);
            } else {
                assert_eq!(o.solution.map(|s| s.nonce), Some(want[k]));
            }
        }
    }
}

#[test]
fn lottery_on_one_thread_finds_the_first_solution_from_its_start() {
    let pool = Pool::new(1, Kernel::fastest()).unwrap();
    let mut cases = 0;
    for bits in [4u64, 10, 14] {
        for (i, start) in [
            0u64,
            999,
            10_000,
            123_456_789,
            10u64.pow(15) + 3,
            u64::MAX / 3,
        ]
        .into_iter()
        .enumerate()
        {
            let data = format!("lottery {bits} {i}");
            let p = Arc::new(Prepared::new(
                data.as_bytes(),
                Difficulty::from_zero_bits(bits).unwrap(),
            ));
            let sol = run(&pool, &p, Mode::Lottery { start })
                .solution
                .expect("a solution");
            assert_eq!(
                sol.nonce,
                lottery_reference(&p, start),
                "{data} from {start}"
            );
            assert_eq!(
                puzzle::verify(data.as_bytes(), sol.nonce, p.difficulty()),
                Ok(sol.hash)
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 18);
}

#[test]
fn lottery_wraps_past_the_top_of_the_nonce_space() {
    let (mut wrapped, mut top) = (0, 0);
    for threads in [1, 2] {
        let pool = Pool::new(threads, Kernel::fastest()).unwrap();
        for i in 0..24 {
            // 12 zero bits: the top chunk (1,616 nonces) often holds no solution.
            let data = format!("wrap {i}");
            let p = Arc::new(Prepared::new(
                data.as_bytes(),
                Difficulty::from_zero_bits(12).unwrap(),
            ));
            let start = u64::MAX - (i * 97) % 1_500;
            let want = lottery_reference(&p, start);
            let sol = run(&pool, &p, Mode::Lottery { start })
                .solution
                .expect("a solution");
            assert_eq!(
                puzzle::verify(data.as_bytes(), sol.nonce, p.difficulty()),
                Ok(sol.hash)
            );
            if threads == 1 {
                assert_eq!(sol.nonce, want, "{data} from {start}");
                if want < start - start % CHUNK {
                    wrapped += 1;
                } else {
                    top += 1;
                }
            } else {
                assert_first_in_its_chunk(&p, sol.nonce);
            }
        }
    }
    eprintln!("{wrapped} wrapped to 0, {top} found in the top chunk");
    assert!(
        wrapped > 0 && top > 0,
        "{wrapped} wrapped, {top} in the top chunk"
    );
}

#[test]
fn lottery_with_several_threads_verifies() {
    for threads in 2..=3 {
        let pool = Pool::new(threads, Kernel::fastest()).unwrap();
        for i in 0..30u64 {
            let data = format!("many {i}");
            let p = Arc::new(Prepared::new(
                data.as_bytes(),
                Difficulty::from_zero_bits(18).unwrap(),
            ));
            let start = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let sol = run(&pool, &p, Mode::Lottery { start })
                .solution
                .expect("a solution");
            assert_eq!(
                puzzle::verify(data.as_bytes(), sol.nonce, p.difficulty()),
                Ok(sol.hash)
            );
            assert_first_in_its_chunk(&p, sol.nonce);
        }
    }
}

/// Threads of this process whose name starts with `prefix` (Linux).
fn threads_named(prefix: &str) -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with(prefix))
            .count(),
    )
}

#[test]
fn dropping_the_pool_cancels_its_jobs_and_joins_its_threads() {
    let never = Arc::new(Prepared::new(
        b"drop me",
        Difficulty::from_zero_bits(60).unwrap(),
    ));
    for round in 0..20 {
        let name = format!("dropt{round}");
        let pool = Pool::builder(3, Kernel::fastest())
            .name(&name)
            .build()
            .unwrap();
        // Each worker names itself as it starts.
        let mut waited = Duration::ZERO;
        while threads_named(&name).is_some_and(|n| n < 3) && waited < HANG {
            std::thread::sleep(Duration::from_millis(1));
            waited += Duration::from_millis(1);
        }
        assert_eq!(threads_named(&name).unwrap_or(3), 3);
        let calls = Arc::new(Mutex::new(Vec::new()));
        for k in 0..4 {
            let calls = calls.clone();
            pool.search(
                job(&never, Mode::Smallest).0,
                Box::new(move |o| calls.lock().unwrap().push((k, o.solution))),
            )
            .unwrap();
        }
        std::thread::sleep(Duration::from_micros(200 * round));
        drop(pool);
        let mut calls = calls.lock().unwrap().clone();
        calls.sort_by_key(|c| c.0);
        assert_eq!(calls, (0..4).map(|k| (k, None)).collect::<Vec<_>>());
        // Joined threads leave /proc a moment after the join returns.
        let mut waited = Duration::ZERO;
        while threads_named(&name).is_some_and(|n| n > 0) {
            assert!(waited < HANG, "the workers have not exited");
            std::thread::sleep(Duration::from_millis(1));
            waited += Duration::from_millis(1);
        }
    }
}

#[test]
fn a_callback_may_drop_the_last_handle_to_its_pool() {
    for _ in 0..20 {
        let pool = Arc::new(Pool::new(2, Kernel::fastest()).unwrap());
        let p = Arc::new(Prepared::new(
            b"self",
            Difficulty::from_zero_bits(8).unwrap(),
        ));
        let (tx, rx) = mpsc::channel();
        let mine = Mutex::new(Some(pool.clone()));
        pool.search(
            job(&p, Mode::Smallest).0,
            Box::new(move |o| {
                drop(mine.lock().unwrap().take());
                tx.send(o).unwrap();
            }),
        )
        .unwrap();
        drop(pool);
        let o = rx.recv_timeout(HANG).unwrap();
        assert_eq!(o.solution.map(|s| s.nonce), Some(smallest(&p)));
    }
}

#[test]
fn a_panicking_callback_leaves_the_worker_alive() {
    let pool = Pool::new(1, Kernel::fastest()).unwrap();
    let p = Arc::new(Prepared::new(
        b"boom",
        Difficulty::from_zero_bits(8).unwrap(),
    ));
    pool.search(
        job(&p, Mode::Smallest).0,
        Box::new(|_| panic!("callback bug")),
    )
    .unwrap();
    let o = run(&pool, &p, Mode::Smallest);
    assert_eq!(o.solution.map(|s| s.nonce), Some(smallest(&p)));
}

#[test]
fn a_capped_pool_gives_the_same_answers() {
    let pool = Pool::builder(2, Kernel::fastest())
        .hash_rate(Some(5e6))
        .build()
        .unwrap();
    for i in 0..5 {
        let p = Arc::new(Prepared::new(
            format!("capped {i}").as_bytes(),
            Difficulty::from_zero_bits(13).unwrap(),
        ));
        let o = run(&pool, &p, Mode::Smallest);
        assert_eq!(o.solution.map(|s| s.nonce), Some(smallest(&p)));
    }
    // A capped job is cancelled while its workers pace.
    pool.set_hash_rate(Some(1e3)).unwrap();
    let never = Arc::new(Prepared::new(
        b"slow",
        Difficulty::from_zero_bits(60).unwrap(),
    ));
    let (j, cancel) = job(&never, Mode::Smallest);
    let (tx, rx) = mpsc::channel();
    pool.search(j, Box::new(move |o| tx.send(o).unwrap()))
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    cancel.store(true, Ordering::Release);
    assert_eq!(rx.recv_timeout(HANG).unwrap().solution, None);
}

#[test]
fn too_many_jobs_are_refused_and_the_callback_dropped() {
    let pool = Pool::new(1, Kernel::fastest()).unwrap();
    let never = Arc::new(Prepared::new(
        b"full",
        Difficulty::from_zero_bits(60).unwrap(),
    ));
    let cancel = Arc::new(AtomicBool::new(false));
    let called = Arc::new(AtomicUsize::new(0));
    for _ in 0..MAX_JOBS {
        let called = called.clone();
        let j = Job {
            prepared: never.clone(),
            mode: Mode::Smallest,
            cancel: cancel.clone(),
        };
        pool.search(
            j,
            Box::new(move |_| {
                called.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    }
    let (tx, rx) = mpsc::channel::<Outcome>();
    let e = pool
        .search(
            job(&never, Mode::Smallest).0,
            Box::new(move |o| tx.send(o).unwrap()),
        )
        .unwrap_err();
    assert!(matches!(e, PoolError::TooManyJobs), "{e}");
    assert!(
        rx.recv().is_err(),
        "the refused job's callback is dropped uncalled"
    );
    cancel.store(true, Ordering::Release);
    drop(pool);
    assert_eq!(called.load(Ordering::SeqCst), MAX_JOBS);
}

/// The states (`R` running, `S` sleeping, ...) of this process's threads named `prefix…`.
fn thread_states(prefix: &str) -> Option<Vec<char>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut states = Vec::new();
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            // "pid (comm) S ...": the state follows the last ')'.
            states.push(stat.rsplit(')').next()?.trim_start().chars().next()?);
        }
    }
    Some(states)
}

#[test]
fn idle_workers_park() {
    let pool = Pool::builder(2, Kernel::fastest())
        .name("parkt")
        .build()
        .unwrap();
    let p = Arc::new(Prepared::new(
        b"park",
        Difficulty::from_zero_bits(12).unwrap(),
    ));
    for _ in 0..3 {
        run(&pool, &p, Mode::Smallest);
        // Both workers must be asleep, seen 50 times in a row, well within the wait.
        let mut asleep_in_a_row = 0;
        let mut waited = Duration::ZERO;
        while asleep_in_a_row < 50 {
            let Some(states) = thread_states("parkt") else {
                eprintln!("idle_workers_park: no /proc/self/task, skipped");
                return;
            };
            // Under load a worker may not have named itself yet.
            if states.len() == 2 && states.iter().all(|&s| s == 'S') {
                asleep_in_a_row += 1;
            } else {
                asleep_in_a_row = 0;
            }
            std::thread::sleep(Duration::from_millis(1));
            waited += Duration::from_millis(1);
            assert!(waited < HANG, "workers still running when idle: {states:?}");
        }
    }
}
