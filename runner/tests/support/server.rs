//! A running `runner serve` for the tests that serve runs (serve.rs,
//! serve_client.rs).

use super::{runner, sample};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `runner serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub socket: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, workers: usize) -> Server {
        Server::start_with(dir, workers, &[])
    }

    /// A server started with `extra` arguments too (`--policy FILE`).
    pub fn start_with(dir: &Path, workers: usize, extra: &[&str]) -> Server {
        let socket = dir.join("runner.sock");
        let child = runner()
            .args(["serve", "--workers", &workers.to_string()])
            .args(extra)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn runner serve");
        let until = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < until, "runner serve never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, socket }
    }

    pub fn exec(&self) -> Command {
        let mut c = runner();
        c.arg("exec").arg("--server").arg(&self.socket);
        c
    }

    /// A client running the spinning sample with `args`, its streams
    /// closed, left running.
    pub fn spin(&self, args: &[&std::ffi::OsStr]) -> Child {
        self.exec()
            .args(args)
            .arg(sample("spin"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn client")
    }

    /// The seccomp mode of each of its workers (2: filtered), read from
    /// /proc once `count` workers are up.
    pub fn workers_seccomp(&self, count: usize) -> Vec<String> {
        let pid = self.child.id();
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .expect("the server's children");
            let modes: Vec<String> = children
                .split_whitespace()
                .filter_map(|c| std::fs::read_to_string(format!("/proc/{c}/status")).ok())
                .filter_map(|st| {
                    st.lines()
                        .find_map(|l| l.strip_prefix("Seccomp:").map(|m| m.trim().to_string()))
                })
                .collect();
            if modes.len() >= count && modes.iter().all(|m| m == "2") {
                return modes;
            }
            if Instant::now() > until {
                return modes;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
