//! File syscalls under a policy, on real KVM: the `fsop` and `fileio`
//! guests (samples/guest/) against host trees built per test. Exit statuses
//! of `fsop` are errnos. Every test checks afterwards that nothing outside
//! the policy's read-write trees changed on the host, and that the guest
//! paths (`/tv-*`) were never created on the host.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use support::*;

const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const EXDEV: i32 = 18;
const ENOTDIR: i32 = 20;
const EISDIR: i32 = 21;
const EINVAL: i32 = 22;
const EMFILE: i32 = 24;
const EFBIG: i32 = 27;
const EACCES: i32 = 13;
const EBUSY: i32 = 16;
const ELOOP: i32 = 40;

/// Guest paths used by the tests; none may ever appear on the host.
const GUEST_ROOTS: &[&str] = &[
    "/tv-data", "/tv-out", "/tv-out2", "/tv-proc", "/tv-cfg", "/tv-a", "/tv-keep", "/tv-dev",
];

/// A host tree for one test:
/// ```text
/// DIR/secret.txt            outside every rule
/// DIR/ro/                   /tv-data (read)
///        hello.txt          "hello\n"
///        sub/deep.txt       "deep\n"
///        in -> hello.txt    relative link inside
///        dangle -> nothere  dangling link inside
///        abs -> DIR/secret.txt   absolute link outside
///        guestabs -> /tv-data/hello.txt   absolute (guest) path
///        rel -> ../secret.txt    relative link outside
///        up -> ..           directory link outside
/// DIR/out/                  /tv-out (read-write), empty
/// ```
struct Fixture {
    dir: PathBuf,
    policy: PathBuf,
    /// Host directories the guest may change.
    writable: Vec<PathBuf>,
}

impl Fixture {
    fn new(tag: &str, extra_policy: &str) -> Fixture {
        let dir = temp_dir(tag);
        let ro = dir.join("ro");
        std::fs::create_dir_all(ro.join("sub")).expect("mkdir");
        std::fs::create_dir_all(dir.join("out")).expect("mkdir");
        std::fs::write(dir.join("secret.txt"), "secret\n").expect("write");
        std::fs::write(ro.join("hello.txt"), "hello\n").expect("write");
        std::fs::write(ro.join("sub/deep.txt"), "deep\n").expect("write");
        symlink("hello.txt", ro.join("in")).expect("symlink");
        symlink("nothere", ro.join("dangle")).expect("symlink");
        symlink(dir.join("secret.txt"), ro.join("abs")).expect("symlink");
        symlink("/tv-data/hello.txt", ro.join("guestabs")).expect("symlink");
        symlink("../secret.txt", ro.join("rel")).expect("symlink");
        symlink("..", ro.join("up")).expect("symlink");
        let policy = dir.join("policy.toml");
        let text = format!(
            "[[files]]\npath = \"/tv-data\"\nhost_path = \"{ro}\"\naccess = \"read\"\n\n\
             [[files]]\npath = \"/tv-out\"\nhost_path = \"{out}\"\naccess = \"read-write\"\n\n{extra}",
            ro = ro.display(),
            out = dir.join("out").display(),
            extra = extra_policy.replace("DIR", &dir.display().to_string()),
        );
        std::fs::write(&policy, text).expect("policy");
        for g in GUEST_ROOTS {
            assert!(
                !Path::new(g).exists(),
                "{g} exists on the host: pick other guest paths"
            );
        }
        Fixture {
            writable: vec![dir.join("out")],
            dir,
            policy,
        }
    }

    fn run(&self, sample: &str, args: &[&str]) -> Run {
        exec_sample(
            &["--policy", self.policy.to_str().expect("utf-8")],
            sample,
            args,
        )
    }

    fn fsop(&self, args: &[&str]) -> Run {
        self.run("fsop", args)
    }

    /// Runs `fsop` and checks the exit status (an errno, or 0).
    fn expect(&self, args: &[&str], status: i32) -> Run {
        let r = self.fsop(args);
        assert_eq!(
            r.status, status,
            "fsop {args:?}: stdout {:?} stderr {:?}",
            r.stdout, r.stderr
        );
        r
    }

    fn host(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Everything under the fixture outside the writable trees.
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        walk(&self.dir, &self.writable, &mut out);
        out
    }
}

fn walk(p: &Path, skip: &[PathBuf], out: &mut BTreeMap<PathBuf, String>) {
    if skip.iter().any(|s| s == p) {
        return;
    }
    let meta = std::fs::symlink_metadata(p).expect("lstat");
    let what = if meta.file_type().is_symlink() {
        format!("link {:?}", std::fs::read_link(p).expect("readlink"))
    } else if meta.file_type().is_fifo() {
        // Never opened: a read would wait for a writer.
        format!("fifo {:o}", meta.mode())
    } else if meta.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(p)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        names.sort();
        for n in &names {
            walk(n, skip, out);
        }
        format!("dir {:o} {}", meta.mode(), names.len())
    } else {
        format!(
            "file {:o} {:?} {}",
            meta.mode(),
            std::fs::read(p).expect("read"),
            meta.mtime_nsec()
        )
    };
    out.insert(p.to_path_buf(), what);
}

/// Runs `body`, then checks that nothing outside the writable trees
/// changed and no guest path appeared on the host.
fn unchanged_outside(f: &Fixture, body: impl FnOnce()) {
    let before = f.snapshot();
    body();
    assert_eq!(
        before,
        f.snapshot(),
        "the host changed outside the policy's read-write trees"
    );
    for g in GUEST_ROOTS {
        assert!(!Path::new(g).exists(), "{g} was created on the host");
    }
}

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(String::from).collect();
    v.sort();
    v
}

fn mode_size(p: &Path) -> String {
    let m = std::fs::metadata(p).expect("stat");
    format!("mode={:016x} size={:016x}\n", m.mode(), m.len())
}

#[test]
fn reads_inside_a_read_tree() {
    let f = Fixture::new("files-read", "");
    unchanged_outside(&f, || {
        assert_eq!(f.expect(&["r", "/tv-data/hello.txt"], 0).stdout, "hello\n");
        assert_eq!(
            f.expect(&["r", "/tv-data/sub/deep.txt"], 0).stdout,
            "deep\n"
        );
        assert_eq!(f.expect(&["r", "/tv-data/in"], 0).stdout, "hello\n");
        assert_eq!(
            f.expect(&["r", "/tv-data/sub/../hello.txt"], 0).stdout,
            "hello\n"
        );
        assert_eq!(
            f.expect(&["r", "//tv-data/./sub//deep.txt"], 0).stdout,
            "deep\n"
        );
        // A relative path after chdir, and getcwd.
        assert_eq!(
            f.expect(&["c", "/tv-data/sub", "deep.txt"], 0).stdout,
            "/tv-data/sub\ndeep\n"
        );
        assert_eq!(
            f.expect(&["c", "/tv-data/sub/", "../hello.txt"], 0).stdout,
            "/tv-data/sub\nhello\n"
        );
        assert_eq!(f.expect(&["c", "/tv-data/hello.txt"], ENOTDIR).stdout, "");
        // Directories are not files.
        f.expect(&["r", "/tv-data/sub"], EISDIR);
        f.expect(&["r", "/tv-data/hello.txt/"], ENOTDIR);
        f.expect(&["F", "/tv-data/hello.txt"], 0);
        f.expect(&["F", "/tv-data/nothere"], ENOENT);
        f.expect(&["A", "/tv-data/hello.txt"], EACCES);
        f.expect(&["A", "/tv-data/sub"], 0);
        f.expect(&["o", "/tv-data/hello.txt"], 0);
        f.expect(&["o", "/tv-data/in"], ELOOP);
    });
}

#[test]
fn stat_reports_real_metadata() {
    let f = Fixture::new("files-stat", "");
    unchanged_outside(&f, || {
        let hello = f.host("ro/hello.txt");
        for op in ["s", "X", "f"] {
            assert_eq!(
                f.expect(&[op, "/tv-data/hello.txt"], 0).stdout,
                mode_size(&hello),
                "{op}"
            );
        }
        // stat follows the inside link; lstat shows the link itself.
        assert_eq!(f.expect(&["s", "/tv-data/in"], 0).stdout, mode_size(&hello));
        let link = std::fs::symlink_metadata(f.host("ro/abs")).expect("lstat");
        assert_eq!(
            f.expect(&["l", "/tv-data/abs"], 0).stdout,
            format!("mode={:016x} size={:016x}\n", link.mode(), link.len())
        );
        assert_eq!(
            f.expect(&["s", "/tv-data/sub"], 0).stdout,
            mode_size(&f.host("ro/sub"))
        );
        // Synthesized ancestors: read-only directories.
        let dir = "mode=000000000000416d size=0000000000000000\n";
        assert_eq!(f.expect(&["s", "/"], 0).stdout, dir);
        assert_eq!(f.expect(&["X", "/"], 0).stdout, dir);
        f.expect(&["s", "/tv-nothing"], ENOENT);
    });
}

#[test]
fn writes_and_creates_in_a_read_write_tree() {
    let f = Fixture::new("files-write", "");
    unchanged_outside(&f, || {
        f.expect(&["w", "/tv-out/new.txt", "abc"], 0);
        assert_eq!(
            std::fs::read_to_string(f.host("out/new.txt")).expect("read"),
            "abc"
        );
        f.expect(&["a", "/tv-out/new.txt", "def"], 0);
        assert_eq!(
            std::fs::read_to_string(f.host("out/new.txt")).expect("read"),
            "abcdef"
        );
        f.expect(&["x", "/tv-out/new.txt"], EEXIST);
        f.expect(&["t", "/tv-out/new.txt", "2"], 0);
        assert_eq!(
            std::fs::read_to_string(f.host("out/new.txt")).expect("read"),
            "ab"
        );
        f.expect(&["W", "/tv-out/new.txt"], 0);
        f.expect(&["w", "/tv-out/nodir/x.txt", "abc"], ENOENT);
        // Created files get no set-id bits and the runner's umask.
        let mode = std::fs::metadata(f.host("out/new.txt"))
            .expect("stat")
            .mode();
        assert_eq!(mode & 0o7000, 0);
    });
}

#[test]
fn refuses_modifications_in_a_read_tree() {
    let f = Fixture::new("files-refuse", "");
    unchanged_outside(&f, || {
        f.expect(&["w", "/tv-data/hello.txt", "X"], EACCES);
        f.expect(&["w", "/tv-data/new.txt", "X"], EACCES);
        f.expect(&["a", "/tv-data/hello.txt", "X"], EACCES);
        f.expect(&["x", "/tv-data/new.txt"], EACCES);
        f.expect(&["m", "/tv-data/newdir"], EACCES);
        f.expect(&["m", "/tv-data/sub"], EEXIST);
        f.expect(&["u", "/tv-data/hello.txt"], EACCES);
        f.expect(&["u", "/tv-data/nothere"], ENOENT);
        f.expect(&["d", "/tv-data/sub"], EACCES);
        f.expect(&["n", "/tv-data/hello.txt", "/tv-data/h2.txt"], EACCES);
        f.expect(&["n", "/tv-data/hello.txt", "/tv-out/h2.txt"], EACCES);
        f.expect(&["t", "/tv-data/hello.txt", "0"], EACCES);
        f.expect(&["W", "/tv-data/hello.txt"], EACCES);
        // Synthesized directories cannot be changed either.
        f.expect(&["m", "/tv-data"], EEXIST);
        f.expect(&["d", "/tv-data"], EBUSY);
        f.expect(&["d", "/"], EBUSY);
        f.expect(&["W", "/"], EACCES);
    });
    assert_eq!(std::fs::read_dir(f.host("out")).expect("out").count(), 0);
}

#[test]
fn paths_outside_every_rule_do_not_exist() {
    let f = Fixture::new("files-outside", "");
    let secret = f.host("secret.txt");
    let secret = secret.to_str().expect("utf-8");
    unchanged_outside(&f, || {
        f.expect(&["r", "/etc/passwd"], ENOENT);
        f.expect(&["r", secret], ENOENT);
        f.expect(&["s", "/etc"], ENOENT);
        f.expect(&["g", "/etc"], ENOENT);
        f.expect(&["w", "/etc/thinvisor-test", "x"], ENOENT);
        f.expect(&["m", "/tv-newdir"], ENOENT);
        f.expect(&["c", "/usr"], ENOENT);
        // The synthesized /proc has no cwd link (its exe names the
        // program as started: runner/tests/dynamic.rs).
        f.expect(&["k", "/proc/self/cwd"], ENOENT);
    });
    assert!(!Path::new("/etc/thinvisor-test").exists());
}

#[test]
fn dotdot_cannot_escape_a_tree() {
    let f = Fixture::new("files-dotdot", "");
    unchanged_outside(&f, || {
        // On the host, ro/../secret.txt exists; for the guest `..` is
        // lexical, so these name /secret.txt, which does not exist.
        f.expect(&["r", "/tv-data/../secret.txt"], ENOENT);
        f.expect(&["r", "/tv-data/sub/../../secret.txt"], ENOENT);
        f.expect(&["r", "/tv-data/../../../../secret.txt"], ENOENT);
        let r = f.expect(&["c", "/tv-data/sub", "../../secret.txt"], ENOENT);
        assert_eq!(r.stdout, "/tv-data/sub\n");
        // A directory symlink to `..` leaving the tree is followed in the
        // guest's namespace: /tv-data/.. is the guest's `/`, where no
        // secret.txt exists.
        f.expect(&["r", "/tv-data/up/secret.txt"], ENOENT);
        let root = f.expect(&["g", "/tv-data/up"], 0).stdout;
        assert!(lines(&root).contains(&"tv-data".to_string()), "{root}");
    });
}

#[test]
fn symlinks_leaving_a_tree_are_followed_in_the_guests_namespace() {
    let f = Fixture::new("files-symlinks", "");
    unchanged_outside(&f, || {
        // An absolute target is a guest path: a host path means nothing
        // to the guest, a guest path of a rule is that rule's file.
        f.expect(&["r", "/tv-data/abs"], ENOENT);
        f.expect(&["s", "/tv-data/abs"], ENOENT);
        assert_eq!(f.expect(&["r", "/tv-data/guestabs"], 0).stdout, "hello\n");
        // A relative link out of the tree: ../secret.txt from /tv-data is
        // the guest's /secret.txt, which no rule shows.
        f.expect(&["r", "/tv-data/rel"], ENOENT);
        f.expect(&["W", "/tv-data/rel"], ENOENT);
        // readlink shows every link's text, the data of the granted tree.
        let abs = f.dir.join("secret.txt").display().to_string();
        assert_eq!(
            f.expect(&["k", "/tv-data/abs"], 0).stdout,
            format!("{abs}\n")
        );
        assert_eq!(
            f.expect(&["k", "/tv-data/guestabs"], 0).stdout,
            "/tv-data/hello.txt\n"
        );
        assert_eq!(
            f.expect(&["k", "/tv-data/rel"], 0).stdout,
            "../secret.txt\n"
        );
        // Links inside work, dangling ones too (readlink).
        assert_eq!(f.expect(&["k", "/tv-data/in"], 0).stdout, "hello.txt\n");
        assert_eq!(f.expect(&["k", "/tv-data/dangle"], 0).stdout, "nothere\n");
        f.expect(&["r", "/tv-data/dangle"], ENOENT);
        f.expect(&["k", "/tv-data/hello.txt"], EINVAL);
        f.expect(&["l", "/tv-data/abs"], 0);
    });
}

/// Links chained across rules, and a loop: followed up to Linux's 40.
#[test]
fn symlink_chains_and_loops_resolve_as_on_linux() {
    let f = Fixture::new("files-chains", "");
    symlink("/tv-data/in", f.host("out/to-in")).expect("symlink");
    symlink("/tv-out/loop", f.host("out/loop")).expect("symlink");
    symlink("/tv-data/sub", f.host("out/sub")).expect("symlink");
    let mut f = f;
    f.writable = vec![f.host("out")];
    unchanged_outside(&f, || {
        // /tv-out/to-in -> /tv-data/in -> hello.txt
        assert_eq!(f.expect(&["r", "/tv-out/to-in"], 0).stdout, "hello\n");
        // A directory link in the middle of a path, into a read tree: the
        // read rule decides.
        assert_eq!(f.expect(&["r", "/tv-out/sub/deep.txt"], 0).stdout, "deep\n");
        f.expect(&["w", "/tv-out/sub/new.txt", "x"], EACCES);
        f.expect(&["r", "/tv-out/loop"], ELOOP);
    });
}

#[test]
fn proc_magic_links_are_refused() {
    let f = Fixture::new(
        "files-magic",
        "[[files]]\npath = \"/tv-proc\"\nhost_path = \"/proc\"\naccess = \"read\"\n",
    );
    unchanged_outside(&f, || {
        f.expect(&["r", "/tv-proc/self/root/etc/hostname"], ELOOP);
        f.expect(&["r", "/tv-proc/self/cwd/secret.txt"], ELOOP);
        f.expect(&["r", "/tv-proc/self/fd/0"], ELOOP);
        f.expect(&["g", "/tv-proc/self/root"], ELOOP);
        f.expect(&["s", "/tv-proc/self/exe"], ELOOP);
        // readlink would print a host path: refused.
        f.expect(&["k", "/tv-proc/self/exe"], EACCES);
        f.expect(&["k", "/tv-proc/self/cwd"], EACCES);
        // /proc/self itself is an ordinary relative link and works.
        f.expect(&["s", "/tv-proc/self/status"], 0);
    });
}

/// Device nodes and sockets in a granted tree are never opened (EACCES, as
/// on a nodev mount): a tree may be a system image, and a runner run as
/// root would read a disk through one. stat still shows them. The guest's
/// own /dev/null and /dev/zero are the runner's, whatever a rule shows at
/// /dev. (Named pipes: `host_named_pipes_are_never_opened_on_the_host`.)
#[test]
fn device_nodes_in_a_granted_tree_are_never_opened() {
    let f = Fixture::new(
        "files-nodev",
        "[[files]]\npath = \"/tv-dev\"\nhost_path = \"/dev\"\naccess = \"read\"\n\n\
         [[files]]\npath = \"/dev\"\nhost_path = \"/dev\"\naccess = \"read\"\n",
    );
    unchanged_outside(&f, || {
        f.expect(&["r", "/tv-dev/null"], EACCES);
        f.expect(&["r", "/tv-dev/zero"], EACCES);
        f.expect(&["s", "/tv-dev/null"], 0);
        // The runner's own devices, at their usual paths.
        f.expect(&["r", "/dev/null"], 0);
    });
}

/// A policy granting busybox (to run `sh -c` with its applets) and `extra`.
fn busybox_policy(dir: &Path, extra: &str) -> String {
    let real = std::fs::canonicalize("/bin/busybox").expect("/bin/busybox (busybox-static)");
    policy_file(
        dir,
        "policy.toml",
        &format!(
            "[[files]]\npath = \"/bin/busybox\"\naccess = \"read-exec\"\n\n\
             [[files]]\npath = \"{}\"\naccess = \"read-exec\"\n\n{extra}",
            real.display()
        ),
    )
}

/// A host named pipe in a granted tree is never opened by the runner: a
/// guest reader waits for a writer of the sandbox (the host sees no
/// reader: its nonblocking writer gets ENXIO) until the time limit ends
/// the run; a guest writer under a read rule is refused (EACCES).
#[test]
fn host_named_pipes_are_never_opened_on_the_host() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = temp_dir("files-host-fifo");
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).expect("mkdir");
    let fifo = tree.join("fifo");
    mkfifo(&fifo);
    let policy = busybox_policy(
        &dir,
        &format!(
            "[[files]]\npath = \"/tv\"\nhost_path = \"{}\"\naccess = \"read\"\n",
            tree.display()
        ),
    );
    let reader = runner()
        .args(["exec", "--timeout", "2", "--policy", &policy])
        .args(["/bin/busybox", "cat", "/tv/fifo"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runner");
    // The guest waits in its open; the host FIFO has no reader meanwhile.
    for _ in 0..10 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let host_writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(&fifo);
        assert_eq!(
            host_writer.err().and_then(|e| e.raw_os_error()),
            Some(6),
            "ENXIO: the runner never opened the host FIFO"
        );
    }
    let out = reader.wait_with_output().expect("runner");
    assert_eq!(out.status.code(), Some(137), "the time limit ends the wait");
    assert!(out.stdout.is_empty());
    let mut cmd = runner();
    cmd.args(["exec", "--policy", &policy])
        .args(["/bin/busybox", "sh", "-c", "echo x > /tv/fifo"]);
    let r = run_command(cmd, b"");
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("Permission denied"), "{}", r.stderr);
}

/// O_NONBLOCK of open(2) on Linux x86-64.
const O_NONBLOCK: i32 = 0o4000;

/// The guest makes named pipes only in a private tree (made for the run,
/// removed at its end), as symbolic links: in a read-write tree the host
/// keeps, mkfifo is EPERM and nothing is made (a FIFO left there would
/// make a host program that opens it later wait forever). Those it makes
/// count in `limits.created_entries`: a flood stops with EDQUOT at the
/// limit.
#[test]
fn mkfifo_only_in_private_trees_and_a_flood_stops_at_created_entries() {
    let dir = temp_dir("files-fifo-flood");
    let kept = dir.join("kept");
    std::fs::create_dir_all(&kept).expect("mkdir");
    let policy = busybox_policy(
        &dir,
        &format!(
            "[[files]]\npath = \"/kept\"\nhost_path = \"{}\"\naccess = \"read-write\"\n\n\
             [[files]]\npath = \"/tv\"\naccess = \"read-write\"\nprivate = true\n\n\
             [limits]\ncreated_entries = 3\n",
            kept.display()
        ),
    );
    let mut cmd = runner();
    cmd.args(["exec", "--policy", &policy]).args([
        "/bin/busybox",
        "sh",
        "-c",
        "/bin/busybox mkfifo /kept/p; echo kept: $?; \
         for i in 1 2 3 4 5; do /bin/busybox mkfifo /tv/f$i || { echo stopped at $i; break; }; done; \
         /bin/busybox ls -l /tv | /bin/busybox grep -c '^p'",
    ]);
    let r = run_command(cmd, b"");
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "kept: 1\nstopped at 4\n3\n"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Operation not permitted"), "{}", r.stderr);
    assert!(r.stderr.contains("Disk quota exceeded"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_dir(&kept).expect("kept").count(),
        0,
        "nothing made in the kept tree"
    );
}

#[test]
fn getdents_lists_trees_and_synthesized_ancestors() {
    let f = Fixture::new(
        "files-list",
        "[[files]]\npath = \"/tv-a/b/c\"\nhost_path = \"DIR/ro/sub\"\naccess = \"read\"\n",
    );
    unchanged_outside(&f, || {
        let mut want: Vec<String> = [
            ".",
            "..",
            "hello.txt",
            "sub",
            "in",
            "dangle",
            "abs",
            "guestabs",
            "rel",
            "up",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        want.sort();
        assert_eq!(lines(&f.expect(&["g", "/tv-data"], 0).stdout), want);
        // Small buffers: one or two entries per call, rewinding the host
        // directory between calls.
        assert_eq!(lines(&f.expect(&["g", "/tv-data", "32"], 0).stdout), want);
        assert_eq!(lines(&f.expect(&["g", "/tv-data", "64"], 0).stdout), want);
        // A buffer too small for one entry.
        f.expect(&["g", "/tv-data", "16"], EINVAL);
        // `/` also holds the synthesized /dev and /proc.
        assert_eq!(
            lines(&f.expect(&["g", "/"], 0).stdout),
            [".", "..", "dev", "proc", "tv-a", "tv-data", "tv-out"]
        );
        assert_eq!(
            lines(&f.expect(&["g", "/tv-a"], 0).stdout),
            [".", "..", "b"]
        );
        assert_eq!(
            lines(&f.expect(&["g", "/tv-a/b"], 0).stdout),
            [".", "..", "c"]
        );
        assert_eq!(
            lines(&f.expect(&["g", "/tv-a/b/c"], 0).stdout),
            [".", "..", "deep.txt"]
        );
        assert_eq!(f.expect(&["r", "/tv-a/b/c/deep.txt"], 0).stdout, "deep\n");
        assert_eq!(
            f.expect(&["c", "/tv-a/b", "c/deep.txt"], 0).stdout,
            "/tv-a/b\ndeep\n"
        );
        f.expect(&["g", "/tv-data/hello.txt"], ENOTDIR);
    });
}

#[test]
fn rename_unlink_mkdir_in_a_read_write_tree() {
    let f = Fixture::new(
        "files-modify",
        "[[files]]\npath = \"/tv-out2\"\nhost_path = \"DIR/out2\"\naccess = \"read-write\"\n",
    );
    std::fs::create_dir_all(f.host("out2")).expect("mkdir");
    let mut f = f;
    f.writable.push(f.host("out2"));
    unchanged_outside(&f, || {
        f.expect(&["m", "/tv-out/d"], 0);
        assert!(f.host("out/d").is_dir());
        f.expect(&["m", "/tv-out/d"], EEXIST);
        f.expect(&["w", "/tv-out/a.txt", "hi"], 0);
        f.expect(&["n", "/tv-out/a.txt", "/tv-out/d/b.txt"], 0);
        assert!(!f.host("out/a.txt").exists());
        assert_eq!(
            std::fs::read_to_string(f.host("out/d/b.txt")).expect("read"),
            "hi"
        );
        f.expect(&["d", "/tv-out/d"], 39); // ENOTEMPTY
        f.expect(&["u", "/tv-out/d"], EISDIR);
        f.expect(&["u", "/tv-out/d/b.txt"], 0);
        assert!(!f.host("out/d/b.txt").exists());
        f.expect(&["d", "/tv-out/d"], 0);
        assert!(!f.host("out/d").exists());
        // Between two rules: EXDEV, like two mounts.
        f.expect(&["w", "/tv-out/c.txt", "c"], 0);
        f.expect(&["n", "/tv-out/c.txt", "/tv-out2/c.txt"], EXDEV);
        // Rule paths and their ancestors are mount points.
        f.expect(&["d", "/tv-out"], EBUSY);
        f.expect(&["n", "/tv-out", "/tv-out3"], EBUSY);
        f.expect(&["n", "/tv-out/c.txt", "/tv-out2"], EBUSY);
        f.expect(&["u", "/tv-out"], EBUSY);
        f.expect(&["u", "/tv-out/c.txt"], 0);
    });
    assert_eq!(std::fs::read_dir(f.host("out")).expect("out").count(), 0);
}

#[test]
fn nested_rules_decide_by_the_most_specific_path() {
    let f = Fixture::new(
        "files-nested",
        "[[files]]\npath = \"/tv-data/scratch\"\nhost_path = \"DIR/scratch\"\naccess = \"read-write\"\n\n\
         [[files]]\npath = \"/tv-out/ro\"\nhost_path = \"DIR/out/ro\"\naccess = \"read\"\n",
    );
    std::fs::create_dir_all(f.host("scratch")).expect("mkdir");
    std::fs::create_dir_all(f.host("out/ro")).expect("mkdir");
    std::fs::write(f.host("out/ro/keep.txt"), "keep\n").expect("write");
    symlink("ro", f.host("out/toro")).expect("symlink");
    let mut f = f;
    f.writable = vec![f.host("scratch")];
    let keep = f.host("out/ro");
    unchanged_outside(&f, || {
        // A writable hole in a read tree, listed though not on the host.
        f.expect(&["w", "/tv-data/scratch/f.txt", "s"], 0);
        assert_eq!(
            std::fs::read_to_string(f.host("scratch/f.txt")).expect("read"),
            "s"
        );
        f.expect(&["w", "/tv-data/f.txt", "s"], EACCES);
        assert!(lines(&f.expect(&["g", "/tv-data"], 0).stdout).contains(&"scratch".to_string()));
        // A protected subtree in a writable tree, not writable through a
        // symlink of the writable tree either (the runner follows it in
        // the guest's namespace, where the read rule decides).
        f.expect(&["w", "/tv-out/ro/keep.txt", "x"], EACCES);
        f.expect(&["u", "/tv-out/ro/keep.txt"], EACCES);
        f.expect(&["w", "/tv-out/toro/keep.txt", "x"], EACCES);
        assert_eq!(
            f.expect(&["r", "/tv-out/toro/keep.txt"], 0).stdout,
            "keep\n"
        );
        f.expect(&["d", "/tv-out/ro"], EBUSY);
        f.expect(&["n", "/tv-out/ro", "/tv-out/moved"], EBUSY);
    });
    assert_eq!(
        std::fs::read_to_string(keep.join("keep.txt")).expect("read"),
        "keep\n"
    );
}

#[test]
fn a_read_rule_inside_a_writable_host_tree_stays_read_only() {
    // /tv-keep (read) is backed by DIR/out/deep/keep, inside /tv-out's host tree:
    // /tv-out/deep/keep is read-only as well, and cannot be moved away.
    let f = Fixture::new(
        "files-alias",
        "[[files]]\npath = \"/tv-keep\"\nhost_path = \"DIR/out/deep/keep\"\naccess = \"read\"\n",
    );
    std::fs::create_dir_all(f.host("out/deep/keep")).expect("mkdir");
    std::fs::write(f.host("out/deep/keep/k.txt"), "k\n").expect("write");
    let mut f = f;
    f.writable.clear();
    unchanged_outside(&f, || {
        assert_eq!(f.expect(&["r", "/tv-keep/k.txt"], 0).stdout, "k\n");
        assert_eq!(f.expect(&["r", "/tv-out/deep/keep/k.txt"], 0).stdout, "k\n");
        f.expect(&["w", "/tv-out/deep/keep/k.txt", "x"], EACCES);
        f.expect(&["w", "/tv-out/deep/keep/new.txt", "x"], EACCES);
        f.expect(&["u", "/tv-out/deep/keep/k.txt"], EACCES);
        f.expect(&["d", "/tv-out/deep/keep"], EACCES);
        f.expect(&["n", "/tv-out/deep/keep", "/tv-out/moved"], EACCES);
        // Its ancestors in the writable tree cannot be moved or removed.
        f.expect(&["n", "/tv-out/deep", "/tv-out/moved"], EBUSY);
        f.expect(&["d", "/tv-out/deep"], EBUSY);
        // The rest of the tree stays writable.
        f.expect(&["w", "/tv-out/other.txt", "o"], 0);
        f.expect(&["u", "/tv-out/other.txt"], 0);
    });
}

#[test]
fn a_rule_naming_one_file_maps_exactly_that_file() {
    let f = Fixture::new(
        "files-single",
        "[[files]]\npath = \"/tv-cfg\"\nhost_path = \"DIR/cfg.txt\"\naccess = \"read\"\n",
    );
    std::fs::write(f.host("cfg.txt"), "config\n").expect("write");
    unchanged_outside(&f, || {
        assert_eq!(f.expect(&["r", "/tv-cfg"], 0).stdout, "config\n");
        assert_eq!(
            f.expect(&["s", "/tv-cfg"], 0).stdout,
            mode_size(&f.host("cfg.txt"))
        );
        f.expect(&["r", "/tv-cfg/x"], ENOTDIR);
        f.expect(&["w", "/tv-cfg", "x"], EACCES);
        f.expect(&["u", "/tv-cfg"], EBUSY);
        assert!(lines(&f.expect(&["g", "/"], 0).stdout).contains(&"tv-cfg".to_string()));
    });
}

#[test]
fn fd_exhaustion_is_emfile_at_the_open_files_limit() {
    let f = Fixture::new("files-emfile", "[limits]\nopen_files = 6\n");
    unchanged_outside(&f, || {
        // 0, 1 and 2 count: three more opens fit.
        let r = f.expect(&["e", "/tv-data/hello.txt"], EMFILE);
        assert_eq!(r.stdout, "0000000000000003\n");
    });
    let f = Fixture::new("files-emfile3", "[limits]\nopen_files = 3\n");
    let r = f.expect(&["e", "/tv-data/hello.txt"], EMFILE);
    assert_eq!(r.stdout, "0000000000000000\n");
    // Nothing is created when no descriptor is left.
    f.expect(&["w", "/tv-out/never.txt", "x"], EMFILE);
    assert!(!f.host("out/never.txt").exists());
}

#[test]
fn fileio_checks_descriptor_syscalls() {
    let f = Fixture::new("files-fileio", "");
    unchanged_outside(&f, || {
        let r = f.run("fileio", &["/tv-out"]);
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (0, "fileio: ok\n", "")
        );
    });
    assert_eq!(std::fs::read_dir(f.host("out")).expect("out").count(), 0);
    // In a read tree it stops at the first open (O_CREAT refused).
    let r = f.run("fileio", &["/tv-data"]);
    assert_eq!((r.status, r.stderr.as_str()), (1, "fileio: FAIL open\n"));
}

#[test]
fn missing_host_path_fails_the_run() {
    let dir = temp_dir("files-missing");
    let p = dir.join("p.toml");
    std::fs::write(
        &p,
        "[[files]]\npath = \"/tv-x\"\nhost_path = \"/nonexistent/thinvisor\"\naccess = \"read\"\n",
    )
    .expect("write");
    let r = exec_sample(&["--policy", p.to_str().expect("p")], "hello", &[]);
    assert_eq!(r.status, 125);
    assert!(
        r.stderr.starts_with(
            "runner: policy files[0] (/tv-x): cannot open host path /nonexistent/thinvisor: "
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
}

#[test]
fn disconnected_streams_behave_like_dev_null() {
    let dir = temp_dir("files-stdio");
    let p = dir.join("p.toml");
    std::fs::write(&p, "[stdio]\nstdin = false\nstdout = false\n").expect("write");
    let p = p.to_str().expect("p");
    let r = exec_sample(&["--policy", p], "hello", &[]);
    assert_eq!((r.status, r.stdout.as_str()), (0, ""));
    let cat = sample("cat");
    let r = run_with_stdin(
        &["exec", "--policy", p, cat.to_str().expect("cat")],
        b"data\n",
    );
    assert_eq!((r.status, r.stdout.as_str()), (0, ""));
    // stderr: the guest's failure message is discarded, its status stays.
    let f = Fixture::new("files-stderr", "[stdio]\nstderr = false\n");
    let r = f.run("fileio", &["/tv-data"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (1, "", "")
    );
}

#[test]
fn bytes_written_is_a_total_budget() {
    let dir = temp_dir("files-budget");
    let p = dir.join("p.toml");
    std::fs::write(&p, "[limits]\nbytes_written = 10\n").expect("write");
    // hello writes 25 bytes in one write: cut short at 10.
    let r = exec_sample(&["--policy", p.to_str().expect("p")], "hello", &[]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "Hello from"));
    // Into a file: 8 bytes fit, the next write is EFBIG.
    let f = Fixture::new("files-budget2", "[limits]\nbytes_written = 8\n");
    unchanged_outside(&f, || {
        f.expect(&["w", "/tv-out/big.txt", "0123456789abcdef"], EFBIG);
    });
    assert_eq!(
        std::fs::read_to_string(f.host("out/big.txt")).expect("read"),
        "01234567"
    );
}

/// Two empty directories under a fresh temporary one, for a sample run
/// natively in the first and in the sandbox in the second, and a policy
/// granting the second read-write: (base, native, guest, policy).
fn native_and_guest_trees(tag: &str) -> (PathBuf, PathBuf, PathBuf, String) {
    let base = temp_dir(tag);
    let (native_dir, guest_dir) = (base.join("native"), base.join("guest"));
    for d in [&native_dir, &guest_dir] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let policy = policy_file(
        &base,
        "rw.toml",
        &format!(
            "[[files]]\npath = \"{}\"\naccess = \"read-write\"\n",
            guest_dir.display()
        ),
    );
    (base, native_dir, guest_dir, policy)
}

/// Runs C sample `program` on `dir` under `policy` and checks that it
/// exits 0 printing exactly what its native run printed.
fn assert_like_native(program: &str, policy: &str, dir: &Path, native: &Run) -> Run {
    let r = exec_elf(
        &["--policy", policy],
        program,
        &[dir.to_str().expect("utf-8")],
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, native.stdout.as_str()),
        "{program}: {}",
        r.stderr
    );
    r
}

/// Makes a named pipe at `p` on the host.
fn mkfifo(p: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .expect("mkfifo");
    assert!(made.success(), "mkfifo {}", p.display());
}

/// copy_file_range and fallocate (samples/c/copyrange.c) print what they
/// print natively in a read-write tree: whole copies by position, ranges
/// by offset, and Linux's errors; fallocate's mode 0 and KEEP_SIZE. A
/// hole punch answers EOPNOTSUPP (documented; natively it succeeds), and
/// copies count against bytes_written.
#[test]
fn copy_file_range_and_fallocate_match_native() {
    let (base, native_dir, guest_dir, policy) = native_and_guest_trees("copyrange");
    let program = elf_sample("copyrange");
    let grant = format!(
        "[[files]]\npath = \"{}\"\naccess = \"read-write\"\n",
        guest_dir.display()
    );
    let g = guest_dir.to_str().expect("utf-8");
    let n = native_dir.to_str().expect("utf-8");
    for mode in ["copy", "alloc"] {
        let native = run_native(&program, &[n, mode], b"", &[]);
        assert_eq!(native.status, 0, "{mode} natively: {}", native.stderr);
        let r = exec_elf(&["--policy", &policy], "copyrange", &[g, mode]);
        assert_eq!(
            (r.status, r.stdout.as_str()),
            (0, native.stdout.as_str()),
            "{mode}: {}",
            r.stderr
        );
    }
    let r = exec_elf(&["--policy", &policy], "copyrange", &[g, "punch"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "punch: -95, first byte kept\n"),
        "{}",
        r.stderr
    );
    // 200000 bytes to copy, 50000 left in the budget after the 200000
    // the program writes first: the copy stops at the budget (and the
    // program's output with it: nothing is left for stdout).
    let tight = policy_file(
        &base,
        "tight.toml",
        &format!("[limits]\nbytes_written = 250000\n\n{grant}"),
    );
    let r = exec_elf(&["--policy", &tight], "copyrange", &[g, "copy"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    let copied = std::fs::metadata(guest_dir.join("dst")).expect("dst").len();
    assert_eq!(copied, 50000);
}

/// splice and tee (samples/c/splice.c) print what they print natively: a
/// file into a pipe at an offset, a pipe into a file at an offset and by
/// position, pipe to pipe, tee, a pipe into stdout, the end of a pipe,
/// SPLICE_F_NONBLOCK, a pipe nobody reads, and Linux's errors.
#[test]
fn splice_and_tee_match_native() {
    let (_base, native_dir, guest_dir, policy) = native_and_guest_trees("splice");
    let program = elf_sample("splice");
    let native = run_native(&program, &[native_dir.to_str().expect("utf-8")], b"", &[]);
    assert_eq!(native.status, 0, "natively: {}", native.stderr);
    assert!(native.stdout.contains("tee: 11\n"), "{}", native.stdout);
    assert_like_native("splice", &policy, &guest_dir, &native);
    assert_eq!(
        std::fs::read(guest_dir.join("dst")).expect("dst"),
        std::fs::read(native_dir.join("dst")).expect("native dst")
    );
}

/// chown and its family as for an unprivileged owner, and utime, utimes
/// and futimesat (samples/c/owners.c), as natively in a read-write tree;
/// what only root may do is EPERM (natively, as root, it succeeds), and
/// the host file keeps its owner.
#[test]
fn owners_and_old_time_setters_match_native() {
    let (base, native_dir, guest_dir, policy) = native_and_guest_trees("owners");
    let program = elf_sample("owners");
    let native = run_native(&program, &[native_dir.to_str().expect("utf-8")], b"", &[]);
    assert_eq!(native.status, 0, "natively: {}", native.stderr);
    let g = guest_dir.to_str().expect("utf-8");
    let r = exec_elf(&["--policy", &policy], "owners", &[g]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, native.stdout.as_str()),
        "{}",
        r.stderr
    );
    let r = exec_elf(&["--policy", &policy], "owners", &[g, "privileged"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (
            0,
            "to another owner: -1\nto another group: -1\nthe root directory to root: -1\n"
        ),
        "{}",
        r.stderr
    );
    let host = std::fs::metadata(guest_dir.join("file")).expect("file");
    let me = std::fs::metadata(&base).expect("base");
    assert_eq!((host.uid(), host.gid()), (me.uid(), me.gid()));
}

/// Hard links (samples/c/links.c) as natively inside a read-write tree:
/// a second name for a file, its link count, writes through either name,
/// AT_SYMLINK_FOLLOW, Linux's errors. And the links the sandbox refuses,
/// with nothing made on the host: from a read-only tree (EPERM), into
/// another tree (EXDEV), of a file outside every tree, through symlinks
/// to /etc/passwd and into the read-only tree, AT_EMPTY_PATH, a symlink
/// itself.
#[test]
fn hard_links_match_native_and_never_reach_outside_the_tree() {
    let base = temp_dir("links");
    let (native_dir, guest_dir) = (base.join("native"), base.join("guest"));
    let (ro, other) = (base.join("ro"), base.join("other"));
    for d in [&native_dir, &guest_dir, &ro, &other] {
        std::fs::create_dir_all(d).expect("mkdir");
        symlink("a", d.join("sl")).expect("symlink");
    }
    std::fs::write(ro.join("f"), b"read only\n").expect("ro file");
    symlink("/etc/passwd", guest_dir.join("out")).expect("symlink");
    symlink("../ro/f", guest_dir.join("up")).expect("symlink");
    let program = elf_sample("links");
    let native = run_native(&program, &[native_dir.to_str().expect("utf-8")], b"", &[]);
    assert_eq!(native.status, 0, "natively: {}", native.stderr);
    assert!(
        native
            .stdout
            .contains("linkat following sl: 0, c is a file\n"),
        "{}",
        native.stdout
    );
    let grant = |p: &std::path::Path, access: &str| {
        format!(
            "[[files]]\npath = \"{}\"\naccess = \"{access}\"\n",
            p.display()
        )
    };
    let policy = policy_file(
        &base,
        "links.toml",
        &[
            grant(&guest_dir, "read-write"),
            grant(&other, "read-write"),
            grant(&ro, "read"),
        ]
        .concat(),
    );
    let g = guest_dir.to_str().expect("utf-8");
    let r = exec_elf(&["--policy", &policy], "links", &[g]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, native.stdout.as_str()),
        "{}",
        r.stderr
    );
    let r = exec_elf(
        &["--policy", &policy],
        "links",
        &[
            g,
            "hostile",
            ro.to_str().expect("utf-8"),
            other.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (
            0,
            "from a read-only tree: -1\ninto another tree: -18\n\
             a file outside every tree: -2\nAT_EMPTY_PATH: -2\na symlink itself: -13\n\
             through a link to /etc/passwd: -2\nthrough a link into the read-only tree: -1\n"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::metadata(ro.join("f")).expect("f").nlink(), 1);
    assert_eq!(std::fs::metadata("/etc/passwd").expect("passwd").nlink(), 1);
    for name in ["stolen", "passwd", "e", "c2", "c3", "c4"] {
        assert!(
            std::fs::symlink_metadata(guest_dir.join(name)).is_err(),
            "{name} was made"
        );
    }
    assert!(std::fs::symlink_metadata(other.join("moved")).is_err());
}

/// symlink in a private tree (made for the run, removed at its end): `ln
/// -s` makes links as natively, relative and absolute, and the runner
/// follows them in the guest's namespace, so one naming a host file the
/// policy does not show, or climbing out of the tree, reaches nothing of
/// the host's. In a tree the host keeps after the run: EPERM, nothing
/// made.
#[test]
fn symbolic_links_in_a_private_tree_only_and_followed_in_the_guests_view() {
    let base = temp_dir("symlinks");
    let kept = base.join("kept");
    std::fs::create_dir_all(&kept).expect("mkdir");
    let policy = policy_file(
        &base,
        "sym.toml",
        &format!(
            "[[files]]\npath = \"/scratch\"\naccess = \"read-write\"\nprivate = true\n\n[[files]]\npath = \"{}\"\naccess = \"read-write\"\n\n[[files]]\npath = \"/bin/busybox\"\naccess = \"read-exec\"\n",
            kept.display()
        ),
    );
    let k = kept.to_str().expect("utf-8");
    let script = format!(
        "B=/bin/busybox; cd /scratch && echo hello > target && $B ln -s target rel && \
         $B ln -s /scratch/target abs && $B mkdir d && $B ln -s ../target d/up && \
         $B cat rel abs d/up && $B readlink rel && $B readlink abs && $B readlink d/up && \
         $B ln -s /etc/passwd esc && ($B cat esc || echo esc-nothing) && \
         $B ln -s ../../../../../etc/passwd climb && ($B cat climb || echo climb-nothing) && \
         $B mv rel d/moved && ($B cat d/moved || echo moved-dangles) && \
         $B ls -l abs | $B cut -c1 && ($B ln -s x {k}/kept-link || echo kept-refused)"
    );
    let r = run(&[
        "exec",
        "--policy",
        &policy,
        "/bin/busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "hello\nhello\nhello\ntarget\n/scratch/target\n../target\nesc-nothing\nclimb-nothing\nmoved-dangles\nl\nkept-refused\n",
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Operation not permitted"), "{}", r.stderr);
    assert!(
        std::fs::read_dir(&kept).expect("kept").next().is_none(),
        "a link was made in the kept tree"
    );
}

/// inotify (samples/c/inotify.c, built with musl and with glibc) prints
/// what it prints natively in a read-write tree: the instance's flags,
/// fstat and /proc link, watches on a directory and a file, the events of
/// creating, writing, renaming (cookies paired), mkdir/rmdir, unlinking,
/// one-shot and IN_MASK_ADD watches, FIONREAD, a buffer too small for the
/// next event, inotify_rm_watch's IN_IGNORED, Linux's errors, and a
/// blocking instance a child's mkdir wakes through read, poll and epoll.
#[test]
fn inotify_matches_native() {
    for program in ["inotify", "inotify_glibc"] {
        let (_base, native_dir, guest_dir, policy) =
            native_and_guest_trees(&format!("{program}-native"));
        let native = run_native(
            &elf_sample(program),
            &[native_dir.to_str().expect("utf-8")],
            b"",
            &[],
        );
        assert_eq!(native.status, 0, "{program} natively: {}", native.stderr);
        assert!(
            native
                .stdout
                .contains("  wd=1 MOVED_TO cookie=same name=b\n")
                && native.stdout.ends_with("done\n"),
            "{}",
            native.stdout
        );
        let r = assert_like_native(program, &policy, &guest_dir, &native);
        assert!(!r.stderr.contains("unsupported"), "{}", r.stderr);
    }
}

/// A watch flood: instances until inotify_init1 fails (EMFILE at the
/// sandbox's cap of 8, whatever the host user's limit), watches until
/// inotify_add_watch fails (ENOSPC at 4096, all instances together),
/// updates of held watches still pass at the cap, and a removed watch, a
/// read IN_IGNORED and a closed instance give their room back; each cap
/// is reported once, and the runner carries on.
#[test]
fn inotify_floods_stop_at_the_sandboxs_caps() {
    let (_base, _native_dir, guest_dir, policy) = native_and_guest_trees("inotify-flood");
    for i in 0..4200 {
        std::fs::write(guest_dir.join(format!("f{i}")), b"").expect("file");
    }
    let r = exec_elf(
        &["--policy", &policy],
        "inotify",
        &[guest_dir.to_str().expect("utf-8"), "flood"],
    );
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "instances: 8, then -24\nwatches: 4096, then -28\n\
         another instance, another file: -28\na held watch updated: 1\nrm_watch 1: 0\n\
         then another: 1\nand one more: -28\nunlink f1: 0\nbefore its IGNORED is read: -28\n\
         a new file: -28\nIGNORED read: 2\nthen: 2\n\
         once the first instance is closed: 97 more\na new instance: ok\ndone\n",
        "{}",
        r.stderr
    );
    for line in [
        "runner: inotify_init refused: 8 inotify instances are open",
        "runner: inotify_add_watch refused: 4096 inotify watches are held",
    ] {
        assert_eq!(r.stderr.matches(line).count(), 1, "{}", r.stderr);
    }
}

/// Watches the sandbox refuses, revealing nothing: `/` and DIR's parent
/// (synthesized ancestors: EACCES), paths no rule shows (ENOENT, as for
/// every path call), the synthesized /proc and the runner's devices
/// (EACCES), and symbolic links the guest made in a private tree to
/// /etc/passwd (ENOENT: followed in the guest's namespace) and above the
/// root (`/`: EACCES); IN_DONT_FOLLOW watches the link itself, and a link
/// to a directory of the tree shares that directory's watch. A FIFO in a
/// granted tree and a host device node a rule shows are EACCES too.
#[test]
fn inotify_watches_only_what_the_policy_shows() {
    let (base, _native_dir, guest_dir, _) = native_and_guest_trees("inotify-escape");
    let policy = policy_file(
        &base,
        "escape.toml",
        &format!(
            "[[files]]\npath = \"{}\"\naccess = \"read-write\"\n\n[[files]]\npath = \"/scratch\"\naccess = \"read-write\"\nprivate = true\n\n[[files]]\npath = \"/tv-dev\"\nhost_path = \"/dev\"\naccess = \"read\"\n",
            guest_dir.display()
        ),
    );
    let fifo = guest_dir.join("fifo");
    mkfifo(&fifo);
    let r = exec_elf(
        &["--policy", &policy],
        "inotify",
        &[
            guest_dir.to_str().expect("utf-8"),
            "escape",
            "/scratch",
            fifo.to_str().expect("utf-8"),
            "/tv-dev/null",
        ],
    );
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "/: -13\nDIR's parent: -13\n/etc: -2\n/etc/passwd: -2\n/proc/self: -13\n\
         /proc/nothere: -2\n/dev/null: -13\n/dev: -13\n\
         a link to /etc/passwd: -2\na link above the root: -13\n\
         a link to /etc/passwd, IN_DONT_FOLLOW: 1\nthe same, IN_ONLYDIR too: -20\n\
         sub and links to it: one watch\nextra 1: -13\nextra 2: -13\n\
         events:\n  wd=2 CREATE name=x\n",
        "{}",
        r.stderr
    );
}
