//! `-t`: a pseudo-terminal for the container. ctr puts its own terminal in
//! raw mode (so that Ctrl-C, arrows and line editing reach the container's
//! shell untouched) and copies bytes both ways through the master side.
//!
//! For `run`, the pty is the container's own, as runc makes it: the child,
//! once its /dev/pts (a devpts `newinstance`) is mounted and it is inside
//! its root, opens /dev/ptmx there, makes the slave its controlling terminal
//! and stdio ([`make_console`]), and sends the master to ctr over a unix
//! socket (SCM_RIGHTS, unix(7)). So `tty` in the container says
//! /dev/pts/0, a name that exists in the container, and the slave belongs
//! to the container's devpts, not the host's. `exec` still opens a pty on
//! the host's devpts ([`open`]).

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::pty::{grantpt, openpty, posix_openpt, ptsname_r, unlockpt, Winsize};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::{fchown, Uid};

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a pty the size of our terminal, if stdin is one.
pub fn open() -> Result<Pty> {
    let size = window_size(&io::stdin());
    let pty = openpty(size.as_ref(), None).context("opening a pseudo-terminal")?;
    Ok(Pty {
        master: pty.master,
        slave: pty.slave,
    })
}

/// Our terminal's size, if stdin is a terminal.
pub fn terminal_size() -> Option<Winsize> {
    window_size(&io::stdin())
}

fn window_size(fd: &impl AsRawFd) -> Option<Winsize> {
    let mut size = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one Winsize into `size`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0).then_some(size)
}

/// Gives the pty our terminal's current size (on SIGWINCH).
pub fn copy_window_size(master: &OwnedFd) {
    if let Some(size) = window_size(&io::stdin()) {
        // SAFETY: TIOCSWINSZ reads one Winsize.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }
}

/// Our terminal in raw mode while this lives; restored when dropped.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = io::stdin();
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None }; // not a terminal: nothing to do
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSADRAIN, saved);
        }
    }
}

/// Copies the container's output to our stdout until the pty closes (every
/// process holding the slave is gone: read fails with EIO). Join it before
/// exiting, so that no output is lost.
pub fn relay_output(master: &OwnedFd) -> Result<JoinHandle<()>> {
    let mut from = File::from(master.try_clone().context("duplicating the pty")?);
    Ok(std::thread::spawn(move || {
        let mut out = io::stdout();
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    }))
}

/// Copies our stdin to the container (`-i`). Not joined: it may sit in
/// read(2) on our terminal until ctr exits.
pub fn relay_input(master: &OwnedFd) -> Result<()> {
    let mut to = File::from(master.try_clone().context("duplicating the pty")?);
    std::thread::spawn(move || {
        let mut input = io::stdin();
        let mut buf = [0u8; 8192];
        while let Ok(n) = input.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    Ok(())
}

// ANCHOR: console
/// The socket the container sends its pty's master over: (ctr's end, the
/// container's end). Both close on exec.
pub fn console_socket() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("making the socket for the container's terminal")
}

/// In the container, inside its root with its own /dev/pts mounted: opens a
/// pty there (/dev/ptmx is pts/ptmx), of `size`; makes the slave the
/// controlling terminal of a new session and stdin, stdout and stderr,
/// owned by `owner` as login(1) leaves it; and sends the master to ctr.
pub fn make_console(socket: &OwnedFd, size: Option<&Winsize>, owner: Uid) -> Result<()> {
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
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, size) };
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
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(b"m")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("sending the pty to ctr")?;
    Ok(())
}

/// ctr's side: the master the container sent, or None when the container
/// ended before it could (it has said why on stderr).
pub fn receive_master(socket: &OwnedFd) -> Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
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
// ANCHOR_END: console
