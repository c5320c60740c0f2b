//! No descriptor but stdin, stdout and stderr may reach a container.
//!
//! A child starts with every descriptor its parent had open without
//! O_CLOEXEC: ctr's own, and whatever the caller of ctr left open (a shell's
//! `exec 7</etc`, a CI runner's, a service manager's). One of them that
//! names a directory of the host leads back to the host's filesystem from
//! inside the container, pivot_root or not: `/proc/self/fd/7/..` is the
//! host's `/`, and a working directory of `/proc/self/fd/7` starts the
//! process outside its root. That is runc's CVE-2024-21626. So the child
//! closes them before it resolves any path of the container's.

use std::os::fd::RawFd;

use anyhow::{Context, Result};

// ANCHOR: close
/// Closes every descriptor from 3 up, except those in `keep` (the
/// runtime's own, still needed until execve).
pub fn close_all_but(keep: &[RawFd]) -> Result<()> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd >= 3).collect();
    keep.sort_unstable();
    let mut first = 3;
    for fd in keep {
        close_range(first, fd - 1)?;
        first = fd + 1;
    }
    close_range(first, RawFd::MAX)
}
// ANCHOR_END: close

/// Stdio that is the null device (a caller's `</dev/null`) becomes the
/// container's own /dev/null: a descriptor of the host's /dev names a file
/// of the host's mount table, which the container should not hold.
pub fn own_null_stdio() -> Result<()> {
    for fd in 0..=2 {
        // SAFETY: stdio descriptors, borrowed for the call.
        let Ok(stat) = nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
        else {
            continue;
        };
        let is_null = stat.st_mode & libc::S_IFMT == libc::S_IFCHR
            && libc::major(stat.st_rdev) == 1
            && libc::minor(stat.st_rdev) == 3;
        if !is_null {
            continue;
        }
        // SAFETY: fcntl with integer arguments.
        let mode = unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_ACCMODE;
        let null = std::fs::OpenOptions::new()
            .read(mode != libc::O_WRONLY)
            .write(mode != libc::O_RDONLY)
            .open("/dev/null")
            .context("opening the container's /dev/null")?;
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto stdio, of a descriptor we own.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error()).context("making stdio /dev/null");
        }
    }
    Ok(())
}

/// close_range(2) (Linux 5.9); on an older kernel, each descriptor listed
/// in /proc/self/fd.
fn close_range(first: RawFd, last: RawFd) -> Result<()> {
    if first > last {
        return Ok(());
    }
    // SAFETY: close_range takes integers; the descriptors it closes are
    // inherited ones that nothing in this process uses any more.
    if unsafe { libc::close_range(first as u32, last as u32, 0) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(err).context("closing the descriptors the container must not inherit");
    }
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .context("listing /proc/self/fd to close inherited descriptors")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| (first..=last).contains(fd))
        .collect();
    for fd in open {
        // SAFETY: as above; the listing's own descriptor is already closed,
        // and closing it again only fails with EBADF.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    /// In a forked child, so that the test process keeps its descriptors.
    #[test]
    fn everything_above_stderr_is_closed_but_what_is_kept() {
        let a = std::fs::File::open("/").unwrap().into_raw_fd();
        let b = std::fs::File::open("/").unwrap();
        let c = std::fs::File::open("/").unwrap().into_raw_fd();
        // SAFETY: the child only makes syscalls and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let open = |fd: RawFd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
                let ok = close_all_but(&[b.as_raw_fd()]).is_ok()
                    && !open(a)
                    && open(b.as_raw_fd())
                    && !open(c)
                    && open(2);
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
