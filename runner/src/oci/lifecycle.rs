//! The runtime's commands: the container lifecycle of the runtime spec
//! (creating -> created -> running -> stopped) over the state directory
//! (`state.rs`).

use super::cli::{OciCli, OciCommand, PsFormat};
use super::state::{self, Dir, Record, Status};
use super::{policy, spec, OciError};
use rustix::fs::{FileType, Mode, OFlags};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `create` waits for the container process to be ready (its VM
/// built, the runner locked down).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `delete --force` waits for a killed container process to go.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// What `create` leaves for the container process (`init.rs`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Launch {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: String,
    /// Its standard streams are a terminal made for it: it takes it as
    /// its controlling terminal.
    #[serde(default)]
    pub terminal: bool,
}

pub fn run(cli: &OciCli) -> Result<(), OciError> {
    let root = &cli.root;
    match &cli.command {
        OciCommand::Create {
            id,
            bundle,
            pid_file,
            console_socket,
            preserve_fds,
            ..
        } => {
            if *preserve_fds != 0 {
                return Err(OciError::Unsupported("--preserve-fds"));
            }
            create(
                root,
                id,
                bundle,
                pid_file.as_deref(),
                console_socket.as_deref(),
            )
        }
        OciCommand::Start { id } => start(root, id),
        OciCommand::State { id } => print_state(root, id),
        OciCommand::Kill { id, signal, .. } => kill(root, id, signal),
        OciCommand::Delete { id, force } => delete(root, id, *force),
        OciCommand::Ps { id, format } => ps(root, id, *format),
        OciCommand::Features => print(&format!("{}\n", features())),
        OciCommand::Exec { .. } => Err(OciError::Unsupported(
            "exec (another process in a running container)",
        )),
        OciCommand::Pause { .. } | OciCommand::Resume { .. } => {
            Err(OciError::Unsupported("pause and resume"))
        }
        OciCommand::Update { .. } => Err(OciError::Unsupported("update")),
        OciCommand::Checkpoint { .. } => Err(OciError::Unsupported("checkpoint")),
    }
}

fn create(
    root: &Path,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<(), OciError> {
    let dir = Dir::of(root, id)?;
    let bundle = std::fs::canonicalize(bundle)
        .map_err(|e| OciError::Bundle(format!("bundle {}: {e}", bundle.display())))?;
    let config = read_config(&bundle)?;
    let container = policy::translate(&config, &bundle)?;
    // As runc: a terminal needs a socket to hand it over, and a socket
    // without a terminal would never get one.
    match (container.terminal.is_some(), console_socket.is_some()) {
        (true, false) => {
            return Err(OciError::Refused {
                field: "process.terminal".into(),
                why: "a terminal needs --console-socket to hand its master over".into(),
            })
        }
        (false, true) => {
            return Err(OciError::Bundle(
                "--console-socket without process.terminal: there is no terminal to send".into(),
            ))
        }
        _ => {}
    }
    // The policy is checked as any policy file is before anything is made.
    sandbox_policy::Policy::from_str_named(&container.policy, "policy.toml")
        .map_err(|e| OciError::Bundle(format!("config.json makes no valid policy: {e}")))?;
    make_private_dir(root)?;
    match std::fs::create_dir(&dir.path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OciError::Exists(id.to_string()))
        }
        Err(e) => return Err(OciError::State(format!("{}: {e}", dir.path.display()))),
    }
    let made = prepare_and_launch(
        &dir,
        id,
        &bundle,
        &config,
        &container,
        pid_file,
        console_socket,
    );
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&dir.path);
    }
    made
}

/// The state directory's files, the container process, and its pid once
/// it is ready.
fn prepare_and_launch(
    dir: &Dir,
    id: &str,
    bundle: &Path,
    config: &spec::Spec,
    container: &policy::Container,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<(), OciError> {
    let io = |p: &Path, e: std::io::Error| OciError::State(format!("{}: {e}", p.display()));
    std::fs::write(dir.policy_file(), &container.policy).map_err(|e| io(&dir.policy_file(), e))?;
    let launch = Launch {
        program: container.program.clone(),
        args: container.args.clone(),
        cwd: container.cwd.clone(),
        terminal: container.terminal.is_some(),
    };
    let text = serde_json::to_string(&launch).map_err(|e| OciError::Internal(e.to_string()))?;
    std::fs::write(dir.launch_file(), text).map_err(|e| io(&dir.launch_file(), e))?;
    for fifo in [dir.exec_fifo(), dir.notify_fifo()] {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(|e| io(&fifo, e.into()))?;
    }
    // Open for reading first, without waiting, so that the container
    // process's open for writing does not wait either.
    let notify = rustix::fs::open(
        dir.notify_fifo(),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(&dir.notify_fifo(), e.into()))?;
    let exe = std::env::current_exe().map_err(|e| OciError::Init(format!("own path: {e}")))?;
    let mut command = std::process::Command::new(exe);
    command.arg("oci-init").arg(&dir.path);
    if let (Some(size), Some(socket)) = (container.terminal, console_socket) {
        let terminal = super::console::make(socket, size)?;
        let stream = || {
            terminal
                .try_clone()
                .map(std::process::Stdio::from)
                .map_err(|e| OciError::Init(format!("the terminal: {e}")))
        };
        command.stdin(stream()?).stdout(stream()?).stderr(stream()?);
    }
    let mut child = command
        .spawn()
        .map_err(|e| OciError::Init(format!("cannot start: {e}")))?;
    let ready = wait_ready(&notify, &mut child);
    let _ = std::fs::remove_file(dir.notify_fifo());
    if let Err(e) = ready {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let pid = child.id() as i32;
    let pid_start = state::start_time(pid)
        .ok_or_else(|| OciError::Init("ended as soon as it was ready".into()))?;
    dir.write_record(&Record {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        pid,
        pid_start,
        created: state::now_rfc3339(),
        annotations: config.annotations.clone(),
    })?;
    if let Some(p) = pid_file {
        state::write_atomic(p, pid.to_string().as_bytes())?;
    }
    // The child is not waited for: it outlives this command (the shim,
    // a subreaper, reaps it).
    drop(child);
    Ok(())
}

/// Reads the container process's one line: "ready", or why it failed.
fn wait_ready(
    notify: &rustix::fd::OwnedFd,
    child: &mut std::process::Child,
) -> Result<(), OciError> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let start = Instant::now();
    let mut line = Vec::new();
    loop {
        if let Some(pos) = line.iter().position(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(&line[..pos]).into_owned();
            return match text.strip_prefix("error: ") {
                None if text == "ready" => Ok(()),
                Some(why) => Err(OciError::Init(why.to_string())),
                None => Err(OciError::Init(format!("said {text:?}"))),
            };
        }
        if start.elapsed() > READY_TIMEOUT {
            return Err(OciError::Init(format!(
                "not ready after {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
        let mut fds = [PollFd::new(notify, PollFlags::IN)];
        let tick = Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        let _ = poll(&mut fds, Some(&tick));
        let revents = fds[0].revents();
        if revents.contains(PollFlags::IN) {
            let mut buf = [0u8; 4096];
            match rustix::io::read(notify, &mut buf) {
                Ok(n) => line.extend_from_slice(&buf[..n]),
                Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(OciError::Init(format!("reading its message: {e}"))),
            }
            continue;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(OciError::Init(format!(
                "ended before it was ready ({status})"
            )));
        }
        if revents.contains(PollFlags::HUP) {
            return Err(OciError::Init("closed its message without a word".into()));
        }
    }
}

fn read_config(bundle: &Path) -> Result<spec::Spec, OciError> {
    let path = bundle.join("config.json");
    let file = std::fs::File::open(&path)
        .map_err(|e| OciError::Bundle(format!("{}: {e}", path.display())))?;
    let mut text = String::new();
    file.take(spec::MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| OciError::Bundle(format!("{}: {e}", path.display())))?;
    if text.len() as u64 > spec::MAX_CONFIG_BYTES {
        return Err(OciError::Bundle(format!(
            "{}: larger than {} bytes",
            path.display(),
            spec::MAX_CONFIG_BYTES
        )));
    }
    serde_json::from_str(&text).map_err(|e| OciError::Bundle(format!("{}: {e}", path.display())))
}

/// The runtime's root, made if missing, readable by its owner only.
fn make_private_dir(root: &Path) -> Result<(), OciError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| OciError::State(format!("{}: {e}", root.display())))
}

/// The container's directory and record, or NoSuchContainer.
fn existing(root: &Path, id: &str) -> Result<(Dir, Record), OciError> {
    let dir = Dir::of(root, id)?;
    if !dir.exists() {
        return Err(OciError::NoSuchContainer(id.to_string()));
    }
    let record = dir.record(id)?;
    Ok((dir, record))
}

fn start(root: &Path, id: &str) -> Result<(), OciError> {
    let (dir, record) = existing(root, id)?;
    let status = dir.status(&record);
    if status != Status::Created {
        return Err(OciError::WrongStatus {
            id: id.to_string(),
            status: status.as_str(),
            why: "only a created container can be started",
        });
    }
    // The container process holds the gate open for reading: opening it
    // for writing never waits (ENXIO if that process is gone).
    let gate = rustix::fs::open(
        dir.exec_fifo(),
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OciError::Init(format!("its start gate: {e}")))?;
    rustix::io::write(&gate, b"s").map_err(|e| OciError::Init(format!("its start gate: {e}")))?;
    std::fs::remove_file(dir.exec_fifo())
        .map_err(|e| OciError::State(format!("{}: {e}", dir.exec_fifo().display())))
}

fn print_state(root: &Path, id: &str) -> Result<(), OciError> {
    let (dir, record) = existing(root, id)?;
    let status = dir.status(&record);
    let json = state::StateJson {
        oci_version: state::OCI_VERSION,
        id,
        status: status.as_str(),
        pid: (status != Status::Stopped).then_some(record.pid),
        bundle: &record.bundle,
        created: &record.created,
        annotations: &record.annotations,
    };
    let text =
        serde_json::to_string_pretty(&json).map_err(|e| OciError::Internal(e.to_string()))?;
    print(&format!("{text}\n"))?;
    Ok(())
}

/// A signal by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(text: &str) -> Result<rustix::process::Signal, OciError> {
    let bad = || OciError::BadSignal(text.to_string());
    let number = match text.parse::<i32>() {
        Ok(n) => n,
        Err(_) => {
            let upper = text.to_ascii_uppercase();
            let name = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            (1..=31)
                .find(|&n| crate::kernel::death::signal_name(n) == name.as_str())
                .ok_or_else(bad)?
        }
    };
    rustix::process::Signal::from_named_raw(number).ok_or_else(bad)
}

fn kill(root: &Path, id: &str, signal: &str) -> Result<(), OciError> {
    let sig = parse_signal(signal)?;
    let (dir, record) = existing(root, id)?;
    let status = dir.status(&record);
    if status == Status::Stopped {
        return Err(OciError::WrongStatus {
            id: id.to_string(),
            status: status.as_str(),
            why: "there is no process to signal",
        });
    }
    let pid = rustix::process::Pid::from_raw(record.pid)
        .ok_or_else(|| OciError::State(format!("pid {}", record.pid)))?;
    rustix::process::kill_process(pid, sig)
        .map_err(|e| OciError::Init(format!("kill {}: {e}", record.pid)))
}

fn delete(root: &Path, id: &str, force: bool) -> Result<(), OciError> {
    let (dir, record) = match existing(root, id) {
        Ok(found) => found,
        // As runc: deleting what is not there is no error when forced; a
        // directory a killed `create` left without its record goes too.
        Err(OciError::NoSuchContainer(_)) if force => {
            let dir = Dir::of(root, id)?;
            if dir.exists() {
                std::fs::remove_dir_all(&dir.path)
                    .map_err(|e| OciError::State(format!("{}: {e}", dir.path.display())))?;
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = dir.status(&record);
    if status != Status::Stopped {
        if !force {
            return Err(OciError::WrongStatus {
                id: id.to_string(),
                status: status.as_str(),
                why: "stop it first, or delete --force",
            });
        }
        if let Some(pid) = rustix::process::Pid::from_raw(record.pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        let start = Instant::now();
        while state::alive(record.pid, record.pid_start) {
            if start.elapsed() > KILL_TIMEOUT {
                return Err(OciError::Init(format!(
                    "pid {} still runs {} s after SIGKILL",
                    record.pid,
                    KILL_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    std::fs::remove_dir_all(&dir.path)
        .map_err(|e| OciError::State(format!("{}: {e}", dir.path.display())))
}

fn ps(root: &Path, id: &str, format: PsFormat) -> Result<(), OciError> {
    let (dir, record) = existing(root, id)?;
    let pids: Vec<i32> = if dir.status(&record) == Status::Stopped {
        Vec::new()
    } else {
        vec![record.pid]
    };
    let text = match format {
        PsFormat::Json => format!(
            "{}\n",
            serde_json::to_string(&pids).map_err(|e| OciError::Internal(e.to_string()))?
        ),
        PsFormat::Table => {
            let mut t = String::from("PID   CMD\n");
            for p in pids {
                t.push_str(&format!("{p:<5} runner (container {id})\n"));
            }
            t
        }
    };
    print(&text)
}

/// Writes a command's output. A reader that stopped reading (`state ID |
/// grep -q created`) is no error; `println!` would panic there.
fn print(text: &str) -> Result<(), OciError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(OciError::State(format!("cannot write the output: {e}"))),
    }
}

/// runtime-spec's features document.
fn features() -> serde_json::Value {
    let mount_types: std::collections::BTreeSet<&str> =
        policy::mount_table().iter().map(|(t, _, _)| *t).collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": [],
        "mountOptions": ["ro", "rw", "noexec", "exec", "bind", "rbind", "nosuid", "nodev"],
        "linux": {
            "namespaces": ["pid", "ipc", "uts", "mount", "network", "user", "cgroup"],
            "capabilities": [],
            "cgroup": { "v1": false, "v2": false, "systemd": false },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ"],
                "archs": ["SCMP_ARCH_X86_64"],
                "knownFlags": super::seccomp::HARMLESS_FLAGS,
                "supportedFlags": super::seccomp::HARMLESS_FLAGS,
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": {
            "dev.thinvisor.mountTypes": mount_types.into_iter().collect::<Vec<_>>().join(","),
        },
    })
}

/// The state directory of container `id` (for `init.rs`).
pub fn dir_of(path: &Path) -> Dir {
    Dir {
        path: PathBuf::from(path),
    }
}
