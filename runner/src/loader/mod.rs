//! Program loading: turns a file into an [`Image`] (segments, entry point)
//! that the guest builder maps. Every malformed input is a [`LoadError`]
//! (exit status 126), never a panic.

pub mod elf;
pub mod flat;
pub mod interpreter;
pub mod script;
pub mod start;

use crate::guest::page_table::Prot;
use std::path::Path;

/// One region to map: `data` at `vaddr`, zero-filled up to `mem_size`.
#[derive(Debug, Clone)]
pub struct Segment {
    pub vaddr: u64,
    pub data: Vec<u8>,
    pub mem_size: u64,
    pub prot: Prot,
}

/// A loaded program, ready to map.
#[derive(Debug, Clone)]
pub struct Image {
    pub segments: Vec<Segment>,
    pub entry: u64,
    /// Where `brk` starts (page-aligned end of the highest segment).
    pub brk_start: u64,
    /// Extra auxv entries (AT_PHDR, ...) the format provides.
    pub auxv: Vec<(u64, u64)>,
    /// A dynamically linked program's PT_INTERP path: the interpreter
    /// must be loaded ([`interpreter::attach`]) before the program starts.
    pub interp: Option<Vec<u8>>,
    /// The interpreter, once loaded: its segments are among `segments`.
    pub interpreter: Option<Interpreter>,
}

/// Where a program's interpreter was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interpreter {
    /// AT_BASE: where its lowest segment lies.
    pub base: u64,
    /// Its entry point: the program's first instruction.
    pub entry: u64,
}

impl Image {
    /// The first instruction the program runs: the interpreter's entry
    /// when it has one, else its own (`entry` is AT_ENTRY either way).
    pub fn start_address(&self) -> u64 {
        self.interpreter.map_or(self.entry, |i| i.entry)
    }
}

/// Which loader to use.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum Format {
    /// ELF when the file starts with the ELF magic, else flat.
    Auto,
    /// Raw bytes loaded at 0x400000, entered at the first byte.
    Flat,
    /// An x86-64 ELF executable (static, or dynamically linked with its
    /// interpreter in the policy's files).
    Elf,
}

/// Why a program could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: no such file")]
    NotFound { path: String },
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl LoadError {
    /// The documented exit status: 127 when the file does not exist, else 126.
    pub fn exit_status(&self) -> i32 {
        match self {
            LoadError::NotFound { .. } => 127,
            _ => crate::exit_status::CANNOT_LOAD,
        }
    }
}

/// Loads `path` with the chosen format. `max_size` bounds the file size.
pub fn load(path: &Path, format: Format, max_size: u64) -> Result<Image, LoadError> {
    let bytes = read_host(path, max_size)?;
    from_bytes(&path.display().to_string(), bytes, format, max_size)
}

/// The bytes of the host file `path`, at most `max_size` of them (a
/// larger file is refused).
pub fn read_host(path: &Path, max_size: u64) -> Result<Vec<u8>, LoadError> {
    read_opened(open_host(path)?, path, max_size)
}

/// Opens the host program `path` for reading (a `runner exec --server`
/// client does, and sends the descriptor): missing, or not a regular
/// file, is refused here as [`read_host`] refuses it.
pub fn open_host(path: &Path) -> Result<std::fs::File, LoadError> {
    let name = path.display().to_string();
    let read_error = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound { path: name.clone() },
        _ => LoadError::Read {
            path: name.clone(),
            source: e,
        },
    };
    // Looked at before it is opened: opening a FIFO would wait for a
    // writer. (`read_opened` looks again, at what was opened.)
    if !std::fs::metadata(path).map_err(read_error)?.is_file() {
        return Err(LoadError::Invalid {
            path: name,
            reason: "not a regular file".into(),
        });
    }
    std::fs::File::open(path).map_err(read_error)
}

/// The bytes of the program `file` opened (named `path` in errors), at
/// most `max_size` of them.
pub fn read_opened(
    mut file: std::fs::File,
    path: &Path,
    max_size: u64,
) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let name = path.display().to_string();
    let read_error = |e: std::io::Error| LoadError::Read {
        path: name.clone(),
        source: e,
    };
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(LoadError::Invalid {
            path: name,
            reason: "not a regular file".into(),
        });
    }
    if meta.len() > max_size {
        return Err(LoadError::Invalid {
            path: name,
            reason: format!(
                "file of {} bytes exceeds the guest memory limit of {max_size} bytes",
                meta.len()
            ),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Never more than the limit, even if the file grows meanwhile.
    (&mut file)
        .take(max_size + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > max_size {
        return Err(LoadError::Invalid {
            path: name,
            reason: format!("file grew past the guest memory limit of {max_size} bytes"),
        });
    }
    Ok(bytes)
}

/// Builds the image of a program already in memory (`name` is used in
/// errors; `max_size` is the guest memory limit, which an ELF's segments
/// must fit). This is the parsing half of [`load`], without the file system.
pub fn from_bytes(
    name: &str,
    bytes: Vec<u8>,
    format: Format,
    max_size: u64,
) -> Result<Image, LoadError> {
    let is_elf = bytes.starts_with(b"\x7fELF");
    if format == Format::Auto && bytes.starts_with(b"#!") {
        // A script is no image: its interpreter runs instead (runner exec
        // and execve do that: run/stages.rs, syscalls/exec.rs). Loading it
        // as flat code would only crash at its first byte.
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let shown = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
        return Err(LoadError::Invalid {
            path: name.to_owned(),
            reason: format!(
                "a script ({shown}): not a program image; its interpreter runs it (runner exec does, when the sandbox's files show the interpreter and the script)"
            ),
        });
    }
    match (format, is_elf) {
        (Format::Flat, _) | (Format::Auto, false) => flat::load(name, bytes),
        (Format::Elf, _) | (Format::Auto, true) => elf::load(name, &bytes, max_size),
    }
}
