//! The `[[files]]` rules: which host files and trees the guest sees, and
//! which rule decides a guest path.

use std::path::{Path, PathBuf};

/// What a `[[files]]` rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileAccess {
    /// Open, read, stat and list; no creation, modification or removal.
    Read,
    /// Everything `Read` allows, plus create, write, truncate, rename, remove.
    ReadWrite,
}

impl FileAccess {
    /// The policy-file spelling: `"read"` or `"read-write"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileAccess::Read => "read",
            FileAccess::ReadWrite => "read-write",
        }
    }
}

/// One `[[files]]` rule: a file or a directory tree shown to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRule {
    /// Absolute, normalized path as the guest sees it.
    pub guest_path: PathBuf,
    /// Absolute, normalized host path backing it (= `guest_path` unless
    /// `host_path` was given).
    pub host_path: PathBuf,
    pub access: FileAccess,
    /// Programs below it may be run with `execve` (`"read-exec"`,
    /// `"read-write-exec"`). The program given on the command line needs no
    /// rule: the operator chose it.
    pub exec: bool,
    /// A private tree (`private = true`): the runner makes a fresh, empty
    /// host directory for it when the run starts and removes it, with
    /// everything in it, when the run ends. Its `host_path` is empty until
    /// the runner sets it ([`FileRules::with_private_dirs`]): a rule left
    /// unset opens nothing.
    pub private: bool,
}

impl FileRule {
    /// The policy-file spelling of this rule's access.
    pub fn access_str(&self) -> &'static str {
        match (self.access, self.exec) {
            (FileAccess::Read, false) => "read",
            (FileAccess::Read, true) => "read-exec",
            (FileAccess::ReadWrite, false) => "read-write",
            (FileAccess::ReadWrite, true) => "read-write-exec",
        }
    }

    /// Whether `guest_path` is this rule's path or lies below it (compared
    /// component by component: `/srv/data` covers `/srv/data/x`, not
    /// `/srv/database`).
    pub fn covers(&self, guest_path: &Path) -> bool {
        guest_path.starts_with(&self.guest_path)
    }

    /// The host path for `guest_path` under this rule, if it covers it.
    pub fn host_path_for(&self, guest_path: &Path) -> Option<PathBuf> {
        let rest = guest_path.strip_prefix(&self.guest_path).ok()?;
        if rest.as_os_str().is_empty() {
            Some(self.host_path.clone())
        } else {
            Some(self.host_path.join(rest))
        }
    }
}

/// The policy's `[[files]]` rules, in file order. No two have the same
/// guest path (validation refuses it). Empty: the guest sees no host file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRules {
    rules: Vec<FileRule>,
}

impl FileRules {
    /// The rules with each private tree's host directory made by `make`
    /// (called once per private rule, with the rule).
    pub fn with_private_dirs<E>(
        &self,
        mut make: impl FnMut(&FileRule) -> Result<PathBuf, E>,
    ) -> Result<FileRules, E> {
        let mut rules = self.rules.clone();
        for rule in rules.iter_mut().filter(|r| r.private) {
            rule.host_path = make(rule)?;
        }
        Ok(FileRules { rules })
    }

    /// Whether a rule is a private tree.
    pub fn has_private(&self) -> bool {
        self.rules.iter().any(|r| r.private)
    }

    /// Holds rules already checked by validation (absolute, normalized,
    /// distinct guest paths).
    pub(crate) fn from_checked(rules: Vec<FileRule>) -> FileRules {
        FileRules { rules }
    }

    /// True when the policy has no `[[files]]` rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The rules in file order (`files[i]` is `as_slice()[i]`).
    pub fn as_slice(&self) -> &[FileRule] {
        &self.rules
    }

    /// The rules in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, FileRule> {
        self.rules.iter()
    }

    /// The rule deciding `guest_path`: the most specific (longest) rule
    /// whose path is `guest_path` or one of its ancestors. `guest_path` must
    /// be absolute and already normalized by the caller.
    pub fn rule_for(&self, guest_path: &Path) -> Option<&FileRule> {
        self.indexed_rule_for(guest_path).map(|(_, rule)| rule)
    }

    /// [`Self::rule_for`] with the rule's index in file order (the index
    /// error messages use: `files[i]`).
    pub fn indexed_rule_for(&self, guest_path: &Path) -> Option<(usize, &FileRule)> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.covers(guest_path))
            .max_by_key(|(_, rule)| rule.guest_path.components().count())
    }

    /// Whether a `"read"` rule's guest path lies strictly below
    /// `guest_path` (such a subtree stays read-only inside a read-write
    /// rule at `guest_path`).
    pub fn read_rule_below(&self, guest_path: &Path) -> bool {
        self.rules.iter().any(|other| {
            other.access == FileAccess::Read
                && other.guest_path != guest_path
                && other.guest_path.starts_with(guest_path)
        })
    }
}

impl<'a> IntoIterator for &'a FileRules {
    type Item = &'a FileRule;
    type IntoIter = std::slice::Iter<'a, FileRule>;

    fn into_iter(self) -> Self::IntoIter {
        self.rules.iter()
    }
}
