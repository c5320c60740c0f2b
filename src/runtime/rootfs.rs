//! The container's filesystem, made by its init in its new mount namespace
//! from config.json: the root made a mount point, every `mounts` entry in
//! order (targets resolved inside the root, see [`in_root`]), the default
//! devices, then pivot_root into it with the old root detached; then, from
//! inside, sysctls, masked and read-only paths, and a read-only root.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chdir, chown, pivot_root, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use super::in_root::{self, Kind, Root};
use super::mount_options;

// ANCHOR: prepare
/// Everything before pivot_root, in runc's order.
pub fn prepare(spec: &Spec, rootfs: &Path, cgroups: &[(PathBuf, String)]) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    // The new namespace is a copy of the caller's, propagation included: on
    // a host where / is shared (systemd), our mounts would appear there too.
    let propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some(word) => mount_options::propagation(word)
            .with_context(|| format!("linux.rootfsPropagation {word:?} is no propagation"))?,
    };
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .context("changing the propagation of / (mount --make-rprivate /)")?;
    // pivot_root needs the new root to be a mount point: bind it onto itself.
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("binding the root {} onto itself", rootfs.display()))?;

    let root = Root::open(rootfs)?;
    let mounts = spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        mount_one(&root, m, cgroups).with_context(|| {
            format!(
                "mounting {} ({})",
                m.destination().display(),
                m.typ().as_deref().unwrap_or("bind")
            )
        })?;
    }
    let dev_is_ours = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && m.typ().as_deref() != Some("bind"));
    if dev_is_ours {
        for device in default_devices()
            .iter()
            .chain(linux.devices().iter().flatten())
        {
            make_device(&root, device)?;
        }
        dev_links(&root, &mounts)?;
    } else {
        for device in linux.devices().iter().flatten() {
            make_device(&root, device)?;
        }
    }
    Ok(())
}
// ANCHOR_END: prepare

// ANCHOR: pivot
/// pivot_root(".", "."): the old root ends up stacked under the new one, and
/// a lazy unmount of "." then detaches it (runc does this), without a
/// directory for it in the image.
pub fn pivot(rootfs: &Path) -> Result<()> {
    chdir(rootfs).with_context(|| format!("entering {}", rootfs.display()))?;
    pivot_root(".", ".").context("pivot_root into the container's root")?;
    umount2(".", MntFlags::MNT_DETACH).context("detaching the host's root")?;
    chdir("/").context("chdir to the new /")
}
// ANCHOR_END: pivot

/// Inside the root: sysctls, masked and read-only paths, a read-only root.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    if let Some(sysctl) = linux.sysctl() {
        let mut keys: Vec<_> = sysctl.iter().collect();
        keys.sort();
        for (key, value) in keys {
            let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
            fs::write(&path, value)
                .with_context(|| format!("setting sysctl {key}={value} ({})", path.display()))?;
        }
    }
    for path in linux.masked_paths().iter().flatten() {
        mask(Path::new(path))?;
    }
    for path in linux.readonly_paths().iter().flatten() {
        read_only(Path::new(path))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .context("making the root read-only")?;
    }
    Ok(())
}

fn mount_one(root: &Root, m: &Mount, cgroups: &[(PathBuf, String)]) -> Result<()> {
    let options = mount_options::parse(m.options().as_deref().unwrap_or_default())?;
    let typ = m.typ().clone().unwrap_or_default();
    let source = m.source().clone().unwrap_or_default();
    let is_bind = options.bind.is_some() || typ == "bind";
    let kind = if is_bind && !source.is_dir() {
        Kind::File
    } else {
        Kind::Dir
    };
    let target = root.make(m.destination(), kind)?;
    let at = in_root::proc_path(&target);
    // What a second call (a remount, a propagation) acts on is the new
    // mount, which the descriptor, taken before it, does not name: its path.
    let mounted = || fs::read_link(&at).context("resolving the mount's path");
    match typ.as_str() {
        "cgroup" | "cgroup2" => mount_cgroup(&at, &options, cgroups)?,
        _ if is_bind => {
            let bind = options.bind.unwrap_or(MsFlags::MS_BIND);
            let flags = options.flags & !MsFlags::MS_REMOUNT;
            let recursive = bind.contains(MsFlags::MS_REC);
            // Made whole, then attached by descriptor: see bind.rs.
            if super::bind::bind(&source, &target, recursive, flags, options.propagation)
                .with_context(|| format!("binding {}", source.display()))?
                .is_ok()
            {
                return Ok(());
            }
            mount(Some(&source), &at, None::<&str>, bind, None::<&str>)
                .with_context(|| format!("binding {}", source.display()))?;
            // A bind takes its flags (ro, nosuid...) only on a remount.
            if !flags.is_empty() {
                let again = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags;
                mount(None::<&str>, &mounted()?, None::<&str>, again, None::<&str>)
                    .context("remounting the bind with its options")?;
            }
        }
        _ => {
            let data = (!options.data.is_empty()).then_some(options.data.as_str());
            mount(
                Some(source.as_os_str()).filter(|s| !s.is_empty()),
                &at,
                Some(typ.as_str()),
                options.flags,
                data,
            )
            .with_context(|| match options.data.as_str() {
                "" => "the kernel refused it".to_string(),
                data => format!("the kernel refused it, with the options {data}"),
            })?;
        }
    }
    if let Some(propagation) = options.propagation {
        mount(
            None::<&str>,
            &mounted()?,
            None::<&str>,
            propagation,
            None::<&str>,
        )
        .context("setting its propagation")?;
    }
    Ok(())
}

/// A cgroup filesystem at `at`. On cgroup v2, the cgroup2 filesystem, which
/// shows the container's cgroup namespace. On v1 (and the hybrid layout of
/// some hosts), as runc does: a tmpfs with each hierarchy's directory of
/// this process bound into it, so that the container sees its own cgroups,
/// named as on the host.
fn mount_cgroup(
    at: &Path,
    options: &mount_options::Options,
    cgroups: &[(PathBuf, String)],
) -> Result<()> {
    let flags = options.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let read_only = options.flags.contains(MsFlags::MS_RDONLY);
    if crate::runtime::cgroup_v2_only() {
        let ro = if read_only {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        return mount(
            Some("cgroup2"),
            at,
            Some("cgroup2"),
            flags | ro,
            None::<&str>,
        )
        .context("mounting cgroup2");
    }
    mount(Some("tmpfs"), at, Some("tmpfs"), flags, Some("mode=755"))
        .context("mounting the tmpfs for the cgroup hierarchies")?;
    let dir = PathBuf::from(at);
    let here = fs::read_link(&dir).unwrap_or(dir);
    for (mountpoint, path) in cgroups {
        let Some(name) = mountpoint.file_name() else {
            continue;
        };
        let source = mountpoint.join(path.trim_start_matches('/'));
        // A hierarchy covered by a later mount (a fresh sysfs on /sys) is
        // listed in mountinfo but out of reach: nothing to show of it.
        if !source.is_dir() {
            continue;
        }
        let target = here.join(name);
        fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
        mount(
            Some(&source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .with_context(|| format!("binding {}", source.display()))?;
        let again = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | flags
            | if read_only {
                MsFlags::MS_RDONLY
            } else {
                MsFlags::empty()
            };
        mount(None::<&str>, &target, None::<&str>, again, None::<&str>)
            .with_context(|| format!("remounting {}", target.display()))?;
        // `cpu,cpuacct` is also reached as `cpu` and `cpuacct`, as on the host.
        let name = name.to_string_lossy();
        if name.contains(',') {
            for alias in name.split(',') {
                _ = symlink(&*name, here.join(alias));
            }
        }
    }
    if read_only {
        let again = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags;
        mount(None::<&str>, &here, None::<&str>, again, Some("mode=755"))
            .context("making the cgroup tmpfs read-only")?;
    }
    Ok(())
}

/// (mount point, this process's cgroup in it) of every cgroup hierarchy
/// mounted here, v1 ones and a v2 one alike.
pub fn cgroup_hierarchies() -> Result<Vec<(PathBuf, String)>> {
    let own = fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = left.split(' ').nth(4).unwrap_or_default();
        let mut right = right.split(' ');
        let fstype = right.next().unwrap_or_default();
        let super_options = right.nth(1).unwrap_or_default();
        let path = match fstype {
            "cgroup2" => own
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .map(str::to_string),
            "cgroup" => own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                let wanted: Vec<&str> = controllers.split(',').collect();
                let ok = !controllers.is_empty()
                    && wanted
                        .iter()
                        .all(|c| super_options.split(',').any(|o| o == *c));
                ok.then(|| path.to_string())
            }),
            _ => None,
        };
        if let Some(path) = path {
            found.push((PathBuf::from(mountpoint), path));
        }
    }
    Ok(found)
}

/// runc's default devices: what every program expects to find in /dev.
fn default_devices() -> Vec<LinuxDevice> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(path, major, minor)| {
        let mut d = LinuxDevice::default();
        d.set_path(PathBuf::from(path));
        d.set_typ(LinuxDeviceType::C);
        d.set_major(major);
        d.set_minor(minor);
        d.set_file_mode(Some(0o666));
        d.set_uid(Some(0));
        d.set_gid(Some(0));
        d
    })
    .collect()
}

/// mknod(2) in the container's /dev (a tmpfs of its own, not `nodev`);
/// where that is refused (a user namespace), the host's node bound on a
/// file, as runc does.
fn make_device(root: &Root, d: &LinuxDevice) -> Result<()> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => bail!(
            "device {}: type \"a\" is a cgroup rule, not a node",
            d.path().display()
        ),
    };
    let shown = d.path().display().to_string();
    let parent = d.path().parent().unwrap_or(Path::new("/"));
    let dir = root.make(parent, Kind::Dir)?;
    let dir_path = fs::read_link(in_root::proc_path(&dir))
        .with_context(|| format!("resolving the directory of {shown}"))?;
    let name = d
        .path()
        .file_name()
        .with_context(|| format!("device {shown} has no file name"))?;
    let node = dir_path.join(name);
    _ = fs::remove_file(&node);
    let mode = Mode::from_bits_truncate(d.file_mode().unwrap_or(0o666));
    let dev = makedev(d.major() as u64, d.minor() as u64);
    match mknod(&node, kind, mode, dev) {
        Ok(()) => {}
        Err(nix::errno::Errno::EPERM) if kind != SFlag::S_IFIFO => {
            fs::write(&node, b"").with_context(|| format!("creating {shown}"))?;
            mount(
                Some(d.path()),
                &node,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("binding the host's {shown}"))?;
            return Ok(());
        }
        Err(err) => return Err(err).with_context(|| format!("mknod {shown}")),
    }
    // mknod's mode went through the umask.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&node, fs::Permissions::from_mode(mode.bits()))
        .with_context(|| format!("chmod {shown}"))?;
    chown(
        &node,
        d.uid().map(Uid::from_raw),
        d.gid().map(Gid::from_raw),
    )
    .with_context(|| format!("chown {shown}"))
}

/// /dev's usual symlinks: fd and stdio through /proc, ptmx to the
/// container's devpts, core to /proc/kcore.
fn dev_links(root: &Root, mounts: &[Mount]) -> Result<()> {
    let dev = root.make(Path::new("/dev"), Kind::Dir)?;
    let dev = fs::read_link(in_root::proc_path(&dev)).context("resolving /dev")?;
    let has_pts = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev/pts"));
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        if link == "ptmx" && !has_pts {
            continue;
        }
        let path = dev.join(link);
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        symlink(target, &path).with_context(|| format!("linking /dev/{link}"))?;
    }
    Ok(())
}

/// A masked path: /dev/null over a file, an empty read-only tmpfs over a
/// directory; a path that does not exist needs nothing.
fn mask(path: &Path) -> Result<()> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(());
    };
    let shown = || format!("masking {}", path.display());
    if meta.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0"),
        )
        .with_context(shown)
    } else {
        mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(shown)
    }
}

/// A read-only path: bound onto itself, then remounted read-only.
fn read_only(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("binding {}", path.display()))?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("making {} read-only", path.display()))
}

/// Whether `key` is a sysctl of a namespace the container has of its own
/// (`net` and `ipc` given), as runc checks: any other would change the
/// host's kernel.
pub fn sysctl_is_namespaced(key: &str, own_net: bool, own_ipc: bool, own_uts: bool) -> bool {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if key.starts_with("net.") {
        return own_net;
    }
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return own_ipc;
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return own_uts;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_sysctls_are_allowed() {
        assert!(sysctl_is_namespaced(
            "net.ipv4.ip_forward",
            true,
            false,
            false
        ));
        assert!(!sysctl_is_namespaced(
            "net.ipv4.ip_forward",
            false,
            true,
            true
        ));
        assert!(sysctl_is_namespaced("kernel.shmmax", false, true, false));
        assert!(sysctl_is_namespaced(
            "fs.mqueue.msg_max",
            false,
            true,
            false
        ));
        assert!(!sysctl_is_namespaced("kernel.panic", true, true, true));
        assert!(!sysctl_is_namespaced(
            "vm.overcommit_memory",
            true,
            true,
            true
        ));
    }

    #[test]
    fn the_default_devices_are_runcs() {
        let names: Vec<_> = default_devices()
            .iter()
            .map(|d| d.path().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty"
            ]
        );
    }
}
