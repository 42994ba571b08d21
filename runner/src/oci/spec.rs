//! The part of an OCI bundle's `config.json` (runtime-spec 1.x) the
//! runtime reads. Every field a container could depend on is named here,
//! so that `policy.rs` can honour it or refuse it; fields that cannot
//! change what the guest sees (capabilities, cgroup paths, namespaces:
//! the micro-VM is a stronger boundary than each of them) are read only to
//! be listed in the docs.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub oci_version: String,
    pub process: Option<Process>,
    pub root: Option<Root>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    pub hooks: Option<serde_json::Value>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub linux: Option<Linux>,
    pub hostname: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    pub console_size: Option<ConsoleSize>,
    #[serde(default)]
    pub user: User,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub cwd: String,
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
}

/// `process.consoleSize`: the terminal's rows (`height`) and columns.
#[derive(Debug, Deserialize)]
pub struct ConsoleSize {
    pub height: u32,
    pub width: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Deserialize)]
pub struct Root {
    pub path: String,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Deserialize)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    pub resources: Option<Resources>,
    pub seccomp: Option<serde_json::Value>,
    #[serde(default)]
    pub devices: Vec<serde_json::Value>,
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
    pub intel_rdt: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Resources {
    pub memory: Option<Memory>,
    pub cpu: Option<Cpu>,
    pub pids: Option<Pids>,
}

#[derive(Debug, Deserialize)]
pub struct Memory {
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Cpu {
    pub quota: Option<i64>,
    pub period: Option<u64>,
    pub cpus: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Pids {
    pub limit: Option<i64>,
}

/// The largest config.json the runtime reads (a real one is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
