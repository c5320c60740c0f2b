//! Lesson 9: root inside, an ordinary user outside.
//!
//! `step-09-userns run [--memory N] [--pids N] [--cpus F] [--hostname NAME]
//! IMAGE [CMD [ARGS...]]` is lesson 8 in a user namespace of its own: the
//! container's root is uid 0 of that namespace, which the host knows as
//! another id (a range of ids no file of the host has, when host root runs
//! the lesson; the user's own id, when an ordinary user does). It runs
//! without sudo: what needs the host's root (the bridge, the cgroup) is
//! then left out, and the lesson says so. (`pull IMAGE` is lesson 4's;
//! `net-down`, lesson 6's; the limits, lesson 7's; the lockdown, lesson 8's.)

mod capabilities;
mod cgroup;
mod devices;
mod layers;
mod masks;
mod nat;
mod net;
mod pull;
mod reference;
mod registry;
mod seccomp;
mod userns;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sched::{clone, CloneFlags};
use nix::sys::signal::{kill, signal, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{
    chdir, chroot, execvp, gethostname, pipe2, read, sethostname, write, Gid, Pid, Uid,
};
use oci_spec::image::ImageConfiguration;

use crate::cgroup::{Cgroup, Limits};

/// Exit status when the lesson itself fails (docker uses 125 for the same).
const EXIT_LESSON_FAILED: u8 = 125;

// ANCHOR: cli
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download IMAGE (e.g. busybox, 127.0.0.1:5000/library/busybox:latest)
    Pull {
        /// NAME[:TAG] or NAME@sha256:DIGEST
        image: String,
    },
    /// Run CMD (default: the image's) in new user, UTS, PID, mount and
    /// network namespaces, in IMAGE's rootfs, confined as docker confines a
    /// container; as root, plugged into bridge0 and in a cgroup with the
    /// limits given
    Run {
        /// The hostname the container sees
        #[arg(long, default_value = "container")]
        hostname: String,
        #[command(flatten)]
        limits: Limits,
        /// The image whose rootfs becomes the container's /
        image: String,
        /// The command to run, then its arguments (replaces the image's Cmd)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Remove what the lessons made on the host: bridge0, the NAT and
    /// FORWARD rules, the leases
    NetDown,
}
// ANCHOR_END: cli

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Pull { image } => pull::find(&image, true).map(|_| 0),
        Command::Run {
            hostname,
            limits,
            image,
            cmd,
        } => run(&hostname, &limits, &image, &cmd),
        Command::NetDown => require_root().and_then(|()| nat::down()).map(|()| 0),
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            say(&format!("{err:#}"));
            ExitCode::from(EXIT_LESSON_FAILED)
        }
    }
}

// ANCHOR: image
/// The image's rootfs, and how it says to run it, by docker's rules.
fn image(image: &str, cmd: &[String]) -> Result<(PathBuf, Process)> {
    let dir = pull::find(image, false)?;
    let config = ImageConfiguration::from_file(dir.join("config.json"))
        .with_context(|| format!("reading {}/config.json", dir.display()))?;
    let config = config.config().clone().unwrap_or_default();
    // Entrypoint + Cmd, where a command on our command line replaces Cmd.
    let mut argv = config.entrypoint().clone().unwrap_or_default();
    let given = Some(cmd.to_vec()).filter(|cmd| !cmd.is_empty());
    argv.extend(given.or(config.cmd().clone()).unwrap_or_default());
    if argv.is_empty() {
        bail!("{image} has no command (no Entrypoint or Cmd): give one after the image name");
    }
    let mut env = config.env().clone().unwrap_or_default();
    if !env.iter().any(|var| var.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    let cwd = config.working_dir().clone().filter(|d| !d.is_empty());
    let process = Process {
        argv: to_c_strings(&argv)?,
        env,
        cwd: cwd.unwrap_or("/".into()),
    };
    Ok((dir.join("rootfs"), process))
}

/// What to start in the container.
struct Process {
    argv: Vec<CString>,
    env: Vec<String>,
    cwd: String,
}
// ANCHOR_END: image

// ANCHOR: run
/// The parent's side: find the image, start the container, wait for it, report.
fn run(hostname: &str, limits: &Limits, image_name: &str, cmd: &[String]) -> Result<u8> {
    let rootless = !Uid::effective().is_root();
    let (rootfs, process) = image(image_name, cmd)?;
    let host = gethostname().context("reading the host's hostname")?;
    say(&format!("the host is called {host:?}"));
    say(&format!(
        "starting {:?} in new user, UTS, PID, mount and network namespaces, as {hostname:?}, in {}",
        process.argv[0],
        rootfs.display()
    ));
    if !rootless {
        // The container's root may not write a rootfs that host root
        // unpacked (its files are no one's it knows): the mount points and
        // the working directory are made now, from out here, in a chroot
        // (so that an image's symlink resolves inside the rootfs).
        let dirs = ["/proc", "/dev", &process.cwd];
        layers::in_root(&rootfs, || {
            for dir in dirs {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
            }
            Ok(())
        })?;
    }

    // The container's cgroup and its network need the host's root: an
    // ordinary user's container goes without, and is told.
    let cgroup = if rootless {
        say("limits need root or a delegated cgroup: none set");
        None
    } else {
        // Named after us (a PID is unique on the host while we run); it is
        // removed when dropped, as we return.
        Some(Cgroup::create(&std::process::id().to_string(), limits)?)
    };
    let lease = if rootless {
        say("the bridge needs root: this container has only a loopback");
        None
    } else {
        let lock = net::lock()?;
        net::ensure_bridge(&lock)?;
        nat::enable()?;
        let lease = net::lease_address(&lock)?;
        say(&format!("the container's address is {}", lease.addr));
        nat::write_resolv_conf(&rootfs)?;
        Some(lease)
    };

    // The child waits on this pipe until it is mapped, in its cgroup, and
    // its network is ready: a byte means go; end-of-file (we failed, and
    // closed it) means give up.
    let (ready, go) = pipe2(OFlag::O_CLOEXEC).context("creating a pipe")?;
    let go_fd = go.as_raw_fd();
    let signals = block_signals()?;
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWNET;
    let child = spawn(flags, || {
        container(hostname, &rootfs, &process, &ready, go_fd)
    })?;
    drop(ready);
    // Who the container's users are on the host: written before anything
    // else, while it waits.
    let (uids, gids) = userns::plan(Uid::effective(), Gid::effective());
    let mut prepared = userns::write_maps(child, &uids, &gids);
    // Into the cgroup while it waits, before CMD starts: all that CMD
    // forks is then born in it, and nothing escapes the limits.
    if let (Ok(()), Some(cgroup)) = (&prepared, &cgroup) {
        prepared = cgroup
            .add(child)
            .context("putting the container into its cgroup");
    }
    if let (Ok(()), Some(lease)) = (&prepared, &lease) {
        prepared = lease
            .held_by(child)
            .and_then(|()| net::connect(child, lease.addr))
            .context("plugging the container into the network");
    } else if prepared.is_ok() {
        prepared = net::loopback_only(child).context("bringing the container's loopback up");
    }
    if let Err(err) = prepared {
        if lease.is_some() {
            net::disconnect(child);
        }
        drop(go);
        let _ = wait_forwarding(child, &signals);
        return Err(err);
    }
    write(&go, &[1]).context("telling the container to go")?;
    drop(go);
    let status = wait_forwarding(child, &signals)?;
    if lease.is_some() {
        net::disconnect(child);
    }

    // One process, two numbers: 1 inside its namespace, `child` out here.
    say(&format!(
        "the container, PID 1 inside, PID {child} on the host, exited with status {status}"
    ));
    let host = gethostname().context("reading the host's hostname")?;
    say(&format!("the host is still called {host:?}"));
    // The lease goes when `lease` is dropped, as we return.
    if let Some(lease) = &lease {
        say(&format!("{} is free again", lease.addr));
    }
    // The cgroup goes when `cgroup` is dropped, after the lease.
    Ok(status)
}
// ANCHOR_END: run

// ANCHOR: container
/// The child's side: it starts life inside the new namespace, so changing the
/// hostname here changes only the namespace's copy; so it is with mounts.
/// It waits for the host to plug in its network, then becomes CMD, in the
/// image's environment and working directory.
fn container(
    hostname: &str,
    rootfs: &Path,
    process: &Process,
    ready: &OwnedFd,
    go: RawFd,
) -> isize {
    if let Err(err) = restore_signals() {
        return fail(&format!("restoring signals: {err}"));
    }
    // SAFETY: the child has its own copy of the parent's file descriptors;
    // closing its copy of the write end leaves the parent's open, and lets
    // the child see end-of-file if the parent closes its own.
    drop(unsafe { OwnedFd::from_raw_fd(go) });
    let mut byte = [0u8; 1];
    if read(ready, &mut byte) != Ok(1) {
        return EXIT_LESSON_FAILED.into(); // the parent says why
    }
    if let Err(err) = userns::become_root() {
        return fail(&format!("becoming root of the user namespace: {err:#}"));
    }
    if let Err(err) = close_inherited_fds() {
        return fail(&format!("{err:#}"));
    }
    if let Err(err) = sethostname(hostname) {
        return fail(&format!("setting the hostname to {hostname:?}: {err}"));
    }
    if let Err(err) = enter_rootfs(rootfs) {
        return fail(&format!("{err:#}"));
    }
    if let Err(err) = lock_mounts() {
        return fail(&format!("{err:#}"));
    }
    if let Err(err) = enter_image(process) {
        return fail(&format!("{err:#}"));
    }
    if let Err(err) = lock_process() {
        return fail(&format!("{err:#}"));
    }
    exec(&process.argv)
}

/// The image's working directory (made if missing, as docker does), and its
/// environment in place of ours (the parent's is untouched): CMD inherits it
/// across execve, and execvp searches the image's PATH.
fn enter_image(process: &Process) -> Result<()> {
    let dir = &process.cwd;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::env::set_current_dir(dir))
        .with_context(|| format!("entering the working directory {dir}"))?;
    for (key, _) in std::env::vars_os() {
        std::env::remove_var(key);
    }
    for (key, value) in process.env.iter().filter_map(|var| var.split_once('=')) {
        if !key.is_empty() {
            std::env::set_var(key, value);
        }
    }
    Ok(())
}
// ANCHOR_END: container

// ANCHOR: lockdown
/// The container's mounts: /proc's dangerous parts hidden or read-only
/// (/dev is made before chroot). Mounting needs CAP_SYS_ADMIN, which the
/// process still has, of its user namespace.
fn lock_mounts() -> Result<()> {
    let names: Vec<_> = devices::HARMLESS.iter().map(|(name, ..)| *name).collect();
    say(&format!("/dev is a tmpfs with {} only", names.join(", ")));
    let (masked, read_only) = masks::hide()?;
    say(&format!("masked: {}", masked.join(" ")));
    say(&format!("read-only: {}", read_only.join(" ")));
    Ok(())
}

/// The process itself, last before execve, in this order: capabilities
/// (dropping them needs CAP_SETPCAP, which it has until then), then
/// no_new_privs and the seccomp filter (which would refuse calls made
/// before it: mount, for one). execve is the one call left to make.
fn lock_process() -> Result<()> {
    capabilities::drop_all_but_docker_defaults()?;
    say(&format!(
        "capabilities: docker's {}, none to hand on across execve",
        capabilities::KEEP.len()
    ));
    say(&format!(
        "no_new_privs, and a seccomp filter that refuses {} system calls",
        seccomp::DENIED.len()
    ));
    seccomp::install()
}
// ANCHOR_END: lockdown

// ANCHOR: close_fds
/// Closes every descriptor but stdin, stdout and stderr. A child inherits
/// all of its parent's, and so all that the parent's caller left open: one
/// that names a directory of the host (a shell's `exec 7</etc`) is a way
/// out of any root, chroot or pivot_root alike, since `/proc/self/fd/7/..`
/// is the host's `/` (runc's CVE-2024-21626 was such a descriptor).
fn close_inherited_fds() -> Result<()> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .context("listing /proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    // The listing's own descriptor is among them, closed already: the
    // second close fails with EBADF, which changes nothing.
    for fd in fds {
        _ = nix::unistd::close(fd);
    }
    Ok(())
}
// ANCHOR_END: close_fds

// ANCHOR: enter_rootfs
/// Makes ROOTFS the container's / and gives it a /proc of its own.
fn enter_rootfs(rootfs: &Path) -> Result<()> {
    // The new mount namespace starts as a copy of the host's, propagation
    // included: where / is a shared mount (systemd makes it so), a mount made
    // here would appear on the host too. Cut that link before mounting anything.
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
        .context("making / private (mount --make-rprivate /)")?;

    // chroot(2) changes where "/" resolves for this process and its children.
    // The container's /dev, with the host's harmless nodes bound in.
    devices::make_dev(rootfs)?;

    chroot(rootfs).with_context(|| format!("chroot into {}", rootfs.display()))?;
    chdir("/").context("chdir to the new /")?;

    // A proc filesystem shows the PID namespace of the process that mounts it:
    // mounted by our PID 1, it lists the container's processes only.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    std::fs::create_dir_all("/proc").context("creating /proc in the rootfs")?;
    mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>)
        .context("mounting proc on /proc")?;
    Ok(())
}
// ANCHOR_END: enter_rootfs

// ANCHOR: spawn
/// clone(2) is fork(2) with a choice of what the child does *not* share with
/// us: each CLONE_NEW* flag gives it a fresh namespace of that kind.
fn spawn(flags: CloneFlags, child: impl FnMut() -> isize) -> Result<Pid> {
    const STACK_SIZE: usize = 1024 * 1024;
    let mut stack = vec![0u8; STACK_SIZE];
    // SAFETY: we are single-threaded, and the child only sets up its
    // namespace and calls execve (or exits) on its own 1 MiB stack.
    let pid = unsafe {
        clone(
            Box::new(child),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    };
    pid.context("clone(2) failed to create the namespaces")
}
// ANCHOR_END: spawn

// ANCHOR: exec
/// Replaces this process with CMD. It returns only if that failed, with the
/// exit status a shell would use: 127 not found, 126 found but not runnable.
fn exec(argv: &[CString]) -> isize {
    let err = execvp(&argv[0], argv).unwrap_err();
    let name = argv[0].to_string_lossy();
    match err {
        Errno::ENOENT => fail_with(127, &format!("{name}: command not found")),
        Errno::EACCES | Errno::ENOEXEC => fail_with(126, &format!("{name}: cannot run: {err}")),
        _ => fail(&format!("{name}: execvp failed: {err}")),
    }
}
// ANCHOR_END: exec

// ANCHOR: signals
/// The signals we pass on to the container, so that Ctrl-C or `kill` aimed
/// at us reach the process doing the work.
fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(sig);
    }
    set
}

/// Blocks the forwarded signals and SIGCHLD, so that none is lost between now
/// and the moment we wait for them with sigwait(3).
fn block_signals() -> Result<SigSet> {
    // A shell starts background jobs with SIGINT and SIGQUIT ignored, and an
    // ignored signal is dropped before sigwait can see it: take them back.
    for sig in forwarded().iter() {
        // SAFETY: SIG_DFL installs no handler code of ours.
        unsafe { signal(sig, SigHandler::SigDfl) }.context("resetting signal handlers")?;
    }
    let mut set = forwarded();
    set.add(Signal::SIGCHLD);
    set.thread_block().context("blocking signals")?;
    Ok(set)
}

/// The child inherits our blocked mask, and so would CMD across execve:
/// clear it. Rust's runtime ignores SIGPIPE, and an ignored signal stays
/// ignored across execve: give CMD the default back, as a shell would.
fn restore_signals() -> nix::Result<()> {
    // SAFETY: SIG_DFL installs no handler code of ours.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }?;
    SigSet::empty().thread_set_mask()
}

/// Waits for the child, forwarding signals to it, and returns its status.
fn wait_forwarding(child: Pid, signals: &SigSet) -> Result<u8> {
    loop {
        match signals.wait().context("waiting for signals")? {
            Signal::SIGCHLD => {
                let status = waitpid(child, Some(WaitPidFlag::WNOHANG))
                    .with_context(|| format!("waiting for the container (pid {child})"))?;
                if let Some(code) = exit_code(status) {
                    return Ok(code);
                }
            }
            // It may have exited a moment ago; its SIGCHLD is then on the way.
            sig => _ = kill(child, sig),
        }
    }
}

/// The status as a shell reports it: the exit code, or 128+N when signal N
/// killed the process; None while it is still running (stopped, continued).
fn exit_code(status: WaitStatus) -> Option<u8> {
    match status {
        WaitStatus::Exited(_, code) => Some(code as u8),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as u8),
        _ => None,
    }
}
// ANCHOR_END: signals

fn require_root() -> Result<()> {
    if !Uid::effective().is_root() {
        bail!("creating namespaces needs root: run it with sudo");
    }
    Ok(())
}

fn to_c_strings(args: &[String]) -> Result<Vec<CString>> {
    args.iter()
        .map(|arg| {
            CString::new(arg.as_str()).with_context(|| format!("{arg:?} contains a NUL byte"))
        })
        .collect()
}

/// What the lesson tells you goes to stderr, so that stdout is the container's.
pub fn say(what: &str) {
    eprintln!("{}: {what}", env!("CARGO_PKG_NAME"));
}

fn fail(what: &str) -> isize {
    fail_with(EXIT_LESSON_FAILED.into(), what)
}

fn fail_with(status: isize, what: &str) -> isize {
    say(what);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_before_the_image() {
        let args = [
            "lesson", "run", "--memory", "32M", "--pids", "20", "--cpus", "0.5",
        ];
        let cli =
            Cli::try_parse_from(args.iter().chain(&["busybox", "sh", "--pids", "1"])).unwrap();
        let Command::Run { limits, cmd, .. } = cli.command else {
            panic!("not run")
        };
        assert_eq!(limits.memory, Some(32 << 20));
        assert_eq!(limits.pids, Some(20));
        assert_eq!(limits.cpus, Some(0.5));
        assert_eq!(cmd, ["sh", "--pids", "1"]);
        for bad in [["--memory", "lots"], ["--pids", "0"], ["--cpus", "0"]] {
            let args = ["lesson", "run", bad[0], bad[1], "busybox"];
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} was taken");
        }
    }
}
