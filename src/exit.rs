//! docker's exit statuses, which scripts test for.

/// ctr itself failed (bad option, unknown image, a mount that failed).
pub const FAILED: u8 = 125;
/// The command exists but cannot be run (permission, not an executable).
pub const CANNOT_INVOKE: u8 = 126;
/// The command is not in the image.
pub const NOT_FOUND: u8 = 127;

/// The status as a shell reports it: the exit code, or 128+N when signal N
/// killed the process; None while it is still running (stopped, continued).
pub fn code(status: nix::sys::wait::WaitStatus) -> Option<u8> {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, code) => Some(code as u8),
        WaitStatus::Signaled(_, sig, _) => Some(128u8.wrapping_add(sig as u8)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::sys::wait::WaitStatus;
    use nix::unistd::Pid;

    #[test]
    fn statuses_are_what_a_shell_reports() {
        let pid = Pid::from_raw(7);
        assert_eq!(code(WaitStatus::Exited(pid, 0)), Some(0));
        assert_eq!(code(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            code(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(
            code(WaitStatus::Signaled(pid, Signal::SIGTERM, true)),
            Some(143)
        );
        assert_eq!(code(WaitStatus::Stopped(pid, Signal::SIGSTOP)), None);
    }
}
