//! `ctr exec`: a new process in a running container. It joins the
//! container's namespaces (setns(2) on /proc/PID/ns/*) and its root, then
//! forks, because joining a PID namespace moves only the children that come
//! after; the child takes the container's environment, user and working
//! directory, and execs.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::SigSet;
use nix::unistd::{chroot, fchdir, fork, ForkResult};

use super::{spawn, tty, wait_forwarding, Record, State};
use crate::{config, exit};

/// What to run, as `ctr exec [-i] [-t] NAME CMD...` asked.
pub struct Exec {
    pub argv: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
}

// ANCHOR: join
/// Runs `exec.argv` in container `record` and returns its exit status.
pub fn exec(record: &Record, exec: &Exec) -> Result<u8> {
    if record.shown_state() != State::Running || record.pid == 0 {
        bail!(
            "container {} is not running: start a new one with `ctr run`",
            record.name
        );
    }
    if exec.argv.is_empty() {
        bail!("no command given: say what to run after the container's name");
    }
    let pid = record.pid;
    // Opened before the first setns: once in the container's mount
    // namespace, the host's /proc is out of sight.
    let open = |what: &str| {
        File::open(format!("/proc/{pid}/{what}"))
            .with_context(|| format!("opening /proc/{pid}/{what} of container {}", record.name))
    };
    let mut namespaces = Vec::new();
    for (name, flag) in [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        // Last: the others are opened through the host's /proc.
        ("mnt", CloneFlags::CLONE_NEWNS),
    ] {
        namespaces.push((name, open(&format!("ns/{name}"))?, flag));
    }
    let root = open("root")?;
    let own_pid_namespace =
        File::open("/proc/self/ns/pid").context("opening our own PID namespace")?;
    let signals = super::block_signals(exec.tty)?;
    for (name, file, flag) in &namespaces {
        setns(file, *flag).with_context(|| format!("joining the container's {name} namespace"))?;
    }
    // setns(2) into the mount namespace already set our root and working
    // directory to the namespace's root, which pivot_root made the
    // container's (that is why `nsenter -m` finds the container's files).
    // The root of its PID 1 is the same place then; taking it, as
    // `nsenter --root` does, also lands right in a container rooted with
    // chroot instead, whose namespace's root is still the host's.
    fchdir(&root).context("entering the container's root")?;
    chroot(".").context("chroot into the container's root")?;
    // Opened in here, the pty is one of the container's own devpts, as
    // `ctr run -t`'s is: `tty` inside names it.
    let pty = if exec.tty { Some(tty::open()?) } else { None };

    // SAFETY: single-threaded until here; the child only sets itself up and execs.
    let child = match unsafe { fork() }.context("forking into the container's PID namespace")? {
        ForkResult::Child => {
            let status = start(record, exec, pty.as_ref().map(|p| &p.slave));
            std::process::exit(status.into());
        }
        ForkResult::Parent { child } => child,
    };
    // Joining the PID namespace changed where our *children* go, and Linux
    // refuses a new thread (EINVAL) while that differs from our own: set it
    // back, so the pty relay below can start its threads.
    setns(&own_pid_namespace, CloneFlags::CLONE_NEWPID)
        .context("returning to our own PID namespace for children")?;
    let (output, _raw) = match pty {
        Some(pty) => {
            drop(pty.slave);
            let raw = exec.interactive.then(tty::RawMode::enter);
            if exec.interactive {
                tty::relay_input(&pty.master)?;
            }
            (Some((tty::relay_output(&pty.master)?, pty.master)), raw)
        }
        None => (None, None),
    };
    let status = wait_forwarding(child, &signals, output.as_ref().map(|(_, m)| m))?;
    if let Some((thread, _master)) = output {
        _ = thread.join();
    }
    Ok(status)
}
// ANCHOR_END: join

/// In the child: stdio, user, working directory, exec. Returns the status
/// to exit with when the command could not start.
fn start(record: &Record, exec: &Exec, slave: Option<&OwnedFd>) -> u8 {
    let fail = |status: u8, message: String| {
        eprintln!("ctr: exec in {}: {message}", record.name);
        status
    };
    if let Err(err) = SigSet::empty().thread_set_mask() {
        return fail(exit::FAILED, format!("unblocking signals: {err}"));
    }
    if let Err(err) = set_stdio(slave, exec.interactive) {
        return fail(exit::FAILED, format!("{err:#}"));
    }
    // Before the working directory is entered: see fds.rs.
    if let Err(err) = super::fds::close_inherited(None) {
        return fail(exit::FAILED, format!("{err:#}"));
    }
    let user = (|| {
        let passwd = spawn::read_optional("/etc/passwd")?;
        let group = spawn::read_optional("/etc/group")?;
        config::resolve_user(&record.user, passwd.as_deref(), group.as_deref())
    })();
    let user = match user {
        Ok(user) => user,
        Err(err) => return fail(exit::FAILED, format!("user {:?}: {err:#}", record.user)),
    };
    let env = config::with_home(record.env.clone(), &user.home);
    // Records written before the working directory was kept have none: "/".
    let cwd = if record.cwd.is_empty() {
        "/"
    } else {
        &record.cwd
    };
    if let Err(err) = spawn::become_user(&user, cwd) {
        return fail(exit::FAILED, format!("{err:#}"));
    }
    let failure = super::exec::exec(&exec.argv, &env);
    fail(failure.status, failure.message)
}

fn set_stdio(slave: Option<&OwnedFd>, interactive: bool) -> Result<()> {
    match slave {
        Some(slave) => {
            nix::unistd::setsid().context("starting a session")?;
            // SAFETY: TIOCSCTTY takes an integer argument.
            if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .context("making the pty the controlling terminal");
            }
            spawn::dup_onto(slave.as_raw_fd(), &[0, 1, 2])
        }
        None if !interactive => {
            let null = File::open("/dev/null").context("opening /dev/null")?;
            spawn::dup_onto(null.as_raw_fd(), &[0])
        }
        None => Ok(()),
    }
}
