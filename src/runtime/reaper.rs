//! `--init` (the `org.ctr.init` annotation): the runtime's init stays
//! inside the container as PID 1, instead of becoming the program.
//! A PID 1 gets no default signal actions, so a command that installs no
//! handler ignores SIGTERM; and orphans are re-parented to PID 1, which must
//! reap them or they stay zombies. This init does both jobs, like tini:
//! it runs CMD as its child, forwards signals to it, reaps every child, and
//! exits with CMD's status.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::exit;

/// The signals a parent passes on to a container's process, as docker's
/// `--sig-proxy` does: the engine to PID 1, and this init to its child.
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The signals this init passes on to its child: those the engine passes
/// on to the container, and, since the init stands between the terminal
/// and the command, a new window size and a SIGCONT.
pub fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGWINCH);
    set.add(Signal::SIGCONT);
    set
}

// ANCHOR: init
/// Runs `start` (which execs the command, or returns the status to exit
/// with) in a child of this PID 1, forwards signals to it, reaps every
/// orphan, and returns the child's status.
pub fn run(start: impl FnOnce() -> u8) -> u8 {
    let mut waited = forwarded();
    waited.add(Signal::SIGCHLD);
    // Blocked, they queue for sigwait: a blocked signal is never discarded,
    // even by a PID 1 without handlers.
    if let Err(err) = waited.thread_block() {
        eprintln!("ctr-runtime init: blocking signals: {err}");
        return exit::FAILED;
    }
    // SAFETY: single-threaded; the child sets its signal mask and execs.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            _ = SigSet::empty().thread_set_mask();
            std::process::exit(start().into());
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(err) => {
            eprintln!("ctr-runtime init: fork: {err}");
            return exit::FAILED;
        }
    };
    loop {
        match waited.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(status) = reap(child) {
                    return status;
                }
            }
            Ok(sig) => _ = kill(child, sig),
            Err(_) => {}
        }
    }
}

/// Reaps every child that has exited (orphans included); returns the
/// status of `main` when it is one of them.
fn reap(main: Pid) -> Option<u8> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(status) => {
                if status.pid() == Some(main) {
                    result = result.or(exit::code(status));
                }
            }
        }
    }
}
// ANCHOR_END: init
