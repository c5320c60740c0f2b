//! The container's root filesystem: an overlay of the image's layers (read
//! only, shared by every container of the image) under the container's own
//! upper directory, mounted by the engine on the bundle's `rootfs` before
//! the runtime is called, as docker's and containerd's snapshotters do.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::chdir;

/// The overlay's directories. `lower` is bottom layer first, as images list them.
pub struct Overlay {
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

// ANCHOR: overlay_options
/// overlayfs takes its lower dirs top first. The options must fit in one
/// page (4 KiB): the layer dirs are named relative to their common parent,
/// where the mount is made from, so that ~60 layers fit.
pub fn overlay_options(overlay: &Overlay) -> (Option<PathBuf>, String) {
    let parent = overlay
        .lower
        .first()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf);
    let lower: Vec<String> = overlay
        .lower
        .iter()
        .rev()
        .map(|p| match (&parent, p.parent()) {
            (Some(parent), Some(pp)) if pp == parent => p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            _ => p.display().to_string(),
        })
        .collect();
    let mut options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        overlay.upper.display(),
        overlay.work.display()
    );
    // ANCHOR: userxattr
    if crate::rootless::active().is_some() {
        // In a user namespace overlayfs cannot use trusted.* xattrs: its
        // own marks (opaque directories) are user.overlay.* then.
        options.push_str(",userxattr");
    }
    // ANCHOR_END: userxattr
    (parent, options)
}
// ANCHOR_END: overlay_options

// ANCHOR: mount
/// Mounts the overlay on `merged`. The relative lower dirs are resolved
/// from the layers' directory, which we enter for the call and leave.
pub fn mount_overlay(overlay: &Overlay) -> Result<()> {
    let (cwd, options) = overlay_options(overlay);
    let back = std::env::current_dir().ok();
    if let Some(cwd) = &cwd {
        chdir(cwd).with_context(|| format!("entering {}", cwd.display()))?;
    }
    // Without root, CTR_OVERLAY=fuse-overlayfs chooses it, as podman's
    // mount_program does; it is also what a kernel that refuses overlayfs
    // in a user namespace (before 5.11) gets.
    let rootless = crate::rootless::active().is_some();
    let fuse_asked = rootless && std::env::var("CTR_OVERLAY").as_deref() == Ok("fuse-overlayfs");
    let native = match fuse_asked {
        true => Err(nix::errno::Errno::EPERM),
        false => mount(
            Some("overlay"),
            &overlay.merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        ),
    };
    let mounted = match native {
        Err(nix::errno::Errno::EPERM | nix::errno::Errno::EINVAL) if rootless => {
            fuse_overlayfs(&options, &overlay.merged)
        }
        other => other.with_context(|| {
            format!(
                "mounting the overlay on {} ({options})",
                overlay.merged.display()
            )
        }),
    };
    if let Some(back) = back {
        _ = chdir(&back);
    }
    mounted
}
// ANCHOR_END: mount

/// fuse-overlayfs(1), the overlay in user space: the same options (but
/// `userxattr`, which it does not take), from the layers' directory.
fn fuse_overlayfs(options: &str, merged: &Path) -> Result<()> {
    let options = options.trim_end_matches(",userxattr");
    let out = std::process::Command::new("fuse-overlayfs")
        .arg("-o")
        .arg(options)
        .arg(merged)
        .output()
        .context(
            "overlayfs was refused in the user namespace, and fuse-overlayfs could not be run: \
             install it (Debian's package fuse-overlayfs)",
        )?;
    if !out.status.success() {
        anyhow::bail!(
            "fuse-overlayfs -o {options} {} failed: {}{}",
            merged.display(),
            String::from_utf8_lossy(&out.stderr).trim(),
            if String::from_utf8_lossy(&out.stderr).contains("/dev/fuse") {
                " (it needs /dev/fuse open to users: mode 0666)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Unmounts it (lazily: a process of ours may still be in it); not
/// mounted is not an error.
pub fn unmount(merged: &Path) -> Result<()> {
    match umount2(merged, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(err) => Err(err).with_context(|| format!("unmounting {}", merged.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_dirs_are_top_first_and_short() {
        let o = Overlay {
            lower: vec!["/s/layers/aaa".into(), "/s/layers/bbb".into()],
            upper: "/s/containers/c/upper".into(),
            work: "/s/containers/c/work".into(),
            merged: "/s/containers/c/merged".into(),
        };
        let (cwd, options) = overlay_options(&o);
        assert_eq!(cwd, Some(PathBuf::from("/s/layers")));
        assert_eq!(
            options,
            "lowerdir=bbb:aaa,upperdir=/s/containers/c/upper,workdir=/s/containers/c/work"
        );
    }

    #[test]
    fn a_lower_dir_elsewhere_keeps_its_full_path() {
        let o = Overlay {
            lower: vec!["/s/layers/aaa".into(), "/elsewhere/empty".into()],
            upper: "/u".into(),
            work: "/w".into(),
            merged: "/m".into(),
        };
        assert_eq!(
            overlay_options(&o).1,
            "lowerdir=/elsewhere/empty:aaa,upperdir=/u,workdir=/w"
        );
    }
}
