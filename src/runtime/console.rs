//! `process.terminal`: the container's own pseudo-terminal, made as runc
//! makes it. Inside its root, with its own devpts mounted on /dev/pts, the
//! init opens /dev/ptmx there, makes the slave its controlling terminal,
//! stdin, stdout, stderr and /dev/console, and sends the master to whoever
//! holds the other end of the *console socket* (SCM_RIGHTS, unix(7)): the
//! engine, or conmon and containerd's shim through `--console-socket`. So
//! `tty` in the container names /dev/pts/0, a name that exists in there.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, Winsize};
use nix::sys::socket::{
    connect, recvmsg, sendmsg, socket, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::unistd::{fchown, Uid};

/// Connects to a console socket given by its path (`--console-socket`).
pub fn connect_socket(path: &Path) -> Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("making a socket for the console")?;
    let addr = UnixAddr::new(path).with_context(|| format!("console socket {}", path.display()))?;
    connect(fd.as_raw_fd(), &addr)
        .with_context(|| format!("connecting to the console socket {}", path.display()))?;
    Ok(fd)
}

// ANCHOR: make
/// In the container, inside its root: the pty of `size`, made the
/// controlling terminal of a new session and stdio, owned by `owner` as
/// login(1) leaves it, bound on /dev/console (for PID 1, not for an
/// `exec`'d process); its master sent over `socket`.
pub fn make(socket: &OwnedFd, size: Option<Winsize>, owner: Uid, as_console: bool) -> Result<()> {
    nix::unistd::setsid().context("starting a session")?;
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("opening /dev/ptmx in the container")?;
    grantpt(&master).context("grantpt on the container's pty")?;
    unlockpt(&master).context("unlocking the container's pty")?;
    // /dev/pts/N: N from the container's devpts, so the name is right there.
    let name = ptsname_r(&master).context("naming the container's pty")?;
    // SAFETY: `into_raw_fd` hands over the descriptor, which nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    if let Some(size) = size {
        // SAFETY: TIOCSWINSZ reads one Winsize.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .with_context(|| format!("opening {name}"))?;
    fchown(&slave, Some(owner), None).with_context(|| format!("giving {name} to uid {owner}"))?;
    // SAFETY: TIOCSCTTY takes an integer argument.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("making {name} the controlling terminal"));
    }
    for target in 0..=2 {
        // SAFETY: dup2 of a descriptor we own onto stdio.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error()).context("making the pty stdio");
        }
    }
    if as_console {
        bind_console(&name)?;
    }
    send(socket, &master, &name)
}
// ANCHOR_END: make

/// /dev/console is the pty, as on a machine's console (runc does the same).
fn bind_console(name: &str) -> Result<()> {
    let console = Path::new("/dev/console");
    // A /dev of the host's, read-only, gets no console.
    if std::fs::symlink_metadata(console).is_err() && std::fs::write(console, b"").is_err() {
        return Ok(());
    }
    mount(
        Some(name),
        console,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("binding {name} on /dev/console"))
}

/// Sends `master` with its name, as runc does (conmon reads the name).
pub fn send(socket: &OwnedFd, master: &OwnedFd, name: &str) -> Result<()> {
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("sending the pty over the console socket")?;
    Ok(())
}

// ANCHOR: receive
/// The other side: the master the container sent, or None when the
/// container ended before it could (it has said why on stderr).
pub fn receive(socket: &OwnedFd) -> Result<Option<OwnedFd>> {
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receiving the container's pty")?;
    let mut master = None;
    for cmsg in msg.cmsgs().context("reading the container's message")? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                // SAFETY: the kernel just installed this descriptor for us.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                master.get_or_insert(fd);
            }
        }
    }
    if master.is_none() && msg.bytes > 0 {
        bail!("the container sent its terminal without a descriptor");
    }
    Ok(master)
}
// ANCHOR_END: receive
