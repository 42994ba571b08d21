//! From what runs used (crate::audit::uses) to the least `[[files]]`
//! rules that allow it: one rule per file or directory used, at the
//! least access the use needs, inside the scopes the user granted; a
//! rule an ancestor's rule already covers is dropped, so that every rule
//! left is needed.

use crate::audit::uses::{FileUse, Uses};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One learned `[[files]]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub path: PathBuf,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// Why: the calls that used it.
    pub why: String,
}

impl Rule {
    /// The policy's spelling of its access.
    pub fn access(&self) -> &'static str {
        match (self.write, self.exec) {
            (false, false) => "read",
            (false, true) => "read-exec",
            (true, false) => "read-write",
            (true, true) => "read-write-exec",
        }
    }

    /// Whether `self` allows everything `other` needs.
    fn covers(&self, other: &Rule) -> bool {
        (self.write || !other.write) && (self.exec || !other.exec)
    }
}

/// Calls that only look at a path: a directory they looked at needs no
/// rule of its own when a rule below it makes it appear.
const LOOKS: &[&str] = &[
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "statfs",
    "chdir",
];

/// The rules for `uses` within `scopes`.
pub fn rules(uses: &Uses, scopes: &[PathBuf]) -> Vec<Rule> {
    let within = |p: &Path| scopes.iter().any(|s| p.starts_with(s));
    let mut wanted: BTreeMap<PathBuf, Rule> = BTreeMap::new();
    for (path, u) in &uses.files {
        let path = PathBuf::from(path);
        if !within(&path) {
            continue;
        }
        for (p, r) in rule_for(&path, u) {
            merge(&mut wanted, p, r);
        }
    }
    let paths: Vec<PathBuf> = wanted.keys().cloned().collect();
    // A directory only looked at appears anyway when a rule below it is
    // kept: it needs none of its own then.
    wanted.retain(|p, r| {
        let only_looked = !r.write && !r.exec && r.why.split(", ").all(|c| LOOKS.contains(&c));
        !(only_looked && paths.iter().any(|q| q != p && q.starts_with(&*p)))
    });
    let kept: Vec<Rule> = wanted.values().cloned().collect();
    kept.iter()
        .filter(|r| {
            !kept
                .iter()
                .any(|a| a.path != r.path && r.path.starts_with(&a.path) && a.covers(r))
        })
        .cloned()
        .collect()
}

/// The rule (or rules) use `u` of `path` needs. A symbolic link on the
/// host cannot be a rule's own path (the runner opens a rule's file
/// without following links): its directory gets the rule instead, and
/// the path it names gets one, followed as the runner follows it, in the
/// guest's namespace (a relative target against the link's directory),
/// a hop at a time.
fn rule_for(path: &Path, u: &FileUse) -> Vec<(PathBuf, Rule)> {
    const MAX_HOPS: usize = 8;
    let why = u.calls.iter().cloned().collect::<Vec<_>>().join(", ");
    let rule = |p: &Path| Rule {
        path: p.to_path_buf(),
        read: true,
        write: u.write || u.create_in,
        exec: u.exec,
        why: why.clone(),
    };
    let mut out = Vec::new();
    let mut p = path.to_path_buf();
    for _ in 0..MAX_HOPS {
        let is_link = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            out.push((p.clone(), rule(&p)));
            return out;
        }
        let dir = p.parent().unwrap_or(Path::new("/")).to_path_buf();
        out.push((dir.clone(), rule(&dir)));
        let Ok(target) = std::fs::read_link(&p) else {
            return out;
        };
        match crate::vfs::path::normalize(&dir, target.as_os_str().as_encoded_bytes()) {
            Ok(g) => p = g.path,
            Err(_) => return out,
        }
    }
    out
}

fn merge(wanted: &mut BTreeMap<PathBuf, Rule>, path: PathBuf, r: Rule) {
    match wanted.get_mut(&path) {
        Some(have) => {
            have.write |= r.write;
            have.exec |= r.exec;
            for c in r.why.split(", ") {
                if !have.why.split(", ").any(|h| h == c) {
                    have.why = format!("{}, {c}", have.why);
                }
            }
        }
        None => {
            wanted.insert(path, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::uses::{how, How};

    /// Each rule as (path, access).
    fn shown(r: &[Rule]) -> Vec<(String, &'static str)> {
        r.iter()
            .map(|r| (r.path.display().to_string(), r.access()))
            .collect()
    }

    #[test]
    fn the_least_rules_inside_the_scopes() {
        let mut u = Uses::default();
        u.file("/nonexistent-scope/data/in.txt", "openat", How::Read);
        u.file("/nonexistent-scope/data", "newfstatat", How::Read);
        u.file(
            "/nonexistent-scope/out/r.txt",
            "openat",
            how("openat", 0o1101).unwrap_or(How::Read),
        );
        u.file("/nonexistent-scope/out/r.txt", "newfstatat", How::Read);
        u.file("/nonexistent-scope/bin/tool", "execve", How::Exec);
        u.file("/proc/self/exe", "readlink", How::Read);
        let got = shown(&rules(&u, &[PathBuf::from("/nonexistent-scope")]));
        assert_eq!(
            got,
            vec![
                ("/nonexistent-scope/bin/tool".to_string(), "read-exec"),
                ("/nonexistent-scope/data/in.txt".to_string(), "read"),
                ("/nonexistent-scope/out".to_string(), "read-write"),
            ],
            "the looked-at /data needs no rule; r.txt is under the writable /out; /proc is the runner's"
        );
    }

    #[test]
    fn a_listed_directory_covers_the_files_read_in_it() {
        let mut u = Uses::default();
        u.file("/s/d", "openat", How::Read);
        u.file("/s/d/a", "openat", How::Read);
        u.file("/s/d/b", "openat", How::Write);
        assert_eq!(
            shown(&rules(&u, &[PathBuf::from("/s")])),
            vec![
                ("/s/d".to_string(), "read"),
                ("/s/d/b".to_string(), "read-write"),
            ]
        );
    }
}
