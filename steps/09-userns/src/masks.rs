//! The parts of /proc a container may not read, or not write.
//!
//! /proc is the kernel's, and not all of it knows about namespaces: some
//! files tell of the whole machine (its timers, its keys, its hardware),
//! and some set the whole machine (/proc/sys, /proc/sysrq-trigger). Docker
//! hides the first kind and makes the second read-only; so does the lesson,
//! with the same lists.

use std::io;
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

// ANCHOR: lists
/// Hidden: a file reads as empty (/dev/null is mounted on it), a directory
/// as an empty read-only tmpfs. Docker's list. (Docker also hides
/// /sys/firmware; the lesson mounts no /sys.)
pub const MASKED: [&str; 9] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
];

/// Read-only: seen, but not written to. Docker's list.
pub const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
// ANCHOR_END: lists

// ANCHOR: hide
/// Masks MASKED and makes READ_ONLY read-only, in the container's own mount
/// namespace, after /proc and /dev are mounted (/dev/null is the mask). A
/// path this kernel does not have is skipped: there is nothing to hide.
/// Returns the paths masked, and those made read-only.
pub fn hide() -> Result<(Vec<&'static str>, Vec<&'static str>)> {
    let (mut masked, mut read_only) = (Vec::new(), Vec::new());
    for path in MASKED {
        let Some(is_dir) = kind(path)? else { continue };
        masked.push(path);
        if is_dir {
            let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            mount(Some("tmpfs"), path, Some("tmpfs"), flags, None::<&str>)
                .with_context(|| format!("mounting an empty tmpfs on {path}"))?;
        } else {
            mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("mounting /dev/null on {path}"))?;
        }
    }
    for path in READ_ONLY {
        if kind(path)?.is_none() {
            continue;
        }
        read_only.push(path);
        // A mount's flags are set by mount(2), so PATH becomes a mount of
        // its own first (bound onto itself), then is remounted read-only.
        // The remount replaces every flag: /proc's others with it.
        mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .with_context(|| format!("binding {path} onto itself"))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
            .with_context(|| format!("remounting {path} read-only"))?;
    }
    Ok((masked, read_only))
}

/// Whether PATH is a directory; None if it does not exist.
fn kind(path: &str) -> Result<Option<bool>> {
    match Path::new(path).symlink_metadata() {
        Ok(meta) => Ok(Some(meta.is_dir())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("looking at {path}")),
    }
}
// ANCHOR_END: hide
