//! The user namespace of a rootless ctr, kept as podman keeps its own: the
//! first ctr of a user forks a *keeper*, a process that makes the user
//! namespace (and a mount namespace owned by it) and then only waits; the
//! ctr that made it writes its id maps (newuidmap and newgidmap, or the
//! single mapping), and every ctr of that user joins it with setns(2).
//! One namespace for all of a user's ctr commands is what lets `ctr stop`
//! signal a container that `ctr run -d` started, and `ctr rm` see its
//! overlay mount: in a namespace of their own, they would be strangers.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{fork, setsid, ForkResult, Pid};

use super::idmap::{Map, Mapping};
use crate::runtime::state::proc_stat;

/// Where the keeper's PID and start time are written.
fn pid_file(state: &Path) -> PathBuf {
    state.join("userns.pid")
}

// ANCHOR: enter
/// Joins the user's keeper, first making it if there is none alive (then
/// returns true).
pub fn enter(state: &Path, mapping: &Mapping) -> Result<bool> {
    let lock = crate::lockfile::lock(&state.join("userns.lock"), true)?;
    let keeper = alive_keeper(state);
    let made = keeper.is_none();
    let pid = match keeper {
        Some(pid) => pid,
        None => {
            let pid = start_keeper(mapping)?;
            let start = proc_stat(pid.as_raw()).map_or(0, |(_, s)| s);
            let path = pid_file(state);
            fs::write(&path, format!("{pid} {start}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            pid
        }
    };
    drop(lock);
    join(pid)?;
    Ok(made)
}
// ANCHOR_END: enter

/// The keeper of the PID file, if it still runs (a PID can be reused: its
/// start time tells).
fn alive_keeper(state: &Path) -> Option<Pid> {
    let text = fs::read_to_string(pid_file(state)).ok()?;
    let mut words = text.split_whitespace();
    let pid: i32 = words.next()?.parse().ok()?;
    let start: u64 = words.next()?.parse().ok()?;
    (proc_stat(pid).map(|(_, s)| s) == Some(start)).then(|| Pid::from_raw(pid))
}

/// setns(2) into the keeper's user namespace, then its mount namespace
/// (which the user namespace owns: joining it needs CAP_SYS_ADMIN there).
/// Only a single-threaded process may change its user namespace.
fn join(pid: Pid) -> Result<()> {
    let open = |ns: &str| -> Result<File> {
        let path = format!("/proc/{pid}/ns/{ns}");
        File::open(&path).with_context(|| format!("opening {path}"))
    };
    let (user, mnt) = (open("user")?, open("mnt")?);
    // Joining a mount namespace moves us to its root: come back after.
    let cwd = std::env::current_dir().ok();
    setns(&user, CloneFlags::CLONE_NEWUSER)
        .context("joining ctr's user namespace (setns: ctr must be single-threaded here)")?;
    setns(&mnt, CloneFlags::CLONE_NEWNS).context("joining ctr's mount namespace")?;
    if let Some(cwd) = cwd {
        _ = std::env::set_current_dir(cwd);
    }
    Ok(())
}

/// This process's maps, as the kernel has them.
pub fn own_maps() -> Result<(Map, Map)> {
    let read = |file: &str| -> Result<Map> {
        let path = format!("/proc/self/{file}");
        Ok(Map::parse(
            &fs::read_to_string(&path).with_context(|| format!("reading {path}"))?,
        ))
    };
    Ok((read("uid_map")?, read("gid_map")?))
}

// ANCHOR: keeper
/// Forks the keeper: it makes the namespaces and says so; we write its maps
/// and say so; it makes its mounts private and waits for ever. It keeps
/// nothing of ours: no descriptor (a lock held for ever), no terminal.
fn start_keeper(mapping: &Mapping) -> Result<Pid> {
    let flags = nix::fcntl::OFlag::O_CLOEXEC;
    let (from_keeper, to_us) = nix::unistd::pipe2(flags).context("making a pipe")?;
    let (from_us, to_keeper) = nix::unistd::pipe2(flags).context("making a pipe")?;
    // SAFETY: ctr is single-threaded here; the child only makes system
    // calls and never returns.
    match unsafe { fork() }.context("forking the user namespace's keeper")? {
        ForkResult::Child => {
            drop((from_keeper, to_keeper));
            let failed = keeper(&to_us, &from_us);
            _ = write!(File::from(to_us), "!{failed:#}");
            // SAFETY: _exit ends the child without running our atexit code.
            unsafe { libc::_exit(1) }
        }
        ForkResult::Parent { child } => {
            drop((to_us, from_us));
            let mut from_keeper = File::from(from_keeper);
            let mut to_keeper = File::from(to_keeper);
            expect(&mut from_keeper, b'u', child)?;
            write_maps(child, mapping)?;
            to_keeper.write_all(b"m").context("talking to the keeper")?;
            expect(&mut from_keeper, b'r', child)?;
            Ok(child)
        }
    }
}

/// The keeper's life; returns only why it failed.
fn keeper(to_us: &OwnedFd, from_us: &OwnedFd) -> anyhow::Error {
    let made = (|| -> Result<()> {
        crate::runtime::fds::close_all_but(&[to_us.as_raw_fd(), from_us.as_raw_fd()])?;
        setsid().context("starting the keeper's session")?;
        // Named for ps and top (its command line is still the ctr's that forked it).
        // SAFETY: prctl with a NUL-terminated name of 16 bytes at most.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"ctr-userns".as_ptr()) };
        let null = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .context("opening /dev/null")?;
        for fd in 0..3 {
            // SAFETY: dup2 onto stdio, of a descriptor we own.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).context(
            "making a user namespace (unshare): is kernel.unprivileged_userns_clone 0, \
             or user.max_user_namespaces 0?",
        )?;
        nix::unistd::write(to_us, b"u").context("talking to ctr")?;
        let mut byte = [0u8];
        if nix::unistd::read(from_us, &mut byte) != Ok(1) || byte[0] != b'm' {
            bail!("ctr gave up before mapping our ids");
        }
        // Ours already are slaves of the host's (a less privileged mount
        // namespace gets no shared mount: mount_namespaces(7)); private,
        // so that nothing comes in either.
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .context("making the keeper's mounts private")?;
        nix::unistd::write(to_us, b"r").context("talking to ctr")?;
        Ok(())
    })();
    if let Err(err) = made {
        return err;
    }
    loop {
        nix::unistd::pause();
    }
}
// ANCHOR_END: keeper

/// Reads one byte from the keeper: `want`, or `!` and its error's text.
fn expect(from: &mut File, want: u8, keeper: Pid) -> Result<()> {
    let mut byte = [0u8];
    if from.read(&mut byte).context("listening to the keeper")? == 1 && byte[0] == want {
        return Ok(());
    }
    let mut said = String::new();
    _ = from.read_to_string(&mut said);
    _ = nix::sys::wait::waitpid(keeper, None);
    match said.trim() {
        "" => bail!("the user namespace's keeper ended without a word"),
        why => bail!("{why}"),
    }
}

// ANCHOR: write_maps
/// The keeper's uid and gid maps: through the setuid helpers for a range,
/// or written directly for the single mapping (gid_map then needs
/// setgroups denied first: user_namespaces(7)).
fn write_maps(pid: Pid, mapping: &Mapping) -> Result<()> {
    for (map, helper, file) in [
        (&mapping.uid, "newuidmap", "uid_map"),
        (&mapping.gid, "newgidmap", "gid_map"),
    ] {
        if map.single() {
            if file == "gid_map" {
                let path = format!("/proc/{pid}/setgroups");
                fs::write(&path, "deny").with_context(|| format!("writing {path}"))?;
            }
            let path = format!("/proc/{pid}/{file}");
            fs::write(&path, map.to_string())
                .with_context(|| format!("writing {path} ({})", map.to_string().trim()))?;
            continue;
        }
        let args = map.helper_args(pid.as_raw());
        let out = Command::new(helper).args(&args).output().with_context(|| {
            format!("running {helper}: install it (Debian's package uidmap), or remove the user's lines from /etc/sub{}id", &file[..1])
        })?;
        if !out.status.success() {
            bail!(
                "{helper} {} failed: {}; check the user's line in /etc/sub{}id",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
                &file[..1]
            );
        }
    }
    Ok(())
}
// ANCHOR_END: write_maps
