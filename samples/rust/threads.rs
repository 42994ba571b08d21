//! threads.rs - a Rust program with std::thread, built static for glibc
//! (`rustc -O -C target-feature=+crt-static`) by runner/tests/languages.rs,
//! which compares its output, stderr included, and its status with a
//! native run: spawn and join, scoped threads, Arc<Mutex>, RwLock and
//! Condvar, mpsc channels (unbounded and bounded), Barrier, park/unpark,
//! thread_local! values with Drop, a panic in a thread caught by join()
//! and one caught by catch_unwind, and std::fs reading a file the policy
//! grants (argv[1]). With "panic-main" as the only argument the main
//! thread panics (status 101).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;
use std::time::Duration;

static DROPPED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

struct Tracker(usize);

impl Drop for Tracker {
    fn drop(&mut self) {
        if self.0 != usize::MAX {
            DROPPED.lock().unwrap().push(self.0);
        }
    }
}

thread_local! {
    static TRACKER: RefCell<Tracker> = const { RefCell::new(Tracker(usize::MAX)) };
    static COUNTER: RefCell<u64> = const { RefCell::new(100) };
}

fn spawn_and_join() {
    let handles: Vec<_> = (0..8u64)
        .map(|i| thread::spawn(move || (0..=1000 * i).sum::<u64>()))
        .collect();
    let sums: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    println!("spawn: {sums:?}");
    let named = thread::Builder::new()
        .name("named-worker".into())
        .stack_size(256 * 1024)
        .spawn(|| thread::current().name().map(str::to_owned))
        .unwrap();
    println!("builder: name {:?}", named.join().unwrap());
}

fn scoped() {
    let mut data: Vec<u32> = (1..=1000).collect();
    let total = AtomicUsize::new(0);
    thread::scope(|s| {
        for chunk in data.chunks(100) {
            let total = &total;
            s.spawn(move || {
                total.fetch_add(chunk.iter().map(|&x| x as usize).sum(), Ordering::Relaxed);
            });
        }
    });
    thread::scope(|s| {
        for chunk in data.chunks_mut(250) {
            s.spawn(move || chunk.iter_mut().for_each(|x| *x *= 2));
        }
    });
    println!(
        "scoped: sum {} then doubled in place, last {}",
        total.load(Ordering::Relaxed),
        data[999]
    );
}

fn locks() {
    let counter = Arc::new(Mutex::new(0u64));
    let table = Arc::new(RwLock::new(vec![0u64; 32]));
    let torn = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..6)
        .map(|id| {
            let (counter, table, torn) = (counter.clone(), table.clone(), torn.clone());
            thread::spawn(move || {
                for i in 0..2000 {
                    *counter.lock().unwrap() += 1;
                    if i % 6 == id {
                        table.write().unwrap().iter_mut().for_each(|x| *x += 1);
                    } else {
                        let t = table.read().unwrap();
                        if t.iter().any(|&x| x != t[0]) {
                            torn.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!(
        "mutex: {} rwlock: {} torn {}",
        counter.lock().unwrap(),
        table.read().unwrap()[0],
        torn.load(Ordering::Relaxed)
    );

    // A condition variable: the workers wait for a flag.
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let waiters: Vec<_> = (0..4)
        .map(|i| {
            let pair = pair.clone();
            thread::spawn(move || {
                let (lock, cv) = &*pair;
                let go = cv.wait_while(lock.lock().unwrap(), |go| !*go).unwrap();
                assert!(*go);
                i * 10
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    *pair.0.lock().unwrap() = true;
    pair.1.notify_all();
    let woke: Vec<i32> = waiters.into_iter().map(|h| h.join().unwrap()).collect();
    println!("condvar: woke {woke:?}");
}

fn channels() {
    let (tx, rx) = mpsc::channel::<(usize, u64)>();
    for p in 0..4 {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..500u64 {
                tx.send((p, i)).unwrap();
            }
        });
    }
    drop(tx);
    let mut per: BTreeMap<usize, u64> = BTreeMap::new();
    for (p, i) in rx {
        *per.entry(p).or_default() += i;
    }
    println!("mpsc: {per:?}");

    let (tx, rx) = mpsc::sync_channel::<String>(2);
    let producer = thread::spawn(move || {
        for i in 0..20 {
            tx.send(format!("m{i}")).unwrap();
        }
    });
    let got: Vec<String> = rx.iter().collect();
    producer.join().unwrap();
    println!("sync_channel(2): {} messages, last {}", got.len(), got[got.len() - 1]);
}

fn barrier_and_park() {
    let barrier = Arc::new(Barrier::new(5));
    let phases = Arc::new(Mutex::new(vec![0u32; 3]));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let (barrier, phases) = (barrier.clone(), phases.clone());
            thread::spawn(move || {
                let mut leaders = 0;
                for p in 0..3 {
                    phases.lock().unwrap()[p] += 1;
                    if barrier.wait().is_leader() {
                        leaders += 1;
                    }
                }
                leaders
            })
        })
        .collect();
    let leaders: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("barrier: phases {:?}, leaders {leaders}", phases.lock().unwrap());

    let flag = Arc::new(AtomicUsize::new(0));
    let f = flag.clone();
    let parked = thread::spawn(move || {
        while f.load(Ordering::Acquire) == 0 {
            thread::park();
        }
        "unparked"
    });
    thread::sleep(Duration::from_millis(10));
    flag.store(1, Ordering::Release);
    parked.thread().unpark();
    println!("park: {}", parked.join().unwrap());
}

fn thread_locals() {
    let handles: Vec<_> = (0..10)
        .map(|i| {
            thread::spawn(move || {
                TRACKER.with(|t| t.borrow_mut().0 = i);
                COUNTER.with(|c| {
                    *c.borrow_mut() += i as u64;
                    *c.borrow()
                })
            })
        })
        .collect();
    let counters: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let mut dropped = DROPPED.lock().unwrap().clone();
    dropped.sort_unstable();
    println!(
        "thread_local: counters {counters}, main's {}, dropped {dropped:?}",
        COUNTER.with(|c| *c.borrow())
    );
}

fn panics() {
    let h = thread::Builder::new()
        .name("panicker".into())
        .spawn(|| -> u32 { panic!("boom in a thread: {}", 6 * 7) })
        .unwrap();
    match h.join() {
        Ok(v) => println!("join: returned {v}?"),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            println!("join: the thread panicked with {msg:?}");
        }
    }
    let poisoned = Arc::new(Mutex::new(1));
    let p = poisoned.clone();
    let _ = thread::spawn(move || {
        let _guard = p.lock().unwrap();
        panic!("poisoning the mutex");
    })
    .join();
    println!("poisoned: {}", poisoned.is_poisoned());
    let caught = std::panic::catch_unwind(|| {
        let v: Vec<u8> = Vec::new();
        v[3]
    });
    println!("catch_unwind: {}", if caught.is_err() { "caught" } else { "no panic?" });
}

fn files(path: &str) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            println!("fs::read {path}: {e}");
            return;
        }
    };
    let sum = bytes.iter().fold(0u32, |a, &b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    // The same file read by several threads at once.
    let lens: Vec<usize> = thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut f = std::fs::File::open(path).unwrap();
                    let mut buf = Vec::new();
                    f.read_to_end(&mut buf).unwrap();
                    buf.len()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let lines = BufReader::new(std::fs::File::open(path).unwrap()).lines().count();
    let meta = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "fs: {} bytes, hash {sum:08x}, {lines} lines, metadata {meta}, read by 4 threads {lens:?}",
        bytes.len()
    );
    match std::fs::read("/etc/thinvisor-not-there") {
        Ok(_) => println!("fs: a missing file was read?"),
        Err(e) => println!("fs: missing file: {:?}", e.kind()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("panic-main") {
        let v: Option<u8> = None;
        println!("about to panic in main");
        v.expect("the main thread panics");
    }
    spawn_and_join();
    scoped();
    locks();
    channels();
    barrier_and_park();
    thread_locals();
    panics();
    if let Some(path) = args.get(1) {
        files(path);
    }
    println!("done");
}
