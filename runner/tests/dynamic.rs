//! Dynamically linked programs: the host's own tools run from its system
//! trees with `sandbox-policy/examples/host-tools.toml` (read-only `/usr`,
//! `/bin`, `/lib`, `/lib64`, `/etc`), plus a writable work tree, and must
//! match their native run byte for byte (stdout, stderr, status) with the
//! same arguments and environment.
//!
//! - coreutils (`ls -l`, `cat`, `sort`, `sha256sum`, `true`), `python3 -c`
//!   importing json, hashlib, re and sqlite3 and writing a file, the
//!   `sqlite3` command line on a database in the work tree, bash pipelines
//!   and Python's `subprocess` (execve of dynamic programs), glibc and musl
//!   builds of C samples, the dynamic loader run by hand (`ld.so PROGRAM`);
//! - file mappings (`samples/c/filemap.c`, static and dynamic builds):
//!   private and shared, a shared mapping's writes in the file after
//!   msync, munmap, a fork's child, and the program's exit;
//! - refusals: no policy for the interpreter (status 126, the path and the
//!   policy lines named), a PT_INTERP outside the policy, a truncated
//!   interpreter, a truncated shared library, PROT_EXEC of a file under a
//!   rule without `-exec` (EPERM).
//!
//! The tools are Debian's (`ci/test-deps.sh` installs python3 and sqlite3
//! when missing).

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// The example policy these tests run the host's tools with.
fn host_tools_policy() -> String {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox-policy/examples/host-tools.toml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The environment the example policy gives, for the native runs.
const ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "C.UTF-8"),
    ("HOME", "/"),
];

/// A work tree for one test: a host directory shown as `/work`
/// (read-write), and the example policy with it.
struct Work {
    dir: PathBuf,
    policy: String,
}

impl Work {
    fn new(tag: &str) -> Work {
        let dir = temp_dir(tag);
        let host = dir.join("work");
        std::fs::create_dir_all(&host).expect("work dir");
        std::fs::create_dir_all(dir.join("native")).expect("native work dir");
        let text = format!(
            "{}\n[[files]]\npath = \"/work\"\nhost_path = \"{}\"\naccess = \"read-write\"\n",
            host_tools_policy(),
            host.display()
        );
        let policy = policy_file(&dir, "policy.toml", &text);
        Work { dir, policy }
    }

    /// The work tree's host directory.
    fn host(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Where the native runs work instead (so that both start alike).
    fn native(&self) -> PathBuf {
        self.dir.join("native")
    }

    /// Runs `program args` in the sandbox.
    fn sandboxed(&self, program: &str, args: &[&str]) -> Run {
        let mut all = vec!["exec", "--policy", &self.policy, program];
        all.extend_from_slice(args);
        run(&all)
    }
}

/// Runs `program args` natively and in the sandbox (where `/work` is the
/// work tree; natively a directory of its own) and asserts the same stdout,
/// stderr and status; returns the sandbox's stdout.
fn same_as_native(w: &Work, program: &str, args: &[&str]) -> String {
    let host = w.native().display().to_string();
    let native_args: Vec<String> = args.iter().map(|a| a.replace("/work", &host)).collect();
    let native_refs: Vec<&str> = native_args.iter().map(String::as_str).collect();
    let native = run_native(Path::new(program), &native_refs, b"", ENV);
    let boxed = w.sandboxed(program, args);
    let what = format!("{program} {args:?}");
    assert_eq!(
        (boxed.status, &boxed.stderr),
        (native.status, &native.stderr.replace(&host, "/work")),
        "{what}: status and stderr differ from native; stdout:\n{}",
        boxed.stdout
    );
    assert_eq!(
        boxed.stdout,
        native.stdout.replace(&host, "/work"),
        "{what}: stdout differs from native:\n{}",
        diff_lines(&native.stdout, &boxed.stdout)
    );
    boxed.stdout
}

#[test]
fn coreutils_from_the_host_match_native() {
    let w = Work::new("dyn-coreutils");
    same_as_native(&w, "/bin/true", &[]);
    let out = same_as_native(
        &w,
        "/bin/ls",
        &["-l", "/etc/apt", "/usr/lib/x86_64-linux-gnu/libc.so.6"],
    );
    assert!(out.contains("libc.so.6"), "{out}");
    // (/lib64 itself is a rule's directory in the sandbox, a link to
    // usr/lib64 on the host: its contents are the same.)
    same_as_native(&w, "/bin/ls", &["-l", "/lib64/"]);
    same_as_native(&w, "/bin/cat", &["/etc/os-release", "/etc/passwd"]);
    same_as_native(&w, "/usr/bin/sort", &["-r", "/etc/passwd"]);
    same_as_native(&w, "/usr/bin/sha256sum", &["/etc/os-release", "/bin/ls"]);
    // A missing file: the same message and status 1 or 2.
    same_as_native(&w, "/bin/cat", &["/etc/no-such-file"]);
    same_as_native(&w, "/bin/ls", &["/nowhere"]);
}

#[test]
fn python3_imports_and_writes_in_the_work_tree() {
    let w = Work::new("dyn-python");
    let script = "import json, hashlib, re, sqlite3, sys\n\
        path = sys.argv[1] + '/out.json'\n\
        db = sqlite3.connect(':memory:')\n\
        db.execute('create table t(x)')\n\
        db.executemany('insert into t values (?)', [(i,) for i in range(10)])\n\
        total = db.execute('select sum(x) from t').fetchone()[0]\n\
        doc = {'sum': total, 'sha': hashlib.sha256(b'thinvisor').hexdigest(), 'words': re.findall(r'\\w+', 'a b-c')}\n\
        open(path, 'w').write(json.dumps(doc))\n\
        print(json.load(open(path)))\n";
    let out = same_as_native(&w, "/usr/bin/python3", &["-c", script, "/work"]);
    assert!(out.contains("'sum': 45"), "{out}");
    let written =
        std::fs::read_to_string(w.host().join("out.json")).expect("written in the work tree");
    assert!(written.contains("\"sum\": 45"), "{written}");
}

/// Python's asyncio, whose event loop wakes itself through an AF_UNIX
/// socketpair: tasks, sleeps, a queue, and a socketpair echo through the
/// loop, as natively.
#[test]
fn python3_asyncio_runs_on_its_socketpair() {
    let w = Work::new("dyn-asyncio");
    let script = "import asyncio, socket\n\
        async def worker(q, out):\n\
        \x20   while True:\n\
        \x20       item = await q.get()\n\
        \x20       if item is None: return\n\
        \x20       await asyncio.sleep(0.001)\n\
        \x20       out.append(item * item)\n\
        async def echo(loop):\n\
        \x20   a, b = socket.socketpair()\n\
        \x20   a.setblocking(False); b.setblocking(False)\n\
        \x20   await loop.sock_sendall(a, b'hello over a socketpair')\n\
        \x20   data = await loop.sock_recv(b, 100)\n\
        \x20   a.close(); b.close()\n\
        \x20   return data.decode()\n\
        async def main():\n\
        \x20   q, out = asyncio.Queue(), []\n\
        \x20   tasks = [asyncio.create_task(worker(q, out)) for _ in range(3)]\n\
        \x20   for i in range(20): await q.put(i)\n\
        \x20   for _ in tasks: await q.put(None)\n\
        \x20   await asyncio.gather(*tasks)\n\
        \x20   print(sorted(out)[:5], sum(out))\n\
        \x20   print(await echo(asyncio.get_running_loop()))\n\
        asyncio.run(main())\n";
    let out = same_as_native(&w, "/usr/bin/python3", &["-c", script]);
    assert!(out.contains("hello over a socketpair"), "{out}");
    assert!(out.contains("[0, 1, 4, 9, 16] 2470"), "{out}");
}

/// Python's mmap module over a file and a memfd: writes through the file
/// are seen in the mappings, stores in a mapping by reads of the file and
/// by another process's own mapping, before any flush, as natively.
#[test]
fn python3_mmap_is_coherent_with_the_file() {
    let w = Work::new("dyn-python-mmap");
    let script = r#"import mmap, os, sys
path = sys.argv[1] + '/m.bin'
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
os.ftruncate(fd, 8192)
m = mmap.mmap(fd, 8192)
os.pwrite(fd, b'written', 100)
print('mapping sees write:', m[100:107])
m[200:206] = b'stored'
print('pread sees store:', os.pread(fd, 6, 200))
pid = os.fork()
if pid == 0:
    c = mmap.mmap(os.open(path, os.O_RDWR), 4096)
    c[300:303] = b'kid'
    os._exit(0 if c[200:206] == b'stored' else 1)
_, status = os.waitpid(pid, 0)
print('child:', status, m[300:303])
mf = os.memfd_create('py')
os.write(mf, b'x' * 4096)
a = mmap.mmap(mf, 4096)
b = mmap.mmap(mf, 4096)
a[0:5] = b'memfd'
print('memfd:', b[0:6], os.pread(mf, 5, 0), os.readlink('/proc/self/fd/%d' % mf))
"#;
    let out = same_as_native(&w, "/usr/bin/python3", &["-c", script, "/work"]);
    assert_eq!(
        out,
        "mapping sees write: b'written'\npread sees store: b'stored'\nchild: 0 b'kid'\n\
         memfd: b'memfdx' b'memfd' /memfd:py (deleted)\n"
    );
}

#[test]
fn sqlite3_cli_on_a_database_in_the_work_tree() {
    let w = Work::new("dyn-sqlite");
    let sql = "create table t(k text, v int); insert into t values ('a', 1), ('b', 2); \
               update t set v = v * 10; select k, v from t order by k;";
    let out = same_as_native(&w, "/usr/bin/sqlite3", &["/work/t.db", sql]);
    assert_eq!(out, "a|10\nb|20\n");
    // The database the sandbox made is a real one.
    let again = run_native(
        Path::new("/usr/bin/sqlite3"),
        &[
            w.host().join("t.db").to_str().expect("path"),
            "select sum(v) from t;",
        ],
        b"",
        ENV,
    );
    assert_eq!(again.stdout, "30\n", "{}", again.stderr);
}

#[test]
fn shells_and_subprocesses_run_dynamic_programs() {
    let w = Work::new("dyn-exec");
    same_as_native(
        &w,
        "/bin/bash",
        &[
            "-c",
            "ls /etc/apt | sort -r | head -3; echo $((6 * 7)) > /work/n; cat /work/n",
        ],
    );
    same_as_native(
        &w,
        "/usr/bin/python3",
        &[
            "-c",
            "import subprocess\n\
             r = subprocess.run(['ls', '/etc/apt'], capture_output=True, text=True)\n\
             print(r.returncode, r.stdout.split())\n\
             print(subprocess.run(['sh', '-c', 'exit 3']).returncode)",
        ],
    );
}

/// `gcc hello.c -o hello && ./hello` inside the sandbox: the compiler's
/// driver, cc1, as and ld (all dynamic, run with vfork and execve), their
/// temporary files in the example policy's private /tmp, ld's chmod of its
/// output, then the program it made, from a "read-write-exec" tree.
#[test]
fn gcc_builds_and_runs_a_program_in_the_work_tree() {
    let dir = temp_dir("dyn-gcc");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("work");
    std::fs::write(
        work.join("hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"built in the sandbox\"); return 3; }\n",
    )
    .expect("source");
    let policy = policy_file(
        &dir,
        "gcc.toml",
        &format!(
            "{}\n[[files]]\npath = \"/work\"\nhost_path = \"{}\"\naccess = \"read-write-exec\"\n[limits]\nmemory = \"1GiB\"\nwall_time = \"60s\"\n",
            host_tools_policy(),
            work.display()
        ),
    );
    let r = run(&[
        "exec",
        "--policy",
        &policy,
        "/bin/bash",
        "-c",
        "cd /work && gcc -O2 hello.c -o hello && ./hello; echo status $?",
    ]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "built in the sandbox\nstatus 3\n", "")
    );
    // The program is a real one: it runs natively too.
    let native = run_native(&work.join("hello"), &[], b"", &[]);
    assert_eq!(
        (native.status, native.stdout.as_str()),
        (3, "built in the sandbox\n")
    );
}

/// umask and chmod in a writable tree: the mask taken off created files,
/// set-ID bits dropped; chmod under a read rule refused; the writable
/// tree's files show the guest as their owner.
#[test]
fn umask_chmod_and_owners_in_writable_trees() {
    let w = Work::new("dyn-chmod");
    let r = w.sandboxed(
        "/bin/bash",
        &[
            "-c",
            "cd /work && umask 027 && touch f && mkdir d && stat -c '%a %n' f d && \
             chmod 4755 f && chmod 700 d && stat -c '%a %n' f d && \
             chmod 600 /etc/passwd; echo status $?; stat -c '%u:%g %n' f d /etc/passwd",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    // Files of the writable tree are the guest's (uid 1000, as geteuid
    // says), whoever owns them on the host; the system's keep theirs.
    let passwd = std::fs::metadata("/etc/passwd").expect("/etc/passwd");
    let want = format!(
        "640 f\n750 d\n755 f\n700 d\nstatus 1\n1000:1000 f\n1000:1000 d\n{}:{} /etc/passwd\n",
        std::os::unix::fs::MetadataExt::uid(&passwd),
        std::os::unix::fs::MetadataExt::gid(&passwd)
    );
    assert_eq!(r.stdout, want);
    assert!(r.stderr.contains("/etc/passwd"), "{}", r.stderr);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(w.host().join("f"))
            .expect("f")
            .permissions(),
    );
    assert_eq!(mode & 0o7777, 0o755);
}

/// GNU install (coreutils; Debian's busybox has no `install`) in a
/// writable tree, as natively: modes (-m), leading directories (-D),
/// directories (-d), times kept (-p); a missing source and a directory
/// over a file refused with the same message and status.
#[test]
fn gnu_install_in_a_writable_tree_matches_native() {
    let w = Work::new("dyn-install");
    same_as_native(
        &w,
        "/bin/bash",
        &[
            "-c",
            "cd /work && umask 022 && echo hello > a && touch -d @1000000000 a && \
             install -m 750 a b && install -D -m 640 a d1/d2/c && install -d -m 700 dd && \
             install -p -m 600 a p && install a plain && \
             stat -c '%a %s %F %n' b d1/d2/c dd p plain && stat -c '%Y %n' p && \
             install -m 644 no-such-file x; echo \"missing source: $?\"; \
             install -d /work/b 2>/dev/null; echo \"directory over a file: $?\"; ls",
        ],
    );
}

/// /dev/null, /dev/zero, /dev/full, /dev/urandom: answered by the runner
/// whatever the policy shows, as natively (reads, writes, stat, mmap of
/// /dev/zero from Python).
#[test]
fn the_memory_devices_match_native() {
    let w = Work::new("dyn-devices");
    same_as_native(
        &w,
        "/bin/bash",
        &[
            "-c",
            "head -c 100000 /dev/urandom | wc -c; head -c 4096 /dev/zero | sha256sum; \
             stat -c '%F %t:%T %a' /dev/zero /dev/null /dev/full /dev/random /dev/urandom; \
             echo x > /dev/full; echo status $?; echo gone > /dev/null; ls /dev/nonexistent; \
             python3 -c 'import mmap, os; m = mmap.mmap(os.open(\"/dev/zero\", os.O_RDWR), 8192); m[0:3] = b\"abc\"; print(m[0:4])'",
        ],
    );
}

/// The synthesized /proc: the links, the descriptor directory, status,
/// cmdline, cpuinfo and meminfo describe the sandbox; glibc's
/// pthread_getattr_np finds the main thread's stack in /proc/self/maps;
/// nothing is writable and other pids do not exist.
#[test]
fn the_synthesized_proc_describes_the_sandbox() {
    let w = Work::new("dyn-proc");
    let stack = build_c(
        &w.dir,
        "stack",
        &["-pthread"],
        "#define _GNU_SOURCE\n#include <pthread.h>\n#include <stdio.h>\n\
         int main(void) { pthread_attr_t a; void *base; size_t size; int here;\n\
         if (pthread_getattr_np(pthread_self(), &a) || pthread_attr_getstack(&a, &base, &size)) return 1;\n\
         printf(\"stack ok: %d\\n\", (char *)&here > (char *)base && (char *)&here < (char *)base + size);\n\
         return 0; }\n",
    );
    let r = w.sandboxed(
        "/bin/bash",
        &[
            "-c",
            "readlink /proc/self/exe; readlink /proc/self/fd/1 /proc/self/fd/5 < /dev/null 5</work; \
             ls /proc/self/fd; cat /proc/self/cmdline | tr '\\0' ' '; echo; \
             test \"$(grep -c ^processor /proc/cpuinfo)\" = \"$(nproc)\" && echo cpus agree; \
             grep -E '^(Name|State|Uid|Threads):' /proc/self/status; \
             grep -q '^MemTotal: *262144 kB' /proc/meminfo && echo memory is the limit; \
             grep -c '\\[stack\\]' /proc/self/maps; ls / | tr '\\n' ' '; echo; ls /dev | tr '\\n' ' '; echo; \
             echo x > /proc/self/status; ls /proc/1; true",
        ],
    );
    let mut cmd = runner();
    cmd.args(["exec", "--policy", &w.policy, stack.to_str().expect("path")]);
    let stack_run = run_command(cmd, b"");
    assert_eq!(
        (stack_run.status, stack_run.stdout.as_str()),
        (0, "stack ok: 1\n"),
        "{}",
        stack_run.stderr
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let want = "/usr/bin/readlink\n\
        pipe:[1]\n\
        /work\n\
        0\n1\n2\n3\n\
        cat /proc/self/cmdline \n\
        cpus agree\n\
        Name:\tgrep\nState:\tR (running)\nUid:\t1000\t1000\t1000\t1000\nThreads:\t1\n\
        memory is the limit\n\
        1\n\
        bin dev etc lib lib64 proc tmp usr work \n\
        full null random shm urandom zero \n";
    assert_eq!(r.stdout, want, "{}", diff_lines(want, &r.stdout));
    assert!(
        r.stderr.contains("/proc/self/status: Permission denied"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("cannot access '/proc/1'"), "{}", r.stderr);
}

/// A separate root tree (sandbox-policy/examples/rootfs.toml's layout): a
/// minimal Debian-like tree made here (merged /usr with its relative
/// links, the loader's absolute link, ls and cat with their libraries, an
/// /etc of its own) is the guest's `/`, read-only, with a writable /tmp:
/// its programs load from it, and what they show is the tree's, not the
/// host's.
#[test]
fn a_separate_root_tree_is_the_guests_root() {
    use std::os::unix::fs::symlink;
    let dir = temp_dir("dyn-rootfs");
    let root = dir.join("root");
    let lib = root.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&lib).expect("lib");
    std::fs::create_dir_all(root.join("usr/bin")).expect("bin");
    std::fs::create_dir_all(root.join("usr/lib64")).expect("lib64");
    std::fs::create_dir_all(root.join("etc")).expect("etc");
    std::fs::create_dir_all(dir.join("scratch")).expect("scratch");
    for name in [
        "ld-linux-x86-64.so.2",
        "libc.so.6",
        "libselinux.so.1",
        "libpcre2-8.so.0",
    ] {
        let from = Path::new("/usr/lib/x86_64-linux-gnu").join(name);
        let bytes = std::fs::read(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        std::fs::write(lib.join(name), bytes).expect("copy");
        std::fs::set_permissions(
            lib.join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
    }
    for tool in ["ls", "cat"] {
        std::fs::copy(
            Path::new("/usr/bin").join(tool),
            root.join("usr/bin").join(tool),
        )
        .expect("copy");
    }
    symlink(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        root.join("usr/lib64/ld-linux-x86-64.so.2"),
    )
    .expect("symlink");
    for (link, to) in [
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("bin", "usr/bin"),
    ] {
        symlink(to, root.join(link)).expect("symlink");
    }
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"thinvisor test root\"\n",
    )
    .expect("etc");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox-policy/examples/rootfs.toml"),
    )
    .expect("rootfs.toml")
    .replace(
        "/srv/rootfs-scratch",
        dir.join("scratch").to_str().expect("path"),
    )
    .replace("/srv/rootfs", root.to_str().expect("path"));
    let policy = policy_file(&dir, "rootfs.toml", &text);
    let ls = root.join("usr/bin/ls");
    let cat = root.join("usr/bin/cat");
    let r = run(&["exec", "--policy", &policy, ls.to_str().expect("path"), "/"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "bin\ndev\netc\nlib\nlib64\nproc\ntmp\nusr\n", "")
    );
    let r = run(&[
        "exec",
        "--policy",
        &policy,
        cat.to_str().expect("path"),
        "/etc/os-release",
    ]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "NAME=\"thinvisor test root\"\n", "")
    );
    // --guest-path: the program named by its path in the tree, as
    // execve would find it (through the /bin link).
    let r = run(&[
        "exec",
        "--policy",
        &policy,
        "--guest-path",
        "/bin/cat",
        "/etc/os-release",
    ]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "NAME=\"thinvisor test root\"\n", "")
    );
    let r = run(&["exec", "--policy", &policy, "--guest-path", "/bin/nothere"]);
    assert_eq!(r.status, 127, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("/bin/nothere (in the sandbox): no such file"),
        "{}",
        r.stderr
    );
    let r = run(&["exec", "--policy", &policy, "--guest-path", "/tmp"]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    // The host's files are not there; the tree is read-only, /tmp not.
    let r = run(&[
        "exec",
        "--policy",
        &policy,
        cat.to_str().expect("path"),
        "/etc/passwd",
    ]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("/etc/passwd: No such file or directory"),
        "{}",
        r.stderr
    );
}

/// `private = true` (the example policy's /tmp): a fresh, empty host
/// directory for each run, removed with its contents when the runner
/// exits, even when the run is cut at its time limit (a helper started
/// before lock down waits for the runner's pipe to close).
#[test]
fn a_private_tmp_is_fresh_for_each_run_and_removed_after() {
    let dir = temp_dir("dyn-private");
    let host_tmp = dir.join("host-tmp");
    std::fs::create_dir_all(&host_tmp).expect("host tmp");
    let policy = policy_file(
        &dir,
        "private.toml",
        &format!("{}\n[limits]\nwall_time = \"3s\"\n", host_tools_policy()),
    );
    let boxed = |script: &str| {
        let mut cmd = runner();
        cmd.env("TMPDIR", &host_tmp)
            .args(["exec", "--policy", &policy, "/bin/bash", "-c", script]);
        run_command(cmd, b"")
    };
    // The helper removes the tree just after the runner exits.
    let emptied = || {
        for _ in 0..100 {
            if std::fs::read_dir(&host_tmp)
                .expect("host tmp")
                .next()
                .is_none()
            {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    };
    for _ in 0..2 {
        let r = boxed(
            "ls -A /tmp | wc -l; echo data > /tmp/f; mkdir /tmp/d; cat /tmp/f; stat -c %a /tmp",
        );
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (0, "0\ndata\n700\n", "")
        );
        assert!(emptied(), "the private tree outlived its run");
    }
    let r = boxed("echo x > /tmp/f; sleep 30");
    assert_eq!(r.status, 137, "{}", r.stderr);
    assert!(
        emptied(),
        "the private tree outlived a run cut at its time limit"
    );
}

/// A `#!` script as the program of `runner exec`: its interpreter (and an
/// `env` chain) from the sandbox's files, the script opened by its path
/// there, argv as Linux makes it; a script the sandbox cannot see is
/// refused with 126 and the policy line to add.
#[test]
fn scripts_run_their_interpreter_from_the_sandbox() {
    let w = Work::new("dyn-scripts");
    let sh = w.host().join("s.sh");
    std::fs::write(&sh, "#!/bin/sh\necho \"sh: $0 $*\"\n").expect("script");
    let py = w.host().join("p.py");
    std::fs::write(
        &py,
        "#!/usr/bin/env python3\nimport sys\nprint(sys.argv[1:])\n",
    )
    .expect("script");
    for f in [&sh, &py] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    // By its path in the sandbox, where it must be runnable (as execve
    // wants it): under "read-write" it is refused, under
    // "read-write-exec" it runs.
    let r = w.sandboxed("--guest-path", &["/work/s.sh"]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    let exec_policy = policy_file(
        &w.dir,
        "exec.toml",
        &format!(
            "{}\n[[files]]\npath = \"/work\"\nhost_path = \"{}\"\naccess = \"read-write-exec\"\n",
            host_tools_policy(),
            w.host().display()
        ),
    );
    let r = run(&[
        "exec",
        "--policy",
        &exec_policy,
        "--guest-path",
        "/work/s.sh",
        "a",
        "b",
    ]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "sh: /work/s.sh a b\n", "")
    );
    let r = run(&[
        "exec",
        "--policy",
        &exec_policy,
        "--guest-path",
        "/work/p.py",
        "x",
    ]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "['x']\n", "")
    );
    // By its host path: the sandbox must show it at that path.
    let r = w.sandboxed(sh.to_str().expect("path"), &["c"]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(
        r.stderr.contains("a script (#!/bin/sh): its interpreter reads it by its path, which the sandbox's files do not show"),
        "{}",
        r.stderr
    );
    let shown = policy_file(
        &w.dir,
        "shown.toml",
        &format!(
            "{}\n[[files]]\npath = \"{}\"\naccess = \"read\"\n",
            host_tools_policy(),
            w.host().display()
        ),
    );
    let script = sh.to_str().expect("path");
    let r = run(&["exec", "--policy", &shown, script, "c"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, format!("sh: {script} c\n").as_str(), "")
    );
}

/// A dynamically linked C++ program (samples/cpp/threads.cpp: iostream,
/// exceptions, std::thread, futures), built with the host's g++ against
/// libstdc++ and libgcc_s from the host's /usr, as natively.
#[test]
fn a_dynamic_cpp_program_matches_native() {
    let w = Work::new("dyn-cpp");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/cpp/threads.cpp");
    let exe = w.dir.join("cpp_threads");
    let built = Command::new("g++")
        .args(["-O2", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("g++ (apt-get install g++)");
    assert!(built.success(), "g++");
    let out = same_as_native(&w, exe.to_str().expect("path"), &[]);
    assert!(!out.is_empty());
}

/// glibc's and musl's dynamic loaders, each with a C sample built against
/// it; and the dynamic loader run by hand.
#[test]
fn glibc_and_musl_dynamic_samples_match_native() {
    let w = Work::new("dyn-samples");
    for name in ["hello_dynamic", "hello_musl_dynamic"] {
        let p = elf_sample(name);
        same_as_native(&w, p.to_str().expect("path"), &[]);
    }
    // (processes.rs runs processes_dynamic: fork, execve of itself.)
    same_as_native(
        &w,
        "/lib64/ld-linux-x86-64.so.2",
        &["/bin/cat", "/etc/os-release"],
    );
}

#[test]
fn file_mappings_match_native() {
    let w = Work::new("dyn-filemap");
    for name in ["filemap", "filemap_dynamic"] {
        let p = elf_sample(name);
        let out = same_as_native(&w, p.to_str().expect("path"), &["/work"]);
        assert!(out.ends_with("filemap: all ok\n"), "{name}: {out}");
    }
    // A program maps a file MAP_SHARED, writes it and exits without
    // munmap: the file holds the write afterwards, as natively.
    for dir in [w.native(), w.host()] {
        std::fs::write(dir.join("se"), "xxxxxxxxyyyy").expect("file");
    }
    let p = elf_sample("filemap");
    same_as_native(&w, p.to_str().expect("path"), &["shared-exit", "/work/se"]);
    for dir in [w.native(), w.host()] {
        assert_eq!(
            std::fs::read_to_string(dir.join("se")).expect("read back"),
            "SHARED!\nyyyy"
        );
    }
    // A file truncated under its shared mapping: the write past the new
    // end is SIGBUS, natively and in the sandbox, with the runner's line;
    // the file keeps its new size.
    let native = run_native(
        &p,
        &["truncate", w.native().to_str().expect("path")],
        b"",
        &[],
    );
    assert_eq!(
        native.status, -1,
        "natively killed by SIGBUS: {}",
        native.stdout
    );
    let r = w.sandboxed(p.to_str().expect("path"), &["truncate", "/work"]);
    assert_eq!((r.status, r.stdout.as_str()), (135, ""), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("SIGBUS (bus error: access to a page of a mapped file past its end)"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::metadata(w.host().join("cut")).expect("cut").len(),
        100
    );
    // PROT_EXEC of a file: allowed under "read-exec" (/usr), EPERM under
    // "read" (/etc; not /etc/os-release, a link into /usr), as on a
    // noexec mount.
    let r = w.sandboxed(p.to_str().expect("path"), &["exec", "/usr/bin/true"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "exec map: ok\n"),
        "{}",
        r.stderr
    );
    let r = w.sandboxed(p.to_str().expect("path"), &["exec", "/etc/passwd"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "exec map: EPERM\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_dynamic_program_without_its_interpreter_in_the_policy_is_explained() {
    let r = run(&["exec", "/bin/true"]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(
        r.stderr.contains("/bin/true: dynamically linked: its interpreter /lib64/ld-linux-x86-64.so.2 cannot be run in the sandbox (ENOENT)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("path = \"/lib64\" access = \"read-exec\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("host-tools.toml"), "{}", r.stderr);
    // Shown, but only for reading: not runnable (EACCES).
    let dir = temp_dir("dyn-noexec");
    let policy = policy_file(
        &dir,
        "p.toml",
        "[[files]]\npath = \"/lib64\"\nhost_path = \"/usr/lib64\"\naccess = \"read\"\n\
         [[files]]\npath = \"/lib\"\nhost_path = \"/usr/lib\"\naccess = \"read\"\n",
    );
    let r = run(&["exec", "--policy", &policy, "/bin/true"]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(r.stderr.contains("(EACCES)"), "{}", r.stderr);
}

/// Builds `source` with cc and `flags` (after the source) into `dir/name`.
fn build_c(dir: &Path, name: &str, flags: &[&str], source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("source");
    let out = dir.join(name);
    let status = Command::new("cc")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .args(flags)
        .status()
        .expect("cc (apt-get install gcc)");
    assert!(status.success(), "cc {flags:?} {name}");
    out
}

const HELLO: &str = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n";

#[test]
fn hostile_interpreters_and_libraries_are_refused_cleanly() {
    let w = Work::new("dyn-hostile");
    let dir = w.dir.clone();
    // PT_INTERP outside the policy: the lookup's error, named.
    let elsewhere = build_c(
        &dir,
        "elsewhere",
        &["-Wl,--dynamic-linker=/opt/evil/ld.so"],
        HELLO,
    );
    let r = w.sandboxed(elsewhere.to_str().expect("path"), &[]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("its interpreter /opt/evil/ld.so cannot be run in the sandbox (ENOENT)"),
        "{}",
        r.stderr
    );
    // An interpreter in the work tree, truncated: refused with the reason.
    let ld = std::fs::read("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").expect("ld.so");
    let cut = w.host().join("ld.so");
    std::fs::write(&cut, &ld[..200]).expect("write");
    std::fs::set_permissions(&cut, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // /work is "read-write" (no -exec): EACCES first.
    let truncated = build_c(
        &dir,
        "truncated",
        &["-Wl,--dynamic-linker=/work/ld.so"],
        HELLO,
    );
    let r = w.sandboxed(truncated.to_str().expect("path"), &[]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(r.stderr.contains("(EACCES)"), "{}", r.stderr);
    let exec_policy = policy_file(
        &dir,
        "exec.toml",
        &format!(
            "{}\n[[files]]\npath = \"/work\"\nhost_path = \"{}\"\naccess = \"read-write-exec\"\n",
            host_tools_policy(),
            w.host().display()
        ),
    );
    let r = run(&[
        "exec",
        "--policy",
        &exec_policy,
        truncated.to_str().expect("path"),
    ]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(
        r.stderr.contains("its interpreter /work/ld.so: "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("truncated"), "{}", r.stderr);
    // A static program posing as the interpreter runs, confined like any
    // guest code: it starts, finds the program's headers where it expects
    // its own and dies of SIGSEGV, natively as in the sandbox. (Its path is
    // the same on the host and in the sandbox.)
    let evil = build_c(
        &dir,
        "evil",
        &["-static"],
        "#include <stdio.h>\nint main(void) { puts(\"interpreter ran\"); return 7; }\n",
    );
    let posing = build_c(
        &dir,
        "posing",
        &[&format!("-Wl,--dynamic-linker={}", evil.display())],
        HELLO,
    );
    let evil_policy = policy_file(
        &dir,
        "evil.toml",
        &format!(
            "[[files]]\npath = \"{0}\"\nhost_path = \"{0}\"\naccess = \"read-exec\"\n",
            evil.display()
        ),
    );
    let native = run_native(&posing, &[], b"", &[]);
    assert_eq!(
        native.status, -1,
        "natively killed by a signal: {}",
        native.stderr
    );
    let r = run(&[
        "exec",
        "--policy",
        &evil_policy,
        posing.to_str().expect("path"),
    ]);
    assert_eq!(r.status, 139, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("runner: guest killed by SIGSEGV"),
        "{}",
        r.stderr
    );
    // A truncated shared library: the loader's own error and status, as
    // natively.
    let lib_src = dir.join("answer.c");
    std::fs::write(&lib_src, "int answer(void) { return 42; }\n").expect("lib source");
    let lib = w.host().join("libanswer.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&lib_src)
        .status()
        .expect("cc");
    assert!(built.success(), "cc -shared");
    let host = w.host().display().to_string();
    let user = build_c(
        &dir,
        "user",
        &["-L", &host, "-lanswer"],
        "int answer(void);\nint main(void) { return answer(); }\n",
    );
    let lib_policy = policy_file(
        &dir,
        "lib.toml",
        &format!(
            "{}\n[[files]]\npath = \"/work\"\nhost_path = \"{host}\"\naccess = \"read-write-exec\"\n",
            host_tools_policy().replace("HOME = \"/\" }", "HOME = \"/\", LD_LIBRARY_PATH = \"/work\" }")
        ),
    );
    let user_path = user.to_str().expect("path");
    let whole = run(&["exec", "--policy", &lib_policy, user_path]);
    assert_eq!(whole.status, 42, "{}", whole.stderr);
    let bytes = std::fs::read(&lib).expect("lib");
    std::fs::write(&lib, &bytes[..300]).expect("truncate lib");
    let native = run_native(&user, &[], b"", &[("LD_LIBRARY_PATH", &host)]);
    assert_eq!(native.status, 127, "{}", native.stderr);
    let boxed = run(&["exec", "--policy", &lib_policy, user_path]);
    assert_eq!(
        (boxed.status, boxed.stderr.as_str()),
        (
            native.status,
            native.stderr.replace(&host, "/work").as_str()
        )
    );
}
