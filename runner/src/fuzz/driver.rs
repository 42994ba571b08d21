//! The stable-toolchain driver for the parser-level targets (`runner fuzz
//! --target policy|loader|tunnel|syscall-args`): random inputs and
//! mutations of a small seed corpus, fed to the same functions the
//! cargo-fuzz targets call. Not coverage-guided (that is cargo-fuzz's job on
//! nightly), but it runs anywhere, in CI included.

use super::campaign::Plan;
use super::rng::Rng;
use super::targets;
use crate::cli::FuzzTarget;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

/// Tokens the mutator inserts into policy text.
const POLICY_TOKENS: &[&str] = &[
    "[limits]\n",
    "[[files]]\n",
    "[syscalls]\n",
    "[stdio]\n",
    "[env]\n",
    "[[network]]\n",
    "[[tunnel]]\n",
    "memory = ",
    "wall_time = ",
    "path = ",
    "access = ",
    "deny = ",
    "on_deny = ",
    "\"64MiB\"",
    "\"5s\"",
    "\"read\"",
    "\"read-write\"",
    "\"kill\"",
    "\"EPERM\"",
    "[\"getpid\"]",
    "\"/srv/data\"",
    "\"/../x\"",
    "= ",
    "\n",
    "\"",
    "'",
    "#",
    "{",
    "}",
    "[",
    "]",
    "1e999",
    "-1",
    "18446744073709551616",
    "\"0x10\"",
    "\"1.5s\"",
    "\"\u{0}\"",
    "inherit = true\n",
];

/// Valid inputs to start from, per target.
fn corpus(target: FuzzTarget) -> Vec<Vec<u8>> {
    match target {
        FuzzTarget::Policy => [
            "",
            "[limits]\nmemory = \"64MiB\"\nwall_time = \"5s\"\n",
            "[limits]\nmemory = \"64MiB\"\nwall_time = \"5s\"\n\n[[files]]\npath = \"/srv/data\"\naccess = \"read\"\n\n[syscalls]\ndeny = [\"getpid\"]\non_deny = \"EPERM\"\n",
            "[stdio]\nstdin = false\n[env]\ninherit = false\nvars = { LANG = \"C\" }\n",
            "[syscalls]\ndeny = [\"write\"]\non_deny = \"kill\"\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        FuzzTarget::Loader => {
            let mut c: Vec<Vec<u8>> = samples::IMAGES.iter().map(|(_, b)| b.to_vec()).collect();
            c.push(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec());
            c
        }
        _ => vec![Vec::new()],
    }
}

/// Random bytes; printable ASCII (and newlines) for the policy target, so
/// that most inputs get past UTF-8 decoding into the TOML parser.
fn random_bytes(rng: &mut Rng, n: usize, target: FuzzTarget) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rng.fill(&mut b);
    if target == FuzzTarget::Policy {
        for x in b.iter_mut() {
            *x = if *x % 16 == 0 { b'\n' } else { 0x20 + *x % 95 };
        }
    }
    b
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, target: FuzzTarget) {
    for _ in 0..rng.range(1, 8) {
        let at = rng.below(input.len() as u64 + 1) as usize;
        match rng.below(7) {
            0 if at < input.len() && target != FuzzTarget::Policy => input[at] ^= 1 << rng.below(8),
            1 if at < input.len() => input[at] = random_bytes(rng, 1, target)[0],
            2 => {
                let n = rng.range(1, 16) as usize;
                input.splice(at..at, random_bytes(rng, n, target));
            }
            3 if target == FuzzTarget::Policy => {
                let tok = rng.pick(POLICY_TOKENS).copied().unwrap_or("\n");
                input.splice(at..at, tok.bytes());
            }
            4 => {
                let end = (at + rng.below(32) as usize).min(input.len());
                input.drain(at..end);
            }
            5 => {
                let end = (at + rng.below(32) as usize).min(input.len());
                let copy = input[at..end].to_vec();
                input.splice(at..at, copy);
            }
            _ => input.extend(random_bytes(rng, 1, target)),
        }
    }
    input.truncate(64 << 10);
}

fn name(target: FuzzTarget) -> &'static str {
    match target {
        FuzzTarget::Vm => "vm",
        FuzzTarget::Policy => "policy",
        FuzzTarget::Loader => "loader",
        FuzzTarget::Tunnel => "tunnel",
        FuzzTarget::SyscallArgs => "syscall-args",
    }
}

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `target` on `input`; Some(panic message) when it panicked.
fn try_input(target: &str, input: &[u8]) -> Option<String> {
    panic::catch_unwind(AssertUnwindSafe(|| targets::run(target, input)))
        .err()
        .map(|_| PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default())
}

/// At most this many failing inputs are saved (all are counted).
const MAX_SAVED: u64 = 20;

/// Runs the driver; returns the exit status (0: no target panicked).
/// `max_failures` > 0 stops it after that many failures.
pub fn main(
    target: FuzzTarget,
    seed: u64,
    plan: Plan,
    out: &Path,
    replay: Option<&Path>,
    max_failures: u64,
) -> i32 {
    let tname = name(target);
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
    let status = if let Some(file) = replay {
        match std::fs::read(file) {
            Ok(input) => match try_input(tname, &input) {
                None => {
                    crate::out!("fuzz: 1 inputs, 0 failures");
                    0
                }
                Some(msg) => {
                    eprintln!("fuzz: {tname} panicked: {msg}");
                    crate::out!("fuzz: 1 inputs, 1 failures");
                    1
                }
            },
            Err(e) => {
                eprintln!("runner: fuzz: {}: {e}", file.display());
                crate::exit_status::RUNNER_FAILED
            }
        }
    } else {
        campaign(target, tname, seed, plan, out, max_failures)
    };
    panic::set_hook(previous);
    status
}

fn campaign(
    target: FuzzTarget,
    tname: &str,
    seed: u64,
    plan: Plan,
    out: &Path,
    max_failures: u64,
) -> i32 {
    let corpus = corpus(target);
    let start = Instant::now();
    let mut last = Instant::now();
    let (mut done, mut failures) = (0u64, 0u64);
    eprintln!("fuzz: target {tname}, seed {seed}");
    loop {
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            eprintln!("fuzz: {done} inputs, {failures} failures");
        }
        match plan {
            Plan::Iterations(n) if done >= n => break,
            Plan::Duration(d) if start.elapsed() >= d => break,
            _ => {}
        }
        let mut rng = Rng::for_program(seed, done);
        let mut input = if rng.chance(20) {
            let n = rng.below(4096) as usize;
            random_bytes(&mut rng, n, target)
        } else {
            rng.pick(&corpus).cloned().unwrap_or_default()
        };
        mutate(&mut rng, &mut input, target);
        let index = done;
        done += 1;
        let Some(msg) = try_input(tname, &input) else {
            continue;
        };
        failures += 1;
        if failures <= MAX_SAVED {
            let file = out.join(format!("fail-{tname}-{seed}-{index}.input"));
            let saved = std::fs::create_dir_all(out).and_then(|_| std::fs::write(&file, &input));
            eprintln!("fuzz: FAIL input {index}: {msg}");
            match saved {
                Ok(()) => eprintln!(
                    "fuzz:   reproduce: runner fuzz --target {tname} --replay {}",
                    file.display()
                ),
                Err(e) => eprintln!("fuzz:   cannot save {}: {e}", file.display()),
            }
        }
        if max_failures > 0 && failures >= max_failures {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "fuzz: {:.0} inputs/s over {secs:.1}s",
        done as f64 / secs.max(1e-9)
    );
    crate::out!("fuzz: {done} inputs, {failures} failures");
    i32::from(failures > 0)
}
