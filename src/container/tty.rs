//! `-t`, the engine's side: the container's pseudo-terminal is made by the
//! runtime, inside the container (see `runtime::console`), and its master
//! comes to ctr over the socket made here. ctr puts its own terminal in raw
//! mode (so that Ctrl-C, arrows and line editing reach the container's
//! shell untouched) and copies bytes both ways through the master.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use nix::pty::Winsize;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::termios::{self, SetArg, Termios};

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

// ANCHOR_END: console
