//! Checks that a policy path is absolute and normalized.

use std::path::PathBuf;

/// Returns the path, or what was expected (for "expected ..., found ...").
pub fn check_absolute_normalized(text: &str) -> Result<PathBuf, &'static str> {
    if text.contains('\0') {
        return Err("a path without NUL characters");
    }
    if !text.starts_with('/') {
        return Err("an absolute path (starting with \"/\")");
    }
    if text == "/" {
        return Ok(PathBuf::from(text));
    }
    if text.ends_with('/') {
        return Err("a normalized path (no trailing \"/\")");
    }
    for segment in text[1..].split('/') {
        match segment {
            "" => return Err("a normalized path (no empty \"//\" segment)"),
            "." => return Err("a normalized path (no \".\" segment)"),
            ".." => return Err("a normalized path (no \"..\" segment)"),
            _ => {}
        }
    }
    Ok(PathBuf::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normalized_absolute_paths() {
        for ok in [
            "/",
            "/srv",
            "/srv/data",
            "/srv/data.txt",
            "/a/..b/c.",
            "/a b",
        ] {
            assert_eq!(check_absolute_normalized(ok), Ok(PathBuf::from(ok)), "{ok}");
        }
    }

    #[test]
    fn rejects_the_rest() {
        for bad in [
            "",
            "srv",
            "./srv",
            "/srv/",
            "//srv",
            "/srv//data",
            "/srv/./d",
            "/srv/..",
            "/a\0b",
        ] {
            assert!(check_absolute_normalized(bad).is_err(), "{bad:?}");
        }
    }
}
