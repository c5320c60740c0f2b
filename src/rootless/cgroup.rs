//! Limits without root: a cgroup only where cgroup v2 delegates a subtree
//! to the user (systemd's `Delegate=yes` on user@UID.service), as podman's
//! cgroupfs manager does. cgroup v1 has no delegation: only root makes
//! cgroups there, so a limit asked is refused, saying so.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::runtime::cgroups::Layout;

/// The controllers ctr's limits use.
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

// ANCHOR: delegated
/// Of `own` (our cgroup, from the top of the tree) and its ancestors, the
/// highest that `owned` says is the user's: the delegated subtree's top.
/// Pure: `owned` is asked about paths from the top.
pub fn delegated(own: &Path, owned: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    own.ancestors()
        .filter(|p| p != &Path::new("/") && owned(p))
        .last()
        .map(Path::to_path_buf)
}
// ANCHOR_END: delegated

/// Where the user's containers' cgroups go (the engine puts each at
/// PARENT/ID), or why there is none.
pub fn parent(layout: &Layout) -> Result<PathBuf> {
    let Layout::V2(point) = layout else {
        bail!(
            "limits (--memory, --cpus, --pids-limit...) without root need cgroup v2, where \
             the user can be given a subtree of cgroups; this host has cgroup v1, where only \
             root makes cgroups: run the container without limits, or as root (sudo)"
        );
    };
    let text = std::fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let own = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(PathBuf::from)
        .context("/proc/self/cgroup has no cgroup v2 line")?;
    // In our user namespace the user is uid 0: what it owns shows as 0.
    let me = nix::unistd::geteuid().as_raw();
    let owned = |p: &Path| {
        let dir = point.join(p.strip_prefix("/").unwrap_or(p));
        std::fs::metadata(dir.join("cgroup.subtree_control")).is_ok_and(|m| m.uid() == me)
    };
    let Some(top) = delegated(&own, &owned) else {
        bail!(
            "limits without root need a cgroup v2 subtree delegated to the user (systemd: \
             log in through pam_systemd, or `systemd-run --user --scope -p Delegate=yes \
             ctr run ...`); no cgroup above {} is the user's: run the container without \
             limits, or as root (sudo)",
            own.display()
        );
    };
    let dir = point.join(top.strip_prefix("/").unwrap_or(&top));
    let available = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let missing: Vec<&str> = CONTROLLERS
        .into_iter()
        .filter(|c| !available.split_whitespace().any(|a| a == *c))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the cgroup delegated to the user ({}) is not given the controllers {}: \
             ask for them (systemd: Delegate=memory cpu pids), or run the container \
             without limits",
            dir.display(),
            missing.join(" ")
        );
    }
    if top == own {
        bail!(
            "ctr's own cgroup {} is the one delegated to the user, and a cgroup that holds \
             processes cannot hand controllers down (v2's no-internal-processes rule): \
             start ctr in a cgroup below it",
            dir.display()
        );
    }
    Ok(top.join("ctr"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_cgroup_of_the_users() {
        let own = Path::new("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope");
        let owned = |p: &Path| p.starts_with("/user.slice/user-1000.slice/user@1000.service");
        assert_eq!(
            delegated(own, &owned),
            Some(PathBuf::from(
                "/user.slice/user-1000.slice/user@1000.service"
            ))
        );
        assert_eq!(delegated(own, &|_: &Path| false), None);
    }
}
