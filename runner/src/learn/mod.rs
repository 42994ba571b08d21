//! `runner learn`: runs a program contained, granting only inside the
//! scopes the user names, and writes a commented policy that allows
//! exactly what the run used (docs/learn.md).
//!
//! Each learning run is an ordinary `runner exec` in a child process (so
//! it is locked down as every run is), under a policy that grants the
//! scopes, with `--learn-record` and `--stats` to files of a private work
//! directory. With `--net`, a run in which the policy refused a peer is
//! followed by one that grants it, until a run asks for nothing new. The
//! record's files become `[[files]]` rules (`rules.rs`), its peers
//! `[[network]]` entries, the syscalls made an allowlist, and the peak
//! memory and longest wall time limits with stated headroom
//! (`policy_text.rs`).

pub mod policy_text;
pub mod rules;

use crate::audit::uses::{How, Peer, Uses};
use policy_text::Measured;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `runner learn` options.
#[derive(Debug, clap::Args)]
pub struct LearnArgs {
    /// A directory the program may read, write and run programs from
    /// while it is learned (repeatable). Nothing outside the scopes is
    /// shown to it.
    #[arg(long, value_name = "DIR")]
    pub scope: Vec<PathBuf>,
    /// A directory the program may read and run programs from, but not
    /// write, while it is learned (repeatable).
    #[arg(long, value_name = "DIR")]
    pub read_scope: Vec<PathBuf>,
    /// Grant the network peers the program asks for: a run in which the
    /// policy refused a peer is followed by one that grants it (at most
    /// 8 runs), so the program may run more than once.
    #[arg(long)]
    pub net: bool,
    /// Learn from this many runs: the policy allows what any of them used.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Where to write the learned policy.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
    /// Wall-clock limit of each learning run, in seconds (default: the
    /// default policy's).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// PROGRAM is a path in the scopes (as `runner exec --guest-path`);
    /// without it, a host path, which needs no rule.
    #[arg(long)]
    pub guest_path: bool,
    /// The program to learn.
    pub program: PathBuf,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Why learning failed.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("scope {0}: {1}")]
    Scope(PathBuf, String),
    #[error("cannot prepare the learning run in {0}: {1}")]
    WorkDir(PathBuf, std::io::Error),
    #[error("cannot start the learning run: {0}")]
    Spawn(std::io::Error),
    #[error("the learning run failed (status {0}): no policy was learned")]
    RunFailed(i32),
    #[error("cannot read the learning run's {0}: {1}")]
    Record(&'static str, String),
    #[error(
        "the program used more than {} paths or peers: no policy was learned",
        crate::audit::uses::MAX_ENTRIES
    )]
    TooMuch,
    #[error("the learned policy does not validate (a bug): {0}")]
    Invalid(String),
    #[error("cannot write the policy to {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// The peer the learning policy names with `--net` so that sockets can be
/// made: TEST-NET-1 (RFC 5737), which no host answers. Never learned.
const PLACEHOLDER: &str = "192.0.2.1:9";

/// Most runs one learning round may take with `--net`.
const MAX_NET_ROUNDS: u32 = 8;

/// Runs `runner learn`; returns the program's exit status (that of the
/// last run), or the runner's failure status.
pub fn main(args: LearnArgs) -> i32 {
    match learn(&args) {
        Ok(status) => status,
        Err(e) => {
            crate::say!("runner learn: {e}");
            crate::exit_status::RUNNER_FAILED
        }
    }
}

fn learn(a: &LearnArgs) -> Result<i32, LearnError> {
    let scopes = absolute_scopes(&a.scope)?;
    let read_scopes = absolute_scopes(&a.read_scope)?;
    let work = private_dir()?;
    let result = learn_in(a, &scopes, &read_scopes, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn learn_in(
    a: &LearnArgs,
    scopes: &[PathBuf],
    read_scopes: &[PathBuf],
    work: &Path,
) -> Result<i32, LearnError> {
    let mut granted: BTreeSet<Peer> = BTreeSet::new();
    let mut total = Uses::default();
    let mut m = Measured::default();
    for _ in 0..a.runs {
        let mut rounds = 0;
        let (uses, stats) = loop {
            rounds += 1;
            let (uses, stats) = run_once(a, scopes, read_scopes, &granted, work)?;
            let new: Vec<Peer> = uses
                .refused_peers
                .iter()
                .filter(|p| !granted.contains(*p))
                .cloned()
                .collect();
            if !a.net || new.is_empty() || rounds >= MAX_NET_ROUNDS {
                break (uses, stats);
            }
            crate::say!(
                "runner learn: the run asked for {}; running it again with {} granted",
                names(&new),
                if new.len() == 1 { "it" } else { "them" }
            );
            granted.extend(new);
        };
        if uses.truncated {
            return Err(LearnError::TooMuch);
        }
        for (path, u) in uses.files {
            let have = total.files.entry(path).or_default();
            have.read |= u.read;
            have.write |= u.write;
            have.create_in |= u.create_in;
            have.exec |= u.exec;
            have.calls.extend(u.calls);
        }
        total
            .peers
            .extend(uses.peers.into_iter().filter(|p| p.address != PLACEHOLDER));
        m.runs += 1;
        m.exit_status = stats.exit_status;
        m.peak_memory = m.peak_memory.max(stats.peak_memory);
        m.wall_ns = m.wall_ns.max(stats.wall_ns);
        for (n, c) in stats.syscalls {
            *m.syscalls.entry(n).or_default() += c;
        }
    }
    // The programs run: their interpreters, which the runner loads
    // itself, need a rule too; a program named in the scopes needs one.
    let program = if a.guest_path {
        // As execve names it: relative to the guest's cwd, `/`.
        let p =
            crate::vfs::path::normalize(Path::new("/"), a.program.as_os_str().as_encoded_bytes())
                .map_or_else(|_| a.program.clone(), |g| g.path);
        total.file(&p.to_string_lossy(), "execve", How::Exec);
        p
    } else {
        a.program.clone()
    };
    let mut programs: Vec<PathBuf> = total
        .files
        .iter()
        .filter(|(_, u)| u.exec)
        .map(|(p, _)| PathBuf::from(p))
        .collect();
    programs.push(program);
    for p in programs {
        if let Some(interp) = interpreter(&p) {
            total.file(
                &interp,
                "the interpreter of a program run (PT_INTERP)",
                How::Exec,
            );
        }
    }
    let all_scopes: Vec<PathBuf> = scopes.iter().chain(read_scopes).cloned().collect();
    let rules = rules::rules(&total, &all_scopes);
    let command = std::iter::once(a.program.to_string_lossy().into_owned())
        .chain(a.args.iter().cloned())
        .map(|w| shell_word(&w))
        .collect::<Vec<_>>()
        .join(" ");
    let text = policy_text::policy_text(&command, &m, &rules, &total.peers);
    sandbox_policy::Policy::from_str_named(&text, &a.out.to_string_lossy())
        .map_err(|e| LearnError::Invalid(e.to_string()))?;
    std::fs::write(&a.out, &text).map_err(|e| LearnError::Write(a.out.clone(), e))?;
    crate::say!(
        "runner learn: wrote {}: {} file rule{}, {} network peer{}, {} syscalls, from {} run{} (the last exited with {})",
        a.out.display(),
        rules.len(),
        plural(rules.len()),
        total.peers.len(),
        plural(total.peers.len()),
        m.syscalls.len(),
        m.runs,
        plural(m.runs as usize),
        m.exit_status
    );
    Ok(m.exit_status)
}

/// `w` as a shell would need it written (for the policy's header).
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c));
    if plain {
        w.to_string()
    } else {
        // A comment line holds no control character (TOML).
        let shown: String = w
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("'{}'", shown.replace('\'', "'\\''"))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn names(peers: &[Peer]) -> String {
    peers
        .iter()
        .map(|p| {
            format!(
                "{} {}{}",
                p.protocol,
                p.address,
                if p.listen { " (listen)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new directory of the learner's own (mode 0700, never one that was
/// there: another user cannot have planted it) for the learning run's
/// policy, record and statistics.
fn private_dir() -> Result<PathBuf, LearnError> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let mut last = None;
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "thinvisor-learn-{}-{nanos:08x}{attempt}",
            std::process::id()
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(LearnError::WorkDir(dir, e)),
        }
    }
    Err(LearnError::WorkDir(
        base,
        last.unwrap_or_else(|| std::io::Error::other("no free name")),
    ))
}

/// Each scope as an absolute, normalized path: the guest sees it at the
/// same path (a link such as a merged-/usr `/lib64` stays as named, as
/// the guest's programs name it). It must be a directory.
fn absolute_scopes(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, LearnError> {
    dirs.iter()
        .map(|d| {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            let a = crate::vfs::path::normalize(&cwd, d.as_os_str().as_encoded_bytes())
                .map_err(|e| LearnError::Scope(d.clone(), e.to_string()))?
                .path;
            match std::fs::metadata(&a) {
                Ok(m) if m.is_dir() => Ok(a),
                Ok(_) => Err(LearnError::Scope(d.clone(), "not a directory".into())),
                Err(e) => Err(LearnError::Scope(d.clone(), e.to_string())),
            }
        })
        .collect()
}

/// What one run measured, from its `--stats`.
struct RunStats {
    exit_status: i32,
    peak_memory: u64,
    wall_ns: u64,
    syscalls: std::collections::BTreeMap<String, u64>,
}

/// One learning run: `runner exec` of the program under the learning
/// policy, its streams the learner's own.
fn run_once(
    a: &LearnArgs,
    scopes: &[PathBuf],
    read_scopes: &[PathBuf],
    granted: &BTreeSet<Peer>,
    work: &Path,
) -> Result<(Uses, RunStats), LearnError> {
    let policy = work.join("learning.toml");
    let record = work.join("record.json");
    let stats = work.join("stats.json");
    std::fs::write(
        &policy,
        learning_policy(scopes, read_scopes, granted, a.net),
    )
    .map_err(|e| LearnError::WorkDir(work.to_path_buf(), e))?;
    let exe = std::env::current_exe().map_err(LearnError::Spawn)?;
    let mut cmd = Command::new(exe);
    cmd.arg("exec").arg("--policy").arg(&policy);
    cmd.arg("--learn-record")
        .arg(&record)
        .arg("--stats")
        .arg(&stats);
    if let Some(t) = a.timeout {
        cmd.arg("--timeout").arg(t.to_string());
    }
    if a.guest_path {
        cmd.arg("--guest-path");
    }
    cmd.arg("--").arg(&a.program).args(&a.args);
    let status = cmd.status().map_err(LearnError::Spawn)?;
    let code = status.code().unwrap_or(crate::exit_status::RUNNER_FAILED);
    let read = |p: &Path, what: &'static str| {
        std::fs::read_to_string(p).map_err(|e| LearnError::Record(what, e.to_string()))
    };
    if code == crate::exit_status::RUNNER_FAILED || !record.exists() {
        return Err(LearnError::RunFailed(code));
    }
    let uses: Uses = serde_json::from_str(&read(&record, "record")?)
        .map_err(|e| LearnError::Record("record", e.to_string()))?;
    let s: serde_json::Value = serde_json::from_str(&read(&stats, "statistics")?)
        .map_err(|e| LearnError::Record("statistics", e.to_string()))?;
    let syscalls = s["syscalls"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    Ok((
        uses,
        RunStats {
            exit_status: code,
            peak_memory: s["peak_guest_memory_bytes"].as_u64().unwrap_or(0),
            wall_ns: s["wall_ns"].as_u64().unwrap_or(0),
            syscalls,
        },
    ))
}

/// The policy a learning run runs under: the scopes, and the peers
/// granted so far.
fn learning_policy(
    scopes: &[PathBuf],
    read_scopes: &[PathBuf],
    granted: &BTreeSet<Peer>,
    net: bool,
) -> String {
    let mut o = String::from("# runner learn: the scopes the user granted\n");
    if net {
        // A socket can be made only for a protocol some rule names: these
        // name both, for a peer no host answers.
        for protocol in ["tcp", "udp"] {
            o += &format!("[[network]]\naddress = \"{PLACEHOLDER}\"\nprotocol = \"{protocol}\"\n");
        }
    }
    for (dirs, access) in [(scopes, "read-write-exec"), (read_scopes, "read-exec")] {
        for d in dirs {
            o += &format!(
                "[[files]]\npath = {:?}\naccess = \"{access}\"\n",
                d.to_string_lossy()
            );
        }
    }
    for p in granted {
        o += &format!(
            "[[network]]\naddress = {:?}\nprotocol = \"{}\"\nlisten = {}\n",
            p.address, p.protocol, p.listen
        );
    }
    o
}

/// The interpreter (PT_INTERP) of the ELF program at host path `p`, if
/// it names one.
fn interpreter(p: &Path) -> Option<String> {
    let bytes = std::fs::read(p).ok()?;
    let elf = goblin::elf::Elf::parse(&bytes).ok()?;
    elf.interpreter.map(str::to_string)
}
