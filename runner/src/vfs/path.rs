//! Lexical normalization of guest paths.
//!
//! A guest path is resolved against the guest's cwd (or a directory fd's
//! guest path) *lexically*: empty and `.` components are dropped and `..`
//! removes the previous component (never going above `/`). No host call is
//! made, so `..` can never climb out of a rule's tree on the host: by the
//! time a path reaches the host it has no `..` left. A symlink target that
//! climbs out of its rule is followed in the guest's namespace
//! (`links.rs`), normalized here too.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::abi::constants::{NAME_MAX, PATH_MAX};

/// Why a guest path was refused before resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `""` (ENOENT, unless the syscall takes AT_EMPTY_PATH).
    #[error("empty path")]
    Empty,
    /// Longer than PATH_MAX or a component longer than NAME_MAX (ENAMETOOLONG).
    #[error("path too long")]
    TooLong,
}

/// A guest path after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPath {
    /// Absolute, with no `.`, `..` or empty components (`/` for the root).
    pub path: PathBuf,
    /// The path as written ends in `/`, `/.` or `/..`, so it must name a
    /// directory.
    pub must_be_dir: bool,
}

/// Normalizes `raw` (as the guest wrote it) against `base` (an absolute,
/// normalized guest directory; ignored when `raw` is absolute).
pub fn normalize(base: &Path, raw: &[u8]) -> Result<GuestPath, PathError> {
    if raw.is_empty() {
        return Err(PathError::Empty);
    }
    if raw.len() >= PATH_MAX {
        return Err(PathError::TooLong);
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    if raw[0] != b'/' {
        for c in base.components() {
            if let Component::Normal(n) = c {
                parts.push(n.as_bytes());
            }
        }
    }
    let mut last: &[u8] = b"";
    for comp in raw.split(|&b| b == b'/') {
        last = comp;
        match comp {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            name => {
                if name.len() > NAME_MAX {
                    return Err(PathError::TooLong);
                }
                parts.push(name);
            }
        }
    }
    let must_be_dir = matches!(last, b"" | b"." | b"..");
    let mut path = PathBuf::from("/");
    for p in parts {
        path.push(OsStr::from_bytes(p));
    }
    if path.as_os_str().len() >= PATH_MAX {
        return Err(PathError::TooLong);
    }
    Ok(GuestPath { path, must_be_dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(base: &str, raw: &str) -> (String, bool) {
        let g = normalize(Path::new(base), raw.as_bytes()).expect("valid");
        (g.path.to_string_lossy().into_owned(), g.must_be_dir)
    }

    #[test]
    fn lexical_normalization() {
        assert_eq!(n("/", "/srv/data/x"), ("/srv/data/x".into(), false));
        assert_eq!(n("/srv", "data//./x"), ("/srv/data/x".into(), false));
        assert_eq!(
            n("/srv/data", "../../../etc/passwd"),
            ("/etc/passwd".into(), false)
        );
        assert_eq!(n("/srv/data", ".."), ("/srv".into(), true));
        assert_eq!(n("/", ".."), ("/".into(), true));
        assert_eq!(n("/a", "b/"), ("/a/b".into(), true));
        assert_eq!(n("/a", "."), ("/a".into(), true));
        assert_eq!(n("/a", "/"), ("/".into(), true));
    }

    #[test]
    fn refusals() {
        assert_eq!(normalize(Path::new("/"), b""), Err(PathError::Empty));
        let long = vec![b'a'; 256];
        assert_eq!(normalize(Path::new("/"), &long), Err(PathError::TooLong));
        let huge = vec![b'/'; PATH_MAX];
        assert_eq!(normalize(Path::new("/"), &huge), Err(PathError::TooLong));
    }
}
