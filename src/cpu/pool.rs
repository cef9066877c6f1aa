//! A two-way fork-join for the CPU executor: the calling thread runs part 0
//! of an op and one persistent worker runs part 1, then both meet again.
//!
//! Why not rayon: a recurrent step of config (b) is ~20 µs of work per core
//! and a block has hundreds of them in a chain, each needing the whole of
//! the step before it. The fork and the join must each cost well under a
//! microsecond, so the worker spins on an epoch counter between ops (a
//! cache-line handshake, ~0.1–0.3 µs), yields after a while, and parks only
//! after ~a millisecond without work, which never happens inside a block.
//!
//! Parts are claimed, not assigned: the caller runs part 0, then claims any
//! part the worker has not started. On a machine shared with other busy
//! processes the worker is often not running when a job arrives; waiting
//! for it made a lockstep step chain ~30x slower (config (a), 20 K instead of
//! 650 K chars/s, while another program kept both cores busy). With claims
//! the caller only ever waits for a part that is already running.
//!
//! The split is fixed at [`PARTS`] whatever the core count: with one core,
//! or while another thread of the process holds the pool, the caller runs
//! both parts itself, in order. Results therefore never depend on threads.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, TryLockError};
use std::thread::JoinHandle;

/// Parts every parallel op is split into.
pub const PARTS: usize = 2;

/// Spins (each a `spin_loop` hint) before the waiting side starts yielding.
const SPINS: u32 = 20_000;
/// `yield_now` calls after the spins before the worker parks.
const YIELDS: u32 = 2_000;

type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    /// Incremented by the caller for each job it hands over.
    epoch: AtomicUsize,
    /// `epoch << 8 | parts claimed` of the current job.
    claims: AtomicU64,
    /// `epoch << 8 | parts finished` of the current job.
    finished: AtomicU64,
    /// Set when a part panicked on the worker.
    panicked: AtomicBool,
    /// The job of the current epoch; written before `epoch` is published.
    job: UnsafeCell<Option<Job>>,
    /// The worker sleeps on `wake` while this is set.
    sleeping: AtomicBool,
    shutdown: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written only by the pool's holder before it publishes a
// new epoch (SeqCst) and read by the worker only after it has claimed a part
// of that epoch; the holder does not touch it again until every part of the
// epoch is finished. The job itself is `Sync`.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// The fork-join pool: one worker thread beside the caller.
pub struct Pool {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();

/// The process's pool if no other thread holds it; `None` means "run every
/// part on this thread" (same results, one core).
pub fn acquire() -> Option<MutexGuard<'static, Pool>> {
    let pool = POOL.get_or_init(|| Mutex::new(Pool::new()));
    match pool.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Runs `f(0)` .. `f(PARTS - 1)`: on the pool when one is given and has a
/// worker, else in order on this thread.
pub fn run(pool: Option<&Pool>, f: &(dyn Fn(usize) + Sync)) {
    match pool {
        Some(pool) if pool.worker.is_some() => pool.fork_join(f),
        _ => (0..PARTS).for_each(f),
    }
}

impl Pool {
    fn new() -> Pool {
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            claims: AtomicU64::new(PARTS as u64),
            finished: AtomicU64::new(PARTS as u64),
            panicked: AtomicBool::new(false),
            job: UnsafeCell::new(None),
            sleeping: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let worker = (cores >= 2)
            .then(|| {
                let shared = shared.clone();
                std::thread::Builder::new().name("rnn-wgpu-cpu".into()).spawn(move || work(&shared)).ok()
            })
            .flatten();
        Pool { shared, worker }
    }

    fn fork_join(&self, f: &(dyn Fn(usize) + Sync)) {
        let s = &*self.shared;
        // SAFETY (lifetime): the worker only dereferences the job for a part
        // it claimed, and `Join` below waits for every part to finish even
        // when `f` unwinds here, so `f` outlives every use.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        unsafe { *s.job.get() = Some(job) };
        let epoch = s.epoch.load(Ordering::Relaxed) + 1;
        let base = (epoch as u64) << 8;
        s.claims.store(base, Ordering::SeqCst);
        s.finished.store(base, Ordering::SeqCst);
        s.epoch.store(epoch, Ordering::SeqCst);
        if s.sleeping.load(Ordering::SeqCst) {
            let _guard = lock(&s.lock);
            s.wake.notify_one();
        }
        /// Claims what is left (unrun, when unwinding) and waits for the rest.
        struct Join<'a>(&'a Shared, u64);
        impl Drop for Join<'_> {
            fn drop(&mut self) {
                while claim(self.0, self.1).is_some() {
                    self.0.finished.fetch_add(1, Ordering::Release);
                }
                wait_until(|| self.0.finished.load(Ordering::Acquire) == self.1 | PARTS as u64);
            }
        }
        let join = Join(s, base);
        while let Some(part) = claim(s, base) {
            f(part);
            s.finished.fetch_add(1, Ordering::Release);
        }
        drop(join);
        if s.panicked.swap(false, Ordering::Relaxed) {
            panic!("a CPU kernel panicked on the pool's worker thread");
        }
    }
}

/// Claims the next unclaimed part of the job whose claims start at `base`.
fn claim(s: &Shared, base: u64) -> Option<usize> {
    let mut current = s.claims.load(Ordering::Acquire);
    loop {
        let part = current & 0xff;
        if current & !0xff != base || part >= PARTS as u64 {
            return None;
        }
        match s.claims.compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(part as usize),
            Err(now) => current = now,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _guard = lock(&self.shared.lock);
            self.shared.wake.notify_one();
        }
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Spins, then yields, until `ready()`.
fn wait_until(ready: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        if spins < SPINS {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// The worker: wait for a new epoch (spin, yield, then park), then run
/// whatever parts of it are still unclaimed.
fn work(s: &Shared) {
    let mut seen = 0;
    loop {
        let mut waited = 0u32;
        loop {
            if s.shutdown.load(Ordering::SeqCst) {
                return;
            }
            let epoch = s.epoch.load(Ordering::Acquire);
            if epoch != seen {
                seen = epoch;
                break;
            }
            waited += 1;
            if waited < SPINS {
                std::hint::spin_loop();
            } else if waited < SPINS + YIELDS {
                std::thread::yield_now();
            } else {
                // Park. `sleeping` is set under the lock and the epoch read
                // after it (both SeqCst), while the caller bumps the epoch
                // before it reads `sleeping`: one of the two sees the other.
                let guard = lock(&s.lock);
                s.sleeping.store(true, Ordering::SeqCst);
                if s.epoch.load(Ordering::SeqCst) == seen && !s.shutdown.load(Ordering::SeqCst) {
                    drop(s.wake.wait(guard).unwrap_or_else(|p| p.into_inner()));
                }
                s.sleeping.store(false, Ordering::SeqCst);
                waited = 0;
            }
        }
        let base = (seen as u64) << 8;
        while let Some(part) = claim(s, base) {
            // SAFETY: see `Shared` and `fork_join`: a claimed part's job is live.
            let job = unsafe { (*s.job.get()).expect("a job is set before its epoch") };
            let f = unsafe { &*job };
            if catch_unwind(AssertUnwindSafe(|| f(part))).is_err() {
                s.panicked.store(true, Ordering::Relaxed);
            }
            s.finished.fetch_add(1, Ordering::Release);
        }
    }
}
