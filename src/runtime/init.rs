//! The container's init: the runtime's cloned child, first in its new
//! namespaces with the host's filesystem still in view, until it becomes
//! the container's program. Everything here runs in that child; it ends in
//! execve(2), or exits saying why.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};
use nix::pty::Winsize;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::Signal;
use nix::unistd::{sethostname, Uid};
use oci_spec::runtime::{Process, Spec};

use super::create::{receive, send};
use super::{command, console, fds, identity, reaper, rootfs, seccomp};
use crate::{config, exit};

/// What the init is given, all prepared by the runtime before clone.
pub struct Init<'a> {
    pub spec: &'a Spec,
    /// `linux.seccomp`, compiled.
    pub seccomp: Option<&'a seccomp::Filter>,
    pub rootfs: &'a Path,
    /// Its end of the socket pair to the runtime.
    pub sync: &'a OwnedFd,
    /// exec.fifo, as an O_PATH descriptor.
    pub fifo: &'a OwnedFd,
    pub console: Option<&'a OwnedFd>,
    /// Namespaces to join by path.
    pub joined: &'a [(CloneFlags, OwnedFd)],
    pub parent_death_signal: Option<Signal>,
    /// Stay as PID 1 and run the program as a child (`org.ctr.init`).
    pub as_init: bool,
    /// createRuntime hooks exist: ask the runtime to run them before pivot_root.
    pub hooks: bool,
    pub exec_error_prefix: &'a str,
    pub preserve_fds: i32,
    /// Fail `create` when the command cannot be found (`CreateOptions`).
    pub check_command: bool,
    /// Make a cgroup namespace, once in the cgroup the runtime put us in.
    pub new_cgroup_ns: bool,
    /// Cloned into a user namespace of its own: become its root first.
    pub new_user_ns: bool,
}

// ANCHOR: run
/// The child's whole life; returns only with the status to exit with.
pub fn run(init: &Init) -> isize {
    if let Some(signal) = init.parent_death_signal {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) };
    }
    // Until execve, this process is the runtime's binary: a process of the
    // container must not reach it through /proc/PID/exe (runc's
    // CVE-2019-5736). Born not dumpable (create.rs), its /proc files are
    // root's and closed to ptrace checks without CAP_SYS_PTRACE; execve
    // makes the program dumpable again. An --init PID 1 stays so.
    match receive(init.sync) {
        Ok(go) if go == b"go" => {}
        _ => return exit::FAILED.into(), // the runtime gave up: it says why
    }
    let env = match prepare(init) {
        Ok(env) => env,
        Err(err) => {
            _ = send(init.sync, format!("error:{err:#}").as_bytes());
            return exit::FAILED.into();
        }
    };
    if send(init.sync, b"ready").is_err() {
        return exit::FAILED.into();
    }
    // SAFETY: closing our end of the socket pair, used no more: even an
    // init that never execs keeps nothing of the runtime's.
    unsafe { libc::close(init.sync.as_raw_fd()) };
    // Created. Held here until `start` opens the fifo for reading.
    if let Err(err) = wait_for_start(init.fifo) {
        eprintln!("{}{err:#}", init.exec_error_prefix);
        return exit::FAILED.into();
    }
    let process = init.spec.process().as_ref().expect("checked by create");
    // With no_new_privs, the filter comes last, as close to execve as can
    // be (runc's order): the fewer calls of the runtime's it must allow.
    // An --init PID 1 is bound by it too, as docker's tini is.
    if let (Some(filter), Some(true)) = (init.seccomp, process.no_new_privileges()) {
        if let Err(err) = seccomp::load(filter) {
            eprintln!("{}{err:#}", init.exec_error_prefix);
            return exit::FAILED.into();
        }
    }
    let args = process.args().clone().unwrap_or_default();
    let start = || {
        if let Err(err) = identity::reset_signals() {
            eprintln!("{}{err:#}", init.exec_error_prefix);
            return exit::FAILED;
        }
        let failure = command::exec(&args, &env);
        eprintln!("{}{}", init.exec_error_prefix, failure.message);
        failure.status
    };
    if init.as_init {
        return reaper::run(start).into();
    }
    start().into()
}
// ANCHOR_END: run

// ANCHOR: prepare
/// From the runtime's "go" to "ready": namespaces joined, the root made and
/// entered, the terminal, then the process's identity and directory.
/// Returns the environment to run the program with.
fn prepare(init: &Init) -> Result<Vec<String>> {
    // Before any path of the container's is resolved: see fds.rs.
    let mut keep = vec![init.sync.as_raw_fd(), init.fifo.as_raw_fd()];
    keep.extend(init.console.map(|c| c.as_raw_fd()));
    keep.extend(init.joined.iter().map(|(_, fd)| fd.as_raw_fd()));
    keep.extend(3..3 + init.preserve_fds);
    fds::close_all_but(&keep)?;
    for (flag, fd) in init.joined {
        setns(fd, *flag).with_context(|| format!("joining the namespace {flag:?}"))?;
    }
    // Where our cgroups are, seen from the runtime's cgroup namespace: a
    // v1 cgroup mount binds them. Read before a cgroup namespace of our
    // own would name each of them "/".
    // In a new user namespace we still are the host's root, which it does
    // not map (the overflow id): files we made would fail with EOVERFLOW.
    // Its root, as runc's nsexec does; a change to root keeps capabilities.
    if init.new_user_ns {
        identity::become_namespace_root()?;
    }
    let cgroup_views = rootfs::cgroup_hierarchies()?;
    if init.new_cgroup_ns {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .context("making the container's cgroup namespace")?;
    }
    let spec = init.spec;
    if let Some(name) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        sethostname(name).with_context(|| format!("setting the hostname to {name:?}"))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        // SAFETY: a pointer and length of a live string.
        if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setting the domain name to {name:?}"));
        }
    }
    rootfs::prepare(spec, init.rootfs, &cgroup_views)?;
    if init.hooks {
        send(init.sync, b"hooks")?;
        if receive(init.sync)? != b"go" {
            anyhow::bail!("the createRuntime hooks failed");
        }
    }
    rootfs::pivot(init.rootfs)?;
    rootfs::finish(spec)?;
    fds::own_null_stdio()?;
    let process = spec
        .process()
        .as_ref()
        .context("config.json has no process")?;
    if let Some(socket) = init.console {
        let size = process.console_size().map(|b| Winsize {
            ws_row: b.height() as u16,
            ws_col: b.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        console::make(socket, size, Uid::from_raw(process.user().uid()), true)?;
    }
    let env = environment(process);
    identity::set_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
    if let Some(adj) = process.oom_score_adj() {
        identity::set_oom_score_adj(adj)?;
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before
    // the capabilities go (runc's order). What the runtime does after this
    // (setgroups, setresuid, capset, chdir, the fifo, execve) the profile
    // must allow, as docker's does.
    if let (Some(filter), None | Some(false)) = (init.seccomp, process.no_new_privileges()) {
        seccomp::load(filter)?;
    }
    identity::become_user(process)?;
    // As the user: a directory it may not enter is an error here, not later.
    let cwd = process.cwd();
    std::env::set_current_dir(cwd).with_context(|| {
        format!(
            "entering the working directory {} as uid {}",
            cwd.display(),
            process.user().uid()
        )
    })?;
    if init.check_command {
        find_command(process, &env)?;
    }
    // Nothing but stdio, the fifo and the runtime's socket is left; the
    // socket goes at execve.
    if let Some(socket) = init.console {
        // SAFETY: closing our copy of the console socket, used no more.
        unsafe { libc::close(socket.as_raw_fd()) };
    }
    Ok(env)
}
// ANCHOR_END: prepare

/// The command is there and may be run by this user, in this root: what
/// runc checks before `ready` (see `command::find`).
pub fn find_command(process: &Process, env: &[String]) -> Result<()> {
    let args = process.args().as_deref().unwrap_or_default();
    let name = args
        .first()
        .context("process.args is empty: say what to run")?;
    command::find(name, env).map_err(|failure| anyhow::anyhow!(failure.message))?;
    Ok(())
}

/// `process.env`, with HOME when it has none: the user's home in the
/// container's /etc/passwd, or `/`, as runc and crun set it (podman leaves
/// HOME out for a uid the image's passwd does not have, and programs count
/// on it). Read inside the container's root, before the user is taken.
pub fn environment(process: &Process) -> Vec<String> {
    let env = process.env().clone().unwrap_or_default();
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return env;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let uid = process.user().uid().to_string();
    let home = config::resolve_user(&uid, passwd.as_deref(), None)
        .map_or_else(|_| "/".to_string(), |user| user.home);
    config::with_home(env, &home)
}

/// Opens the fifo for writing: blocks until `start` opens it for reading.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .context("opening exec.fifo to wait for start (is /proc mounted?)")?;
    std::io::Write::write_all(&mut writer, b"0").context("writing to exec.fifo")?;
    drop(writer);
    // SAFETY: closing the fifo's descriptor, used no more.
    unsafe { libc::close(fifo.as_raw_fd()) };
    Ok(())
}
