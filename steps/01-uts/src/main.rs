//! Lesson 1: a process with a hostname of its own.
//!
//! `step-01-uts run [--hostname NAME] CMD [ARGS...]` starts CMD in a new UTS
//! namespace, gives it its own hostname, waits for it and exits with its status.
//! The host's hostname is untouched: that is the whole idea of a namespace.

use std::ffi::CString;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use nix::errno::Errno;
use nix::sched::{clone, CloneFlags};
use nix::sys::signal::{kill, signal, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execvp, gethostname, sethostname, Pid, Uid};

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
    /// Run CMD in a new UTS namespace
    Run {
        /// The hostname the container sees
        #[arg(long, default_value = "container")]
        hostname: String,
        /// The command to run, then its arguments
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
}
// ANCHOR_END: cli

fn main() -> ExitCode {
    let Command::Run { hostname, cmd } = Cli::parse().command;
    match run(&hostname, &cmd) {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            say(&format!("{err:#}"));
            ExitCode::from(EXIT_LESSON_FAILED)
        }
    }
}

// ANCHOR: run
/// The parent's side: start the container, wait for it, report.
fn run(hostname: &str, cmd: &[String]) -> Result<u8> {
    require_root()?;
    let argv = to_c_strings(cmd)?;
    let host = gethostname().context("reading the host's hostname")?;
    say(&format!("the host is called {host:?}"));
    say(&format!(
        "starting {:?} in a new UTS namespace, as {hostname:?}",
        cmd[0]
    ));

    let signals = block_signals()?;
    let child = spawn(CloneFlags::CLONE_NEWUTS, || container(hostname, &argv))?;
    let status = wait_forwarding(child, &signals)?;

    let host = gethostname().context("reading the host's hostname")?;
    say(&format!(
        "the container exited with status {status}; the host is still called {host:?}"
    ));
    Ok(status)
}
// ANCHOR_END: run

// ANCHOR: container
/// The child's side: it starts life inside the new namespace, so changing the
/// hostname here changes only the namespace's copy. Then it becomes CMD.
fn container(hostname: &str, argv: &[CString]) -> isize {
    if let Err(err) = restore_signals() {
        return fail(&format!("restoring signals: {err}"));
    }
    if let Err(err) = sethostname(hostname) {
        return fail(&format!("setting the hostname to {hostname:?}: {err}"));
    }
    exec(argv)
}
// ANCHOR_END: container

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
fn say(what: &str) {
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
    fn exit_code_is_what_a_shell_reports() {
        let pid = Pid::from_raw(42);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 0)), Some(0));
        assert_eq!(exit_code(WaitStatus::Exited(pid, 127)), Some(127));
        let killed = WaitStatus::Signaled(pid, Signal::SIGKILL, false);
        assert_eq!(exit_code(killed), Some(137));
        let stopped = WaitStatus::Stopped(pid, Signal::SIGSTOP);
        assert_eq!(exit_code(stopped), None);
    }

    #[test]
    fn the_command_keeps_its_own_flags() {
        let cli = Cli::try_parse_from(["lesson", "run", "ls", "-la", "--hostname", "x"]).unwrap();
        let Command::Run { hostname, cmd, .. } = cli.command;
        assert_eq!(hostname, "container");
        assert_eq!(cmd, ["ls", "-la", "--hostname", "x"]);
    }

    #[test]
    fn a_command_is_required() {
        assert!(Cli::try_parse_from(["lesson", "run"]).is_err());
    }
}
