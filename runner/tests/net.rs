//! Sockets under a policy, on real KVM: the `netop` guest (samples/guest/)
//! talks to loopback listeners the test starts. Exit statuses of `netop`
//! are errnos. A refused connect must never reach the host's listener.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;
use support::*;

const EACCES: i32 = 13;
const EAFNOSUPPORT: i32 = 97;

/// A TCP listener answering each connection with "pong:" + what it read.
struct Echo {
    addr: SocketAddr,
    listener: TcpListener,
}

impl Echo {
    fn new(bind: &str) -> Echo {
        let listener = TcpListener::bind(bind).unwrap_or_else(|e| {
            panic!("cannot listen on {bind} (is loopback {bind} configured?): {e}")
        });
        Echo {
            addr: listener.local_addr().expect("addr"),
            listener,
        }
    }

    /// Serves `n` connections on a thread; returns what each one sent.
    fn serve(self, n: usize) -> JoinHandle<Vec<Vec<u8>>> {
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..n {
                let (mut c, _) = self.listener.accept().expect("accept");
                c.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let mut got = Vec::new();
                c.read_to_end(&mut got).expect("read");
                c.write_all(b"pong:").expect("write");
                c.write_all(&got).expect("write");
                seen.push(got);
            }
            seen
        })
    }

    /// Asserts that nobody has connected.
    fn assert_untouched(&self) {
        self.listener.set_nonblocking(true).expect("nonblocking");
        match self.listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("a refused connect reached the listener: {other:?}"),
        }
    }
}

fn policy(tag: &str, text: &str) -> PathBuf {
    let dir = temp_dir(tag);
    let p = dir.join("policy.toml");
    std::fs::write(&p, text).expect("policy");
    p
}

fn netop(policy: &Path, args: &[&str]) -> Run {
    exec_sample(
        &["--policy", policy.to_str().expect("utf-8")],
        "netop",
        args,
    )
}

#[test]
fn tcp_to_an_allowed_peer() {
    let echo = Echo::new("127.0.0.1:0");
    let port = echo.addr.port().to_string();
    let p = policy(
        "net-tcp",
        &format!("[[network]]\naddress = \"127.0.0.1:{port}\"\n"),
    );
    let server = echo.serve(2);
    let r = netop(&p, &["t", &port, "ping"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "pong:ping", "")
    );
    // read/write on the socket descriptor instead of sendto/recvfrom.
    let r = netop(&p, &["w", &port, "hello"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "pong:hello"));
    assert_eq!(
        server.join().expect("server"),
        vec![b"ping".to_vec(), b"hello".to_vec()]
    );
}

#[test]
fn tcp_to_an_unlisted_port_is_refused_before_connecting() {
    let allowed = Echo::new("127.0.0.1:0");
    let other = Echo::new("127.0.0.1:0");
    let p = policy(
        "net-refused",
        &format!(
            "[[network]]\naddress = \"127.0.0.1:{}\"\n",
            allowed.addr.port()
        ),
    );
    let r = netop(&p, &["t", &other.addr.port().to_string(), "ping"]);
    assert_eq!((r.status, r.stdout.as_str()), (EACCES, ""));
    other.assert_untouched();
    allowed.assert_untouched();
    // A UDP rule does not allow TCP to the same port.
    let p = policy(
        "net-proto",
        &format!(
            "[[network]]\naddress = \"127.0.0.1:{}\"\nprotocol = \"udp\"\n",
            other.addr.port()
        ),
    );
    let r = netop(&p, &["t", &other.addr.port().to_string(), "ping"]);
    assert_eq!(r.status, EACCES);
    other.assert_untouched();
}

#[test]
fn without_network_rules_there_are_no_sockets() {
    let echo = Echo::new("127.0.0.1:0");
    let r = exec_sample(&[], "netop", &["t", &echo.addr.port().to_string(), "ping"]);
    assert_eq!(r.status, EACCES);
    echo.assert_untouched();
}

#[test]
fn udp_to_an_allowed_peer_and_not_to_others() {
    let peer = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = peer.local_addr().expect("addr").port().to_string();
    let p = policy(
        "net-udp",
        &format!("[[network]]\naddress = \"127.0.0.1:{port}\"\nprotocol = \"udp\"\n"),
    );
    let server = std::thread::spawn(move || {
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 100];
        let (n, from) = peer.recv_from(&mut buf).expect("recv");
        let mut reply = b"upong:".to_vec();
        reply.extend_from_slice(&buf[..n]);
        peer.send_to(&reply, from).expect("send");
        buf[..n].to_vec()
    });
    let r = netop(&p, &["u", &port, "dgram"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "upong:dgram", "")
    );
    assert_eq!(server.join().expect("server"), b"dgram");
    // Another port: refused before anything is sent.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let r = netop(
        &p,
        &[
            "u",
            &silent.local_addr().expect("a").port().to_string(),
            "x",
        ],
    );
    assert_eq!(r.status, EACCES, "{}", r.stderr);
    silent.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 8];
    assert_eq!(
        silent.recv_from(&mut buf).map_err(|e| e.kind()).err(),
        Some(ErrorKind::WouldBlock),
        "a refused datagram was sent"
    );
}

#[test]
fn ipv6_loopback() {
    let echo = Echo::new("[::1]:0");
    let port = echo.addr.port().to_string();
    let p = policy(
        "net-v6",
        &format!("[[network]]\naddress = \"[::1]:{port}\"\n"),
    );
    let other = Echo::new("[::1]:0");
    let r = netop(&p, &["T", &other.addr.port().to_string(), "x"]);
    assert_eq!(r.status, EACCES);
    other.assert_untouched();
    let server = echo.serve(1);
    let r = netop(&p, &["T", &port, "six"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "pong:six"));
    assert_eq!(server.join().expect("server"), vec![b"six".to_vec()]);
}

/// Families other than AF_INET, AF_INET6 and AF_UNIX (here AF_NETLINK)
/// do not exist.
#[test]
fn only_inet_families_exist() {
    let p = policy("net-family", "[[network]]\naddress = \"127.0.0.1:9\"\n");
    assert_eq!(netop(&p, &["x", "1"]).status, EAFNOSUPPORT);
}

/// A free loopback TCP port (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A TCP server in the sandbox (samples/c/tcp_server.c) on the address a
/// `listen = true` rule names answers clients outside it: accept4 and
/// accept, the peer's address, getsockname.
#[test]
fn a_server_in_the_sandbox_answers_clients_outside_it() {
    let port = free_port();
    let p = policy(
        "net-server",
        &format!("[[network]]\naddress = \"127.0.0.1:{port}\"\nlisten = true\n"),
    );
    let mut child = runner()
        .args(["exec", "--policy", p.to_str().expect("utf-8")])
        .arg(elf_sample("tcp_server"))
        .args([port.to_string().as_str(), "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runner");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).expect("read") == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    assert_eq!(
        String::from_utf8_lossy(&first),
        format!("listening on {port}")
    );
    for i in 1..=3 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        c.write_all(format!("hello {i}\n").as_bytes())
            .expect("send");
        let mut reply = String::new();
        c.read_to_string(&mut reply).expect("reply");
        assert_eq!(reply, format!("HELLO {i} #{i}\n"));
    }
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("rest");
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert_eq!(
        (status.code(), rest.as_str()),
        (Some(0), "served 3\n"),
        "{err}"
    );
}

/// Edge-triggered epoll reports data (or a connection) that arrives after
/// the program drained the descriptor, even when no wait saw it empty in
/// between (samples/c/epoll_edges.c): pipes, eventfds, a TCP listener and
/// connection; the same counts as natively. Go's netpoller waits this
/// way: before, a Go server under load missed connections. A watched pipe
/// end closes when the program closes it (EPIPE for its writer).
#[test]
fn edge_triggered_epoll_sees_what_arrives_after_a_drain_as_natively() {
    let port = free_port().to_string();
    let native = std::process::Command::new(elf_sample("epoll_edges"))
        .arg(&port)
        .output()
        .expect("native run");
    let want = String::from_utf8_lossy(&native.stdout).into_owned();
    assert_eq!(native.status.code(), Some(0), "natively: {want}");
    assert!(
        want.contains("drained 1 then written 1")
            && want.contains("accepted 1 then connected 1")
            && want.contains("write -1 errno 32, watched again 0"),
        "natively: {want}"
    );
    let addr = format!("127.0.0.1:{port}");
    let p = policy(
        "net-edges",
        &format!(
            "[[network]]\naddress = \"{addr}\"\nlisten = true\n\n[[network]]\naddress = \"{addr}\"\n"
        ),
    );
    let r = exec_elf(
        &["--policy", p.to_str().expect("utf-8")],
        "epoll_edges",
        &[port.as_str()],
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, want.as_str()),
        "{}",
        r.stderr
    );
}

/// AF_UNIX socketpairs (samples/c/socketpair.c, musl and glibc), with no
/// `[[network]]` rule at all, as natively: a stream pair between a parent
/// and its forked child (shutdown, end of file), datagram and seqpacket
/// pairs keeping message boundaries (MSG_PEEK, MSG_TRUNC), a nonblocking
/// pair (EAGAIN, poll), getsockopt and getsockname, EPIPE, and Linux's
/// errors. The run is locked down, so the seccomp filter allows what the
/// pair needs without network rules.
#[test]
fn socketpairs_work_without_network_rules_as_natively() {
    for name in ["socketpair", "socketpair_glibc"] {
        let native = std::process::Command::new(elf_sample(name))
            .output()
            .expect("native run");
        let want = String::from_utf8_lossy(&native.stdout).into_owned();
        assert_eq!(native.status.code(), Some(0), "{name} natively: {want}");
        assert!(
            want.contains("stream: child got 4 bytes: ping") && want.ends_with("done\n"),
            "{name} natively: {want}"
        );
        let r = exec_elf(&["--timeout", "20"], name, &[]);
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (0, want.as_str(), ""),
            "{name}"
        );
    }
}

/// Socketpair buffers are host kernel memory: the ends alive at once are
/// bounded by a quarter of limits.memory (16 pairs under 16 MiB), past
/// which socketpair fails with ENFILE and one stderr line; closing them
/// gives the room back; an end's send buffer cannot grow past what the
/// budget counts (Linux reports 2 x 32 KiB).
#[test]
fn socketpairs_are_bounded_by_the_memory_limit() {
    let p = policy("net-pairs", "[limits]\nmemory = \"16MiB\"\n");
    let r = exec_elf(
        &["--policy", p.to_str().expect("utf-8")],
        "socketpair",
        &["many"],
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (
            0,
            "pairs: 16, then Too many open files in system\nafter closing them: ok\nSO_SNDBUF after asking 1 MiB: 65536\n"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr,
        "runner: socketpair refused: 16 pairs are open, what a quarter of limits.memory allows (their buffers are host kernel memory); returned ENFILE\n"
    );
}

/// Without a listen rule for the address: bind is EACCES before the host
/// is asked, and so is listen on an unbound socket (Linux would bind it to
/// an ephemeral port no rule names); an outbound rule for the same
/// address and port does not let the guest bind it.
#[test]
fn binding_an_address_no_listen_rule_names_is_refused() {
    let port = free_port();
    let other = free_port();
    let p = policy(
        "net-server-refused",
        &format!(
            "[[network]]\naddress = \"127.0.0.1:{port}\"\n\n[[network]]\naddress = \"127.0.0.1:{other}\"\nlisten = true\n"
        ),
    );
    let r = exec_elf(
        &["--policy", p.to_str().expect("utf-8")],
        "tcp_server",
        &["refuse", port.to_string().as_str()],
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "bind: errno 13, listen unbound: errno 13\n"),
        "{}",
        r.stderr
    );
    // Nothing was bound on the host: the port is still free.
    TcpListener::bind(("127.0.0.1", port)).expect("the refused port is still free");
}

/// busybox `httpd` in the sandbox serves a page to a client outside it:
/// it forks a child per connection, which serves it while the parent
/// waits in `accept` for the next (a wait that must not hold up the
/// child: `readiness::wait_unless_ready`).
#[test]
fn busybox_httpd_serves_a_page() {
    let port = free_port();
    let www = temp_dir("net-httpd-www");
    std::fs::write(www.join("index.html"), "<h1>from the sandbox</h1>\n").expect("page");
    let p = policy(
        "net-httpd",
        &format!(
            "[[network]]\naddress = \"127.0.0.1:{port}\"\nlisten = true\n\n[[files]]\npath = \"/www\"\nhost_path = \"{}\"\naccess = \"read\"\n",
            www.display()
        ),
    );
    let mut child = runner()
        .args([
            "exec",
            "--policy",
            p.to_str().expect("utf-8"),
            "/bin/busybox",
            "httpd",
            "-f",
        ])
        .args(["-p", format!("127.0.0.1:{port}").as_str(), "-h", "/www"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runner");
    let mut reply = String::new();
    for attempt in 0.. {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut c) => {
                c.set_read_timeout(Some(Duration::from_secs(20)))
                    .expect("timeout");
                for _ in 0..2 {
                    // Two requests, one connection each.
                    reply.clear();
                    c.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
                        .expect("request");
                    c.read_to_string(&mut reply).expect("reply");
                    c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("again");
                    c.set_read_timeout(Some(Duration::from_secs(20)))
                        .expect("timeout");
                }
                break;
            }
            Err(_) if attempt < 100 => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("httpd never listened: {e}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(
        reply.ends_with("\r\n\r\n<h1>from the sandbox</h1>\n"),
        "{reply}"
    );
}

/// `samples/c/unix_sockets DIR [args]` in the sandbox with DIR granted
/// read-write as /tvunix (or read-only), no `[[network]]` rule.
fn unix_sample(name: &str, dir: &Path, access: &str, args: &[&str]) -> Run {
    let p = policy(
        &format!("unix-policy-{name}-{}", args.join("-").replace('@', "at")),
        &format!(
            "[limits]\nopen_files = 1024\n\n[[files]]\npath = \"/tvunix\"\nhost_path = \"{}\"\naccess = \"{access}\"\n",
            dir.display()
        ),
    );
    let mut all = vec!["/tvunix"];
    all.extend_from_slice(args);
    exec_elf(
        &["--policy", p.to_str().expect("utf-8"), "--timeout", "30"],
        name,
        &all,
    )
}

/// AF_UNIX sockets with names (samples/c/unix_sockets.c, musl and glibc),
/// as natively: stream echo over an abstract name and over a path in a
/// read-write tree (getsockname/getpeername with Linux's lengths,
/// SO_PEERCRED), datagrams whose recvfrom shows the sender's name, an
/// unbound sender and an empty datagram, ECONNREFUSED / ENOENT /
/// EADDRINUSE / EAGAIN on a full backlog, unlink freeing a path name, and
/// SCM_RIGHTS over a socketpair and over both named connections: a
/// pipe's read end and an open file read through by the child
/// (MSG_CMSG_CLOEXEC), MSG_CTRUNC with room for one descriptor and with
/// none, descriptors arriving with the bytes they were sent with.
#[test]
fn unix_sockets_with_names_and_scm_rights_match_native() {
    for name in ["unix_sockets", "unix_sockets_glibc"] {
        let native_dir = temp_dir(&format!("unix-native-{name}"));
        let native = run_native(
            &elf_sample(name),
            &[native_dir.to_str().expect("utf-8")],
            b"",
            &[],
        );
        assert_eq!(native.status, 0, "{name} natively: {}", native.stderr);
        assert!(
            native.stdout.contains("then \"D\": 1 descriptor(s)")
                && native.stdout.ends_with("done\n"),
            "{name} natively: {}",
            native.stdout
        );
        let vm_dir = temp_dir(&format!("unix-vm-{name}"));
        let r = unix_sample(name, &vm_dir, "read-write", &[]);
        assert!(
            r.status == 0 && r.stdout == native.stdout && r.stderr.is_empty(),
            "{name}: status {}, stderr {}\n{}",
            r.status,
            r.stderr,
            diff_lines(&native.stdout, &r.stdout)
        );
        // No host node: the path names were the sandbox's own.
        let socket_files: Vec<_> = std::fs::read_dir(&vm_dir)
            .expect("read dir")
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_type()
                    .is_ok_and(|t| std::os::unix::fs::FileTypeExt::is_socket(&t))
            })
            .collect();
        assert!(socket_files.is_empty(), "{name}: {socket_files:?}");
    }
}

/// Hostile: the guest's abstract names are never the host's. A host
/// program listening on an abstract name is not reached (ECONNREFUSED),
/// and the guest binding the same name does not collide with it; a host
/// program's socket file inside the granted read-write tree is not
/// reached either (ECONNREFUSED; binding its path is EADDRINUSE), and the
/// host listeners see no connection.
#[test]
fn unix_names_never_reach_the_hosts_sockets() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
    let abstract_name = format!("tv-host-{}", std::process::id());
    let host_abstract = UnixListener::bind_addr(
        &UnixAddr::from_abstract_name(abstract_name.as_bytes()).expect("name"),
    )
    .expect("host abstract listener");
    host_abstract.set_nonblocking(true).expect("nonblocking");
    let dir = temp_dir("unix-host-file");
    let host_file = UnixListener::bind(dir.join("host.sock")).expect("host socket file");
    host_file.set_nonblocking(true).expect("nonblocking");
    let at = format!("@{abstract_name}");
    let r = unix_sample("unix_sockets", &dir, "read-write", &["connect", &at]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "connect: Connection refused\nbind: ok\n", ""),
        "abstract"
    );
    let r = unix_sample(
        "unix_sockets",
        &dir,
        "read-write",
        &["connect", "host.sock"],
    );
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "connect: Connection refused\nbind: Address in use\n", ""),
        "socket file"
    );
    for l in [&host_abstract, &host_file] {
        assert_eq!(
            l.accept().map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::WouldBlock),
            "a host listener was reached"
        );
    }
    // Outside a writable tree, a path name is refused, as natively.
    let r = unix_sample("unix_sockets", &dir, "read", &["connect", "ro.sock"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (
            0,
            "connect: No such file or directory\nbind: Permission denied\n",
            ""
        ),
        "read-only tree"
    );
}

/// Hostile: passing descriptors in a loop without receiving stops with
/// ETOOMANYREFS once more than RLIMIT_NOFILE are in flight (the runner's
/// memory stays bounded), and receiving gives the room back; malformed
/// control messages are EINVAL and a descriptor that is not open EBADF,
/// as natively.
#[test]
fn scm_rights_floods_and_bad_control_messages_are_refused() {
    let dir = temp_dir("unix-flood");
    let r = unix_sample("unix_sockets", &dir, "read-write", &["flood"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (
            0,
            "flood: stopped after 1200 descriptors: ETOOMANYREFS\nflood: received some, send again: ok\n",
            ""
        ),
    );
    for name in ["unix_sockets", "unix_sockets_glibc"] {
        let native = run_native(&elf_sample(name), &["/nonexistent", "badcmsg"], b"", &[]);
        assert!(
            native.stdout.contains("descriptor -1: Bad file descriptor"),
            "{}",
            native.stdout
        );
        let r = unix_sample(name, &dir, "read-write", &["badcmsg"]);
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (0, native.stdout.as_str(), ""),
            "{name}"
        );
    }
}
