//! The policy file as written: serde structs mirroring the TOML, with spans.
//!
//! Every table denies unknown keys. Leaf values keep their `Spanned` byte
//! range so that `validate` can report lines. Numbers are read as `RawInt`
//! (any TOML integer, i64 or u64 range) and range-checked in `validate`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// The whole document.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub limits: Option<RawLimits>,
    pub stdio: Option<RawStdio>,
    pub env: Option<RawEnv>,
    pub identity: Option<RawIdentity>,
    #[serde(default)]
    pub files: Vec<Spanned<RawFile>>,
    #[serde(default)]
    pub network: Vec<Spanned<RawNet>>,
    pub syscalls: Option<RawSyscalls>,
    #[serde(default)]
    pub tunnel: Vec<Spanned<RawTunnel>>,
}

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub memory: Option<Spanned<RawSize>>,
    pub wall_time: Option<Spanned<RawDuration>>,
    pub cpu_time: Option<Spanned<RawDuration>>,
    pub open_files: Option<Spanned<RawInt>>,
    pub threads: Option<Spanned<RawInt>>,
    pub processes: Option<Spanned<RawInt>>,
    pub cpus: Option<Spanned<RawCpus>>,
    pub bytes_written: Option<Spanned<RawSize>>,
    pub created_entries: Option<Spanned<RawInt>>,
}

/// `[stdio]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStdio {
    pub stdin: Option<bool>,
    pub stdout: Option<bool>,
    pub stderr: Option<bool>,
    pub terminal: Option<bool>,
}

/// `[identity]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    pub uid: Option<Spanned<RawInt>>,
    pub gid: Option<Spanned<RawInt>>,
    pub groups: Option<Vec<Spanned<RawInt>>>,
}

/// `[env]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnv {
    pub vars: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub inherit: Option<bool>,
}

/// One `[[files]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub path: Spanned<String>,
    pub host_path: Option<Spanned<String>>,
    pub access: Spanned<String>,
    pub private: Option<Spanned<bool>>,
}

/// One `[[network]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNet {
    pub address: Spanned<String>,
    pub protocol: Option<Spanned<String>>,
    pub listen: Option<Spanned<bool>>,
}

/// `[syscalls]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSyscalls {
    pub deny: Option<Vec<Spanned<String>>>,
    pub allow: Option<Vec<Spanned<String>>>,
    pub on_deny: Option<Spanned<String>>,
    pub errno: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    #[serde(default)]
    pub args: Vec<Spanned<RawArg>>,
    pub vdso: Option<Spanned<bool>>,
    pub ring: Option<Spanned<RawRing>>,
}

/// `syscalls.ring`: a boolean or a word (`"auto"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawRing {
    Bool(bool),
    Word(String),
}

/// One `[[syscalls.args]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArg {
    pub syscall: Spanned<String>,
    pub arg: Spanned<RawInt>,
    pub values: Option<Spanned<Vec<Spanned<RawInt>>>>,
    pub max: Option<Spanned<RawInt>>,
    pub mask: Option<Spanned<RawInt>>,
}

/// One `[[tunnel]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTunnel {
    pub start: Spanned<RawInt>,
    pub end: Spanned<RawInt>,
    pub access: Spanned<String>,
}

/// Any TOML integer, including hex literals above `i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawInt(pub i128);

impl<'de> Deserialize<'de> for RawInt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = RawInt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawInt, E> {
                Ok(RawInt(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawInt, E> {
                Ok(RawInt(i128::from(v)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawInt, E> {
                Ok(RawInt(v))
            }
        }
        deserializer.deserialize_any(IntVisitor)
    }
}

/// A size: a string such as `"64MiB"`, or an integer number of bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSize {
    Text(String),
    Bytes(i128),
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64MiB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(i128::from(v)))
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// `limits.cpus`: `"all"` or a number of CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawCpus {
    Text(String),
    Count(i128),
}

impl<'de> Deserialize<'de> for RawCpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CpusVisitor;
        impl Visitor<'_> for CpusVisitor {
            type Value = RawCpus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of CPUs, or \"all\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCpus, E> {
                Ok(RawCpus::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawCpus, E> {
                Ok(RawCpus::Count(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawCpus, E> {
                Ok(RawCpus::Count(i128::from(v)))
            }
        }
        deserializer.deserialize_any(CpusVisitor)
    }
}

/// A duration string such as `"5s"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDuration(pub String);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"5s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(v.to_owned()))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}
