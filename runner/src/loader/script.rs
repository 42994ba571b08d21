//! `#!` scripts: the interpreter line, as Linux's binfmt_script reads it.
//! execve (syscalls/exec.rs) and the program of `runner exec`
//! (run/stages.rs) both run a script's interpreter with the script's path.

/// How many `#!` interpreters may chain (Linux allows 4 more levels).
pub const MAX_SCRIPT_DEPTH: usize = 4;
/// Bytes of a `#!` line Linux looks at.
const SCRIPT_LINE_MAX: usize = 255;

/// The `#!` line's interpreter and optional argument, if `bytes` is a
/// script.
pub fn script_line(bytes: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let rest = bytes.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = &line[..line.len().min(SCRIPT_LINE_MAX)];
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !blank(b))?;
    let line = &line[start..];
    let end = line.iter().position(blank).unwrap_or(line.len());
    let interp = line[..end].to_vec();
    let arg = line[end..]
        .iter()
        .position(|b| !blank(b))
        .map(|s| {
            let a = &line[end + s..];
            let e = a.iter().rposition(|b| !blank(b)).map_or(0, |p| p + 1);
            a[..e].to_vec()
        })
        .filter(|a| !a.is_empty());
    Some((interp, arg))
}

#[cfg(test)]
mod tests {
    use super::script_line;

    #[test]
    fn script_lines_split_as_linux_does() {
        assert_eq!(script_line(b"\x7fELF"), None);
        assert_eq!(
            script_line(b"#!/bin/sh\necho"),
            Some((b"/bin/sh".to_vec(), None))
        );
        assert_eq!(
            script_line(b"#! /usr/bin/env  python3 -u \nx"),
            Some((b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec())))
        );
        assert_eq!(script_line(b"#!\n"), None);
    }
}
