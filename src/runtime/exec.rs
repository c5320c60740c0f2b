//! `exec`: a new process in a container that runs. It must enter the
//! container's namespaces, and setns(2) into a PID namespace moves only the
//! children that come after; so, as runc's nsexec: a forked intermediate
//! joins every namespace, then clones the process with CLONE_PARENT, which
//! makes it the *caller's* child (the caller can wait for it, or a
//! subreaper such as conmon inherits it) and PID N of the container. Once
//! the mount namespace is joined, the process is inside the container's
//! root already: pivot_root made it the namespace's root.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::pty::Winsize;
use nix::sched::{clone, setns, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid, Uid};
use oci_spec::runtime::Process;

use super::create::{receive, send};
use super::state::{Saved, Status};
use super::{command, console, fds, identity, ContainerId};
use crate::exit;

#[derive(Default)]
pub struct ExecOptions {
    /// The socket the pty's master is sent over, for `process.terminal`.
    pub console: Option<OwnedFd>,
    pub pid_file: Option<PathBuf>,
    /// What the process prefixes its error with when the program cannot be
    /// executed (its stderr is the caller's).
    pub exec_error_prefix: String,
    /// Descriptors 3 to 3+N-1 go on to the process (`--preserve-fds`).
    pub preserve_fds: i32,
    /// Fail `exec` when the command cannot be found, as runc does (see
    /// `CreateOptions::check_command`).
    pub check_command: bool,
}

// ANCHOR: exec
/// Starts `process` in container `id`; returns its PID, a child of ours.
pub fn exec(root: &Path, id: &ContainerId, process: &Process, options: ExecOptions) -> Result<Pid> {
    let saved = Saved::load(root, id)?;
    let status = saved.status(root);
    if status == Status::Stopped {
        bail!("cannot exec in {id}: container not running");
    }
    if process.args().as_ref().map_or(true, |a| a.is_empty()) {
        bail!("no command given: say what to run");
    }
    let terminal = process.terminal() == Some(true);
    if terminal != options.console.is_some() {
        bail!("process.terminal and the console socket go together: give both or neither");
    }
    let pid = saved.pid;
    // Opened before the first setns: once in the container's mount
    // namespace, the runtime's /proc is out of sight.
    // One that is ours already is not joined: setns(2) would need
    // CAP_SYS_ADMIN over its owner, which a rootless runtime lacks for the
    // host's. A user namespace of its own comes first: it owns the others.
    let mut namespaces = Vec::new();
    for (name, flag) in [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ] {
        let path = format!("/proc/{pid}/ns/{name}");
        let file =
            File::open(&path).with_context(|| format!("opening {path} of container {id}"))?;
        let own = std::fs::metadata(format!("/proc/self/ns/{name}"))
            .with_context(|| format!("reading our own {name} namespace"))?;
        let theirs = file
            .metadata()
            .with_context(|| format!("reading {path} of container {id}"))?;
        use std::os::unix::fs::MetadataExt;
        if (own.dev(), own.ino()) != (theirs.dev(), theirs.ino()) {
            namespaces.push((flag, OwnedFd::from(file)));
        }
    }
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("making the socket pair to the new process")?;
    // The container's filter binds its every process (runc's exec too).
    let seccomp = match &saved.seccomp {
        Some(profile) => Some(super::seccomp::prepare(
            profile,
            &root.join(super::seccomp::CACHE),
        )?),
        None => None,
    };
    let joiner = Joiner {
        cgroup: saved.cgroup.as_ref(),
        seccomp: seccomp.as_ref(),
        process,
        namespaces: &namespaces,
        sync: &theirs,
        console: options.console.as_ref(),
        prefix: &options.exec_error_prefix,
        preserve_fds: options.preserve_fds,
        check_command: options.check_command,
    };
    // SAFETY: single-threaded here; the child only joins namespaces, clones
    // and exits.
    let intermediate = match unsafe { fork() }.context("forking to join the container")? {
        ForkResult::Child => {
            let status = joiner.join_and_clone();
            // SAFETY: leave without running the caller's destructors twice.
            unsafe { libc::_exit(status) };
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    // The intermediate says the PID, the process says "ready": in either
    // order, as both write on the same socket.
    let (mut child, mut ready) = (None, false);
    let outcome = loop {
        if child.is_some() && ready {
            break Ok(());
        }
        let message = match receive(&ours) {
            Ok(message) => message,
            Err(err) => break Err(err),
        };
        if let Some(pid) = message
            .strip_prefix(b"pid:")
            .and_then(|p| std::str::from_utf8(p).ok()?.parse::<i32>().ok())
        {
            child = Some(Pid::from_raw(pid));
        } else if message == b"ready" {
            ready = true;
        } else {
            break Err(anyhow::anyhow!("{}", said(&message)));
        }
    };
    _ = waitpid(intermediate, None);
    if let Err(err) = outcome {
        if let Some(child) = child {
            _ = waitpid(child, None);
        }
        return Err(err).with_context(|| format!("starting a process in container {id}"));
    }
    let child = child.expect("the loop ends with a PID");
    if let Some(path) = &options.pid_file {
        let tmp = path.with_extension("tmp-ctr-runtime");
        std::fs::write(&tmp, child.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("writing the pid file {}", path.display()))?;
    }
    Ok(child)
}
// ANCHOR_END: exec

fn said(message: &[u8]) -> String {
    match message.strip_prefix(b"error:") {
        Some(why) => String::from_utf8_lossy(why).into_owned(),
        None if message.is_empty() => "it ended before it was ready".into(),
        None => format!("it said {:?}", String::from_utf8_lossy(message)),
    }
}

struct Joiner<'a> {
    /// The container's cgroup: the intermediate joins it first, so that
    /// the process is born in it (limits and all) and cannot escape it.
    cgroup: Option<&'a super::cgroups::Cgroup>,
    seccomp: Option<&'a super::seccomp::Filter>,
    process: &'a Process,
    namespaces: &'a [(CloneFlags, OwnedFd)],
    sync: &'a OwnedFd,
    console: Option<&'a OwnedFd>,
    prefix: &'a str,
    preserve_fds: i32,
    check_command: bool,
}

impl Joiner<'_> {
    /// In the intermediate: joins, clones the process, reports its PID.
    fn join_and_clone(&self) -> i32 {
        // Not dumpable from here on, and so neither is the process cloned
        // below (the flag is copied to a child): from its first instruction
        // in the container's PID namespace, its /proc/PID/exe, the
        // runtime's binary, is closed to the container's processes (see
        // init.rs).
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) };
        let result = (|| -> Result<Pid> {
            if let Some(cgroup) = self.cgroup {
                cgroup.add(std::process::id() as i32)?;
            }
            for (flag, fd) in self.namespaces {
                setns(fd, *flag).with_context(|| format!("joining the namespace {flag:?}"))?;
            }
            let mut stack = vec![0u8; 4 << 20];
            // SAFETY: this intermediate is single-threaded; the clone runs
            // `start` on its own stack and ends in execve or _exit.
            let pid = unsafe {
                clone(
                    Box::new(|| self.start()),
                    &mut stack,
                    CloneFlags::CLONE_PARENT,
                    Some(Signal::SIGCHLD as i32),
                )
            }
            .context("clone(2) into the container's PID namespace")?;
            Ok(pid)
        })();
        let message = match result {
            Ok(pid) => format!("pid:{pid}"),
            Err(err) => format!("error:{err:#}"),
        };
        _ = send(self.sync, message.as_bytes());
        0
    }

    /// In the new process: who it is, where, then execve.
    fn start(&self) -> isize {
        let env = match self.prepare() {
            Ok(env) => env,
            Err(err) => {
                _ = send(self.sync, format!("error:{err:#}").as_bytes());
                return exit::FAILED.into();
            }
        };
        if send(self.sync, b"ready").is_err() {
            return exit::FAILED.into();
        }
        // SAFETY: closing our end of the socket pair before execve.
        unsafe { libc::close(self.sync.as_raw_fd()) };
        // With no_new_privs, the filter comes last (see init.rs).
        if let (Some(filter), Some(true)) = (self.seccomp, self.process.no_new_privileges()) {
            if let Err(err) = super::seccomp::load(filter) {
                eprintln!("{}{err:#}", self.prefix);
                return exit::FAILED.into();
            }
        }
        let args = self.process.args().clone().unwrap_or_default();
        let failure = command::exec(&args, &env);
        eprintln!("{}{}", self.prefix, failure.message);
        failure.status.into()
    }

    /// Returns the environment to run the program with.
    fn prepare(&self) -> Result<Vec<String>> {
        let mut keep = vec![self.sync.as_raw_fd()];
        keep.extend(self.console.map(|c| c.as_raw_fd()));
        keep.extend(3..3 + self.preserve_fds);
        // Before the working directory is entered: see fds.rs.
        fds::close_all_but(&keep)?;
        fds::own_null_stdio()?;
        let process = self.process;
        if let Some(socket) = self.console {
            let size = process.console_size().map(|b| Winsize {
                ws_row: b.height() as u16,
                ws_col: b.width() as u16,
                ws_xpixel: 0,
                ws_ypixel: 0,
            });
            console::make(socket, size, Uid::from_raw(process.user().uid()), false)?;
            // SAFETY: closing our copy of the console socket, used no more.
            unsafe { libc::close(socket.as_raw_fd()) };
        }
        let env = super::init::environment(process);
        identity::set_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
        // Without no_new_privs, before the capabilities go (see init.rs).
        if let (Some(filter), None | Some(false)) = (self.seccomp, process.no_new_privileges()) {
            super::seccomp::load(filter)?;
        }
        identity::become_user(process)?;
        let cwd = process.cwd();
        std::env::set_current_dir(cwd).with_context(|| {
            format!(
                "entering the working directory {} as uid {}",
                cwd.display(),
                process.user().uid()
            )
        })?;
        if self.check_command {
            super::init::find_command(process, &env)?;
        }
        identity::reset_signals()?;
        Ok(env)
    }
}
