//! The user namespace: a numbering of users and groups of the container's
//! own. Its uid 0 is root, with every capability, over what the namespace
//! owns (its UTS, PID, mount and network namespaces) and nothing else; on
//! the host, the same process is whatever id the map says.
//!
//! The map is three numbers a line, `INSIDE OUTSIDE COUNT`: ids INSIDE to
//! INSIDE+COUNT-1 are OUTSIDE to OUTSIDE+COUNT-1 on the host. It is written
//! once, into /proc/PID/uid_map and gid_map, by a process outside the
//! namespace (or by the first process inside, for itself). Who may write
//! what is user_namespaces(7)'s rule: a process with CAP_SETUID out here
//! (host root) may map any range; an ordinary user may map one id, its
//! own, and for the groups only after writing `deny` to
//! /proc/PID/setgroups (else the container could drop a group that
//! denies it a file: the kernel's CVE-2014-8989).

use std::fs;

use anyhow::{Context, Result};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, setgroups, setresgid, setresuid, ForkResult, Gid, Pid, Uid};

use crate::say;

// ANCHOR: plan
/// The host's ids that root's containers get: container ids 0 to 65535
/// are host ids 100000 to 165535, which no file of the host has (a real
/// runtime takes its range from /etc/subuid; see the chapter).
pub const RANGE: Map = Map {
    inside: 0,
    outside: 100_000,
    count: 65_536,
};

/// One line of a uid_map or gid_map.
#[derive(Debug, PartialEq)]
pub struct Map {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The maps the container gets, users' then groups': host root gives it
/// RANGE; an ordinary user can give it one id, its own, as root.
pub fn plan(uid: Uid, gid: Gid) -> (Map, Map) {
    if uid.is_root() {
        return (RANGE, RANGE);
    }
    let one = |outside| Map {
        inside: 0,
        outside,
        count: 1,
    };
    (one(uid.as_raw()), one(gid.as_raw()))
}
// ANCHOR_END: plan

// ANCHOR: write
/// Writes the maps of CHILD's user namespace, from out here, while it
/// waits: until then it is no one (the overflow id, 65534) in there.
pub fn write_maps(child: Pid, uids: &Map, gids: &Map) -> Result<()> {
    let proc = format!("/proc/{child}");
    if !Uid::effective().is_root() {
        write(&format!("{proc}/setgroups"), "deny")?;
    }
    write(&format!("{proc}/uid_map"), &line(uids))?;
    write(&format!("{proc}/gid_map"), &line(gids))?;
    say(&format!(
        "uid_map: {}, gid_map: {}",
        line(uids).trim(),
        line(gids).trim()
    ));
    Ok(())
}

fn line(map: &Map) -> String {
    format!("{} {} {}\n", map.inside, map.outside, map.count)
}

fn write(file: &str, text: &str) -> Result<()> {
    fs::write(file, text).with_context(|| format!("writing {:?} to {file}", text.trim()))
}
// ANCHOR_END: write

// ANCHOR: become_root
/// The child's side, once mapped: take uid and gid 0 of the namespace.
/// Cloned by host root, the child is still host root's ids, which the
/// map does not name; the ids change, the capabilities (the namespace's
/// since clone) stay. The host's supplementary groups go too, where the
/// map lets them (where setgroups is denied, they stay, unmapped).
pub fn become_root() -> Result<()> {
    let root_gid = Gid::from_raw(0);
    setresgid(root_gid, root_gid, root_gid).context("setresgid(0, 0, 0)")?;
    let denied = fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !denied {
        setgroups(&[]).context("setgroups([])")?;
    }
    let root = Uid::from_raw(0);
    setresuid(root, root, root).context("setresuid(0, 0, 0)")
}
// ANCHOR_END: become_root

// ANCHOR: in_own
/// Runs F in a child process that is root of a user namespace of its own
/// with one id mapped, ours: how an ordinary user unpacks an image, which
/// needs chroot (CAP_SYS_CHROOT, which that root has). F's errors are said
/// by the child; the parent learns only that it failed.
pub fn in_own(f: impl FnOnce() -> Result<()>) -> Result<()> {
    let (uid, gid) = (Uid::effective(), Gid::effective());
    // SAFETY: single-threaded: the child runs F and exits.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            let status = match map_self(uid, gid).and_then(|()| f()) {
                Ok(()) => 0,
                Err(err) => {
                    say(&format!("{err:#}"));
                    1
                }
            };
            std::process::exit(status)
        }
        ForkResult::Parent { child } => match waitpid(child, None).context("waitpid")? {
            WaitStatus::Exited(_, 0) => Ok(()),
            _ => anyhow::bail!("it failed in its user namespace (said above)"),
        },
    }
}

/// The process's own user namespace, where it is root, UID and GID outside.
fn map_self(uid: Uid, gid: Gid) -> Result<()> {
    unshare(CloneFlags::CLONE_NEWUSER).context("unshare(CLONE_NEWUSER)")?;
    write("/proc/self/setgroups", "deny")?;
    write("/proc/self/uid_map", &format!("0 {uid} 1\n"))?;
    write("/proc/self/gid_map", &format!("0 {gid} 1\n"))
}
// ANCHOR_END: in_own

/// Whether this process's user namespace maps one id only: then every
/// file it makes is that id's, whatever owner a layer names.
pub fn one_id_only() -> bool {
    let map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let lines: Vec<Vec<&str>> = map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    lines.len() == 1 && lines[0].get(2) == Some(&"1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_maps_the_range_and_a_user_itself() {
        let (uids, gids) = plan(Uid::from_raw(0), Gid::from_raw(0));
        assert_eq!((uids, gids), (RANGE, RANGE));
        let (uids, gids) = plan(Uid::from_raw(1000), Gid::from_raw(100));
        assert_eq!(line(&uids), "0 1000 1\n");
        assert_eq!(line(&gids), "0 100 1\n");
    }
}
