//! A bind mount made whole before it is attached, with the new mount API
//! (Linux 5.12): open_tree(2) clones the source's tree as a detached
//! mount, mount_setattr(2) makes it read-only (nosuid...) — the whole tree
//! for `rbind`, which a remount cannot do (docker's recursive read-only
//! binds since 25) — and move_mount(2) attaches it onto the target's
//! descriptor, which `in_root` found inside the container's root. No path
//! is resolved after that: a `mount -o remount,ro PATH` would look PATH up
//! again, and a container that swaps a component of it for a symlink
//! meanwhile (runc's CVE-2021-30465) would have the remount land
//! elsewhere while the bind stays writable.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::MsFlags;

// include/uapi/linux/mount.h: the same on every architecture.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// What `bind` could not do with the new API: the kernel is older than
/// 5.12, or a flag has no mount attribute (`sync`, `mand`...). The caller
/// then binds and remounts as before.
pub struct Unsupported;

/// Binds `source` onto what `target` names, with `flags` (ro, nosuid,
/// nodev, noexec, the atime ones) on the bound tree (all of it when
/// `recursive`), then `propagation` on it.
pub fn bind(
    source: &Path,
    target: &OwnedFd,
    recursive: bool,
    flags: MsFlags,
    propagation: Option<MsFlags>,
) -> Result<std::result::Result<(), Unsupported>> {
    let Some((set, clear)) = attributes(flags) else {
        return Ok(Err(Unsupported));
    };
    let rec = if recursive { libc::AT_RECURSIVE } else { 0 };
    let c_source = CString::new(source.as_os_str().as_bytes()).context("a path with a NUL byte")?;
    // SAFETY: open_tree with a NUL-terminated path; the descriptor is ours.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c_source.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | rec as libc::c_uint,
        )
    };
    if raw < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENOSYS) {
            return Ok(Err(Unsupported));
        }
        return Err(err).with_context(|| format!("cloning {} (open_tree)", source.display()));
    }
    // SAFETY: the kernel just returned it.
    let tree = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    if set != 0 || clear != 0 {
        match setattr(&tree, rec, set, clear, 0) {
            Err(err) if err.raw_os_error() == Some(libc::ENOSYS) => return Ok(Err(Unsupported)),
            result => result.context("setting the bind's flags (mount_setattr)")?,
        }
    }
    let empty = c"";
    // SAFETY: move_mount of two descriptors we own, empty paths.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context("attaching the bind (move_mount)");
    }
    // The tree's descriptor names the mount now attached: its propagation
    // is set through it, again without a path.
    if let Some(propagation) = propagation {
        let rec = if propagation.contains(MsFlags::MS_REC) {
            libc::AT_RECURSIVE
        } else {
            0
        };
        // c_ulong: u64 here, u32 on 32-bit machines.
        #[allow(clippy::unnecessary_cast)]
        let kind = (propagation & !MsFlags::MS_REC).bits() as u64;
        setattr(&tree, rec, 0, 0, kind).context("setting the bind's propagation")?;
    }
    Ok(Ok(()))
}

/// mount(2)'s per-mount flags as mount_setattr's (set, clear); None for a
/// flag that has no attribute.
fn attributes(flags: MsFlags) -> Option<(u64, u64)> {
    let mut set = 0;
    let mut clear = 0;
    for (flag, attr) in [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    ] {
        if flags.contains(flag) {
            set |= attr;
        }
    }
    // The atime mode is one field of three bits: set one, clear the field.
    for (flag, attr) in [
        (MsFlags::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
        (MsFlags::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
        (MsFlags::MS_RELATIME, libc::MOUNT_ATTR_RELATIME),
    ] {
        if flags.contains(flag) {
            set |= attr;
            clear |= libc::MOUNT_ATTR__ATIME;
        }
    }
    let known = MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_NODIRATIME
        | MsFlags::MS_NOATIME
        | MsFlags::MS_STRICTATIME
        | MsFlags::MS_RELATIME;
    (flags & !known).is_empty().then_some((set, clear))
}

fn setattr(
    tree: &OwnedFd,
    rec: i32,
    set: u64,
    clear: u64,
    propagation: u64,
) -> std::io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: mount_setattr on our descriptor with an attr of the size given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            (libc::AT_EMPTY_PATH | rec) as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_flags_map_to_attributes() {
        let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID;
        assert_eq!(
            attributes(ro),
            Some((libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID, 0))
        );
        assert_eq!(
            attributes(MsFlags::MS_NOATIME),
            Some((libc::MOUNT_ATTR_NOATIME, libc::MOUNT_ATTR__ATIME))
        );
        assert_eq!(attributes(MsFlags::MS_SYNCHRONOUS), None);
        assert_eq!(attributes(MsFlags::empty()), Some((0, 0)));
    }
}
