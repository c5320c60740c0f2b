//! Waiting for a process that is not our child, the container's monitor:
//! waitpid(2) cannot, but a pidfd (pidfd_open(2), Linux 5.3) becomes
//! readable when the process exits, so `ctr wait` and `ctr stop` sleep in
//! the kernel instead of reading /proc in a loop. Where pidfds are refused
//! (an older kernel, a seccomp filter), /proc is read every 10 ms.

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Waits until `alive()` is false, `pid` being the process it watches. True
/// if that happened within `timeout` (None: no limit). `alive` is the
/// judge, not the pidfd: it also tells a recycled PID from the process
/// (by its start time, as `Record::monitor_alive` does).
pub fn wait(pid: i32, alive: impl Fn() -> bool, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    if !alive() {
        return true;
    }
    // Opened after the first look: if the PID was recycled in between,
    // `alive` says so below, and the pidfd (of another process) is not used.
    let pidfd = open(pid);
    // Once the pidfd has said "exited", it says so at once forever: what is
    // left (a zombie its parent has yet to reap) is waited for by looking.
    let mut exited = false;
    loop {
        if !alive() {
            return true;
        }
        let left = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return false,
            },
            None => None,
        };
        match &pidfd {
            Some(fd) if !exited => {
                // At most a minute at a time (PollTimeout's bound), then look again.
                let ms = left.map_or(60_000, |l| l.as_millis().clamp(1, 60_000)) as i32;
                let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(fd), PollFlags::POLLIN)];
                // EINTR and a timeout both end in the look at the top.
                _ = poll(
                    &mut fds,
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
                );
                exited = fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN));
            }
            _ => std::thread::sleep(left.map_or(POLL, |l| l.min(POLL))),
        }
    }
}

const POLL: Duration = Duration::from_millis(10);

fn open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a PID and flags, and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a descriptor the kernel just gave us, owned by no one else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    }

    #[test]
    fn wakes_when_the_process_ends_and_times_out_while_it_runs() {
        let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
        let pid = child.id() as i32;
        let start = Instant::now();
        assert!(!wait(pid, || alive(pid), Some(Duration::from_millis(50))));
        assert!(wait(pid, || alive(pid), Some(Duration::from_secs(10))));
        assert!(start.elapsed() < Duration::from_secs(5));
        child.wait().unwrap();
        assert!(wait(pid, || alive(pid), Some(Duration::ZERO)));
    }
}
