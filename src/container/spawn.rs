//! Starting the container's first process: clone(2) into new namespaces,
//! a child that waits on a pipe until the parent lets it go, then makes its
//! root filesystem, takes its identity and execs the command.
//!
//! The wait is where part 2 sets up the network: between clone and go, the
//! parent knows the child's PID (so its namespaces, /proc/PID/ns/*) and the
//! child has run none of the image's code yet.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::pty::Winsize;
use nix::sched::{clone, CloneFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{pipe2, setgid, setgroups, sethostname, setuid, Gid, Pid, Uid};

use crate::config::{self, Process};
use crate::container::rootfs::{self, Overlay};
use crate::container::{exec, fds, init, tty};
use crate::exit;

/// Everything the child needs, prepared by the parent before clone.
pub struct Spec {
    /// The image as the user named it, for messages.
    pub image: String,
    pub hostname: String,
    pub overlay: Overlay,
    pub process: Process,
    pub stdio: Stdio,
    /// `--init`: this child stays as PID 1, an init, and the command runs
    /// as its child. (Re-executing ctr there would need its dynamic loader
    /// and libc inside the image: the clone already is ctr.)
    pub init: bool,
    /// A network namespace of its own (`--network bridge|none`); the host's
    /// with `--network host`.
    pub new_netns: bool,
    /// Files bind-mounted over the image's (/etc/hosts...), made by the parent.
    pub binds: Vec<rootfs::Bind>,
}

pub enum Stdio {
    /// The caller's stdin (`-i`) or /dev/null, and the caller's stdout/stderr.
    Inherit { stdin: bool },
    /// `-t`: a pty of the container's own devpts as stdin, stdout, stderr
    /// and controlling terminal, of the caller's terminal's size; its master
    /// goes to ctr over `socket` ([`tty::make_console`]).
    Console {
        socket: OwnedFd,
        size: Option<Winsize>,
    },
}

/// A child that exists, in its namespaces, and waits for [`Started::go`].
pub struct Started {
    pub pid: Pid,
    go: OwnedFd,
}

impl Started {
    /// Lets the child go on to make its root and exec the command.
    pub fn go(self) -> Result<()> {
        nix::unistd::write(&self.go, b"g").context("starting the container")?;
        Ok(())
    }
}

// ANCHOR: spawn
/// Clones the child into new UTS, PID, mount and IPC namespaces. It waits;
/// dropping the returned [`Started`] without `go` makes it exit.
pub fn spawn(spec: &Spec) -> Result<Started> {
    let (wait_end, go_end) = pipe2(OFlag::O_CLOEXEC).context("making the start pipe")?;
    let mut flags = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWIPC;
    if spec.new_netns {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let go_raw = go_end.as_raw_fd();
    let mut stack = vec![0u8; 1024 * 1024];
    // SAFETY: ctr is single-threaded here (the tty threads start later), so
    // the child, a copy of this process, holds no lock another thread held.
    // It runs `child` on its own stack and ends in execve or exit.
    let pid = unsafe {
        clone(
            Box::new(|| child(spec, &wait_end, go_raw)),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .context("clone(2) failed to create the container's namespaces")?;
    Ok(Started { pid, go: go_end })
}
// ANCHOR_END: spawn

// ANCHOR: child
/// The child: first in its namespaces, still with the host's filesystem.
fn child(spec: &Spec, wait_end: &OwnedFd, go_raw: RawFd) -> isize {
    // SAFETY: closing our copy of the pipe's other end, which nothing else here uses.
    unsafe { libc::close(go_raw) };
    // If ctr dies, so does the container: no one would be left to wait for it.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let mut byte = [0u8; 1];
    match nix::unistd::read(wait_end, &mut byte) {
        Ok(1) => {}
        // The parent gave up before letting us go: it has said why.
        _ => return exit::FAILED.into(),
    }
    // Before any path of the container's is resolved (its working directory
    // above all): see fds.rs. The console socket stays until the pty is sent.
    let console = match &spec.stdio {
        Stdio::Console { socket, .. } => Some(socket.as_raw_fd()),
        Stdio::Inherit { .. } => None,
    };
    if let Err(err) = fds::close_inherited(console) {
        return fail(spec, exit::FAILED, &format!("{err:#}"));
    }
    let ready = match prepare(spec) {
        Ok(ready) => ready,
        Err(err) => return fail(spec, exit::FAILED, &format!("{err:#}")),
    };
    if spec.init {
        // This process stays as PID 1, an init; the command runs as its child.
        return init::run(|| start(spec, &ready)).into();
    }
    start(spec, &ready).into()
}

/// What the command needs once the root is made.
struct Ready {
    user: config::User,
    env: Vec<String>,
}

/// Takes the user's identity, enters the working directory and execs: the
/// command's own process, PID 1 or init's child. Returns only on failure,
/// with the status to exit with, after saying why.
fn start(spec: &Spec, ready: &Ready) -> u8 {
    // ctr blocked the signals it forwards; the command must get them.
    if let Err(err) = SigSet::empty().thread_set_mask() {
        return fail(spec, exit::FAILED, &format!("unblocking signals: {err}")) as u8;
    }
    let failure = match become_user(&ready.user, &spec.process.cwd) {
        Ok(()) => exec::exec(&spec.process.argv, &ready.env),
        Err(err) => exec::Failure {
            status: exit::FAILED,
            message: format!("{err:#}"),
        },
    };
    fail(spec, failure.status, &failure.message) as u8
}

/// Stdio, root, hostname, and the user looked up in the image's files; then
/// the terminal (`-t`), which must be made inside the root, on its devpts.
fn prepare(spec: &Spec) -> Result<Ready> {
    rootfs::enter(&spec.overlay, &spec.binds)?;
    // Inside the root: stdin is the container's own /dev/null, not the host's.
    set_stdio(&spec.stdio)?;
    sethostname(&spec.hostname)
        .with_context(|| format!("setting the hostname to {:?}", spec.hostname))?;
    let passwd = read_optional("/etc/passwd")?;
    let group = read_optional("/etc/group")?;
    let user = config::resolve_user(&spec.process.user, passwd.as_deref(), group.as_deref())
        .with_context(|| format!("user {:?}", spec.process.user))?;
    let env = config::with_home(spec.process.env.clone(), &user.home);
    // docker makes a missing working directory, owned by root.
    let cwd = &spec.process.cwd;
    std::fs::create_dir_all(cwd)
        .with_context(|| format!("creating the working directory {cwd}"))?;
    if let Stdio::Console { socket, size } = &spec.stdio {
        tty::make_console(socket, size.as_ref(), Uid::from_raw(user.uid))?;
        // The pty is stdio now: nothing of ctr's stays open in the container,
        // not even in an --init that never execs.
        fds::close_inherited(None)?;
    }
    Ok(Ready { user, env })
}

/// The user's groups and ids, then its working directory (as that user:
/// a directory it may not enter is an error here, not later). `ctr exec`
/// does the same.
pub(super) fn become_user(user: &config::User, cwd: &str) -> Result<()> {
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).context("setting the supplementary groups")?;
    setgid(Gid::from_raw(user.gid)).with_context(|| format!("setting the gid {}", user.gid))?;
    setuid(Uid::from_raw(user.uid)).with_context(|| format!("setting the uid {}", user.uid))?;
    std::env::set_current_dir(cwd)
        .with_context(|| format!("entering the working directory {cwd} as uid {}", user.uid))
}
// ANCHOR_END: child

fn set_stdio(stdio: &Stdio) -> Result<()> {
    match stdio {
        Stdio::Inherit { stdin: true } => {}
        Stdio::Inherit { stdin: false } => {
            let null = File::open("/dev/null").context("opening /dev/null")?;
            dup_onto(null.as_raw_fd(), &[0])?;
        }
        // Made later, in the container's root (prepare).
        Stdio::Console { .. } => {}
    }
    Ok(())
}

pub(super) fn dup_onto(fd: RawFd, targets: &[RawFd]) -> Result<()> {
    for &target in targets {
        // SAFETY: dup2 on descriptors we own; the targets are stdio.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(std::io::Error::last_os_error()).context("setting up stdio");
        }
    }
    Ok(())
}

/// A file of the container's, None when it has none (an image without
/// /etc/group, say); any other error is one.
pub(super) fn read_optional(path: &str) -> Result<Option<String>> {
    match File::open(path) {
        Ok(mut f) => {
            let mut text = String::new();
            f.read_to_string(&mut text)
                .with_context(|| format!("reading {path}"))?;
            Ok(Some(text))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading the image's {path}")),
    }
}

fn fail(spec: &Spec, status: u8, message: &str) -> isize {
    eprintln!("ctr: running {}: {message}", spec.image);
    status.into()
}
