//! Root's powers, cut down to docker's default set.
//!
//! The kernel does not ask "is this root?" but "has this process the
//! capability for this?": mounting needs CAP_SYS_ADMIN, changing the
//! network CAP_NET_ADMIN, loading a module CAP_SYS_MODULE, and so on, some
//! forty of them (capabilities(7)). A process holds them in five sets:
//! - bounding: the most it can ever have, across every execve to come;
//! - permitted: those it has; effective: those the kernel checks now;
//! - inheritable, ambient: those it may hand across execve to a program
//!   that is not root.
//!
//! A root process starts with all of them. The container keeps the 14 that
//! docker keeps: enough for what images do (chown files, bind port 80,
//! switch to another user), none that reaches past the namespaces.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::libc;

// ANCHOR: keep
/// Docker's default capabilities, by their numbers (linux/capability.h).
pub const KEEP: [(&str, u32); 14] = [
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_RAW", 13),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_MKNOD", 27),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_SETFCAP", 31),
];
// ANCHOR_END: keep

/// The set as a bit mask, bit N for capability N.
pub fn mask() -> u64 {
    KEEP.iter().fold(0, |mask, (_, bit)| mask | 1 << bit)
}

// ANCHOR: drop
/// Drops every capability but KEEP from all five sets of this process.
pub fn drop_all_but_docker_defaults() -> Result<()> {
    let keep = mask();
    // The bounding set first: dropping from it needs CAP_SETPCAP, which the
    // process still has. The kernel's last capability depends on its
    // version: prctl says EINVAL past it.
    for cap in 0..64u32 {
        if keep & 1 << cap != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number, nothing else.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        match Errno::result(r) {
            Ok(_) => {}
            Err(Errno::EINVAL) => break,
            Err(err) => bail!("dropping capability {cap} from the bounding set: {err}"),
        }
    }
    // Effective and permitted: KEEP. Inheritable: none. (Docker set it to
    // KEEP until CVE-2022-24769: a program with inheritable file
    // capabilities gained them, even run by a user that is not root.)
    set(keep, keep, 0).context("capset(2): setting the effective and permitted sets")?;
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointer.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    Errno::result(r).context("clearing the ambient set")?;
    Ok(())
}
// ANCHOR_END: drop

/// capset(2), which glibc does not wrap (libcap does): version 3 of its
/// header, then two words of each set, capabilities 0-31 and 32-63.
fn set(effective: u64, permitted: u64, inheritable: u64) -> nix::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522; // _LINUX_CAPABILITY_VERSION_3
    let header = Header {
        version: VERSION_3,
        pid: 0, // this process
    };
    let word = |set: u64, i: u32| (set >> (32 * i)) as u32;
    let data = [0, 1].map(|i| Data {
        effective: word(effective, i),
        permitted: word(permitted, i),
        inheritable: word(inheritable, i),
    });
    // SAFETY: header and data are laid out as linux/capability.h's
    // structs, and live through the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    Errno::result(r).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_is_the_one_docker_containers_show() {
        // CapEff in /proc/self/status of a docker (or podman) container.
        assert_eq!(format!("{:016x}", mask()), "00000000a80425fb");
    }
}
