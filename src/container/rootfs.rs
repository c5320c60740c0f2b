//! The container's filesystem, made inside its new mount namespace: an
//! overlay of the image's layers with the container's own upper directory,
//! /proc, /sys, a minimal /dev, then pivot_root into it with the old root
//! detached, so that no path of the host stays reachable.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, pivot_root};

/// A file of the container's directory bind-mounted over one of the image's,
/// as docker does for /etc/hosts, /etc/hostname and /etc/resolv.conf: the
/// container sees them as its own, and the runtime can rewrite them.
pub struct Bind {
    pub source: PathBuf,
    /// Where, inside the container: `etc/hosts`.
    pub target: &'static str,
}

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
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        overlay.upper.display(),
        overlay.work.display()
    );
    (parent, options)
}
// ANCHOR_END: overlay_options

// ANCHOR: enter
/// Makes the container's root and moves into it. Runs in the child, in its
/// new mount namespace, as root.
pub fn enter(overlay: &Overlay, binds: &[Bind]) -> Result<()> {
    // The new namespace is a copy of the host's, propagation included: on a
    // host where / is shared (systemd), our mounts would appear there too.
    // Cut that first (lizrice/containers-from-scratch#3 is this bug).
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making / private (mount --make-rprivate /)")?;

    let (cwd, options) = overlay_options(overlay);
    if let Some(cwd) = &cwd {
        chdir(cwd).with_context(|| format!("entering {}", cwd.display()))?;
    }
    mount(
        Some("overlay"),
        &overlay.merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .with_context(|| {
        format!(
            "mounting the overlay on {} ({options})",
            overlay.merged.display()
        )
    })?;

    let root = &overlay.merged;
    mount_proc(root)?;
    mount_sys(root)?;
    mount_dev(root)?;
    for bind in binds {
        bind_file(root, bind)?;
    }

    // pivot_root(".", "."): the old root ends up stacked under the new one,
    // and a lazy unmount of "." then detaches it (runc does this), without a
    // directory for it in the image.
    chdir(root).with_context(|| format!("entering {}", root.display()))?;
    pivot_root(".", ".").context("pivot_root into the container's root")?;
    umount2(".", MntFlags::MNT_DETACH).context("detaching the host's root")?;
    chdir("/").context("chdir to the new /")?;
    Ok(())
}
// ANCHOR_END: enter

/// Binds one file over the image's. The image's /etc must be a directory,
/// not a symlink that would lead the mount out of the root; its file there
/// is replaced by an empty one if it is anything else (docker images often
/// make resolv.conf a symlink into /run).
fn bind_file(root: &Path, bind: &Bind) -> Result<()> {
    let target = root.join(bind.target);
    let parent = target.parent().expect("a file under /etc");
    match fs::symlink_metadata(parent) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => anyhow::bail!(
            "the image's /{} is not a directory: cannot give the container its {}",
            parent.strip_prefix(root).unwrap_or(parent).display(),
            bind.target
        ),
        Err(_) => fs::create_dir_all(parent)
            .with_context(|| format!("creating {} in the container", parent.display()))?,
    }
    match fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_file() => {}
        Ok(meta) => {
            if meta.is_dir() {
                fs::remove_dir_all(&target)
            } else {
                fs::remove_file(&target)
            }
            .with_context(|| format!("replacing the image's /{}", bind.target))?;
            fs::write(&target, b"").with_context(|| format!("creating /{}", bind.target))?;
        }
        Err(_) => fs::write(&target, b"").with_context(|| format!("creating /{}", bind.target))?,
    }
    mount(
        Some(&bind.source),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("binding {} onto /{}", bind.source.display(), bind.target))
}

fn dir(root: &Path, name: &str) -> Result<PathBuf> {
    let path = root.join(name);
    fs::create_dir_all(&path).with_context(|| format!("creating /{name} in the container"))?;
    Ok(path)
}

fn mount_at(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(Some(source), target, Some(fstype), flags, data)
        .with_context(|| format!("mounting {fstype} on {}", target.display()))
}

fn nosuid_nodev_noexec() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// A proc of the new PID namespace, with docker's read-only spots: the
/// kernel's knobs (/proc/sys, sysrq-trigger...) are not the container's to turn.
fn mount_proc(root: &Path) -> Result<()> {
    let proc = dir(root, "proc")?;
    mount_at("proc", &proc, "proc", nosuid_nodev_noexec(), None)?;
    for name in ["bus", "fs", "irq", "sys", "sysrq-trigger"] {
        let path = proc.join(name);
        if path.exists() {
            read_only_bind(&path)?;
        }
    }
    Ok(())
}

fn read_only_bind(path: &Path) -> Result<()> {
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("binding {}", path.display()))?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | nosuid_nodev_noexec();
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("making {} read-only", path.display()))
}

fn mount_sys(root: &Path) -> Result<()> {
    let sys = dir(root, "sys")?;
    mount_at(
        "sysfs",
        &sys,
        "sysfs",
        nosuid_nodev_noexec() | MsFlags::MS_RDONLY,
        None,
    )
}

// ANCHOR: dev
/// A /dev of its own: a tmpfs with the harmless devices bind-mounted from the
/// host's (a new mount namespace may not mknod usable devices everywhere,
/// and binding is what runc does without a user namespace too), a devpts
/// instance of its own, and shared memory.
fn mount_dev(root: &Path) -> Result<()> {
    let dev = dir(root, "dev")?;
    mount_at(
        "tmpfs",
        &dev,
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(name);
        fs::write(&target, b"").with_context(|| format!("creating /dev/{name}"))?;
        let host = Path::new("/dev").join(name);
        mount(
            Some(&host),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("binding the host's {} into the container", host.display()))?;
    }
    let pts = dir(&dev, "pts")?;
    mount_at(
        "devpts",
        &pts,
        "devpts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dir(&dev, "shm")?;
    mount_at(
        "shm",
        &shm,
        "tmpfs",
        nosuid_nodev_noexec(),
        Some("mode=1777,size=65536k"),
    )?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        symlink(target, dev.join(link)).with_context(|| format!("linking /dev/{link}"))?;
    }
    Ok(())
}
// ANCHOR_END: dev

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
