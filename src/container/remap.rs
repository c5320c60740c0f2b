//! `ctr run --userns remap[:USER]`, for root: docker's userns-remap as an
//! option of one container. Its root is the first id of USER's range in
//! /etc/subuid and /etc/subgid (root's own range when no USER is named),
//! in a user namespace of its own: a process that escapes it is a nobody
//! on the host. Its image's files must be owned by those ids, as docker
//! keeps a store per remapping: each layer is copied once per range, its
//! owners shifted, under `CTR_ROOT/remapped/START-COUNT/`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use nix::unistd::{fchownat, Gid, Uid};

use crate::image::Store;
use crate::rootless::idmap::{self, Map};

// ANCHOR: parse
/// The maps of `--userns VALUE`: None for the host's ids.
pub fn parse(value: &str, subuid: &str, subgid: &str) -> Result<Option<(Map, Map)>> {
    let user = match value.split_once(':') {
        _ if value == "host" || value.is_empty() => return Ok(None),
        _ if value == "remap" => "root",
        Some(("remap", user)) if !user.is_empty() => user,
        _ => bail!("--userns {value}: use host, remap or remap:USER"),
    };
    let uid = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
        .unwrap_or(u32::MAX);
    let first = |text: &str, file: &str| -> Result<(u32, u32)> {
        match idmap::subordinate(text, user, uid).first() {
            Some(&range) => Ok(range),
            None => bail!(
                "--userns {value}: {file} has no range for {user}: add one \
                 (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user})"
            ),
        }
    };
    let (ustart, ucount) = first(subuid, "/etc/subuid")?;
    let (gstart, gcount) = first(subgid, "/etc/subgid")?;
    Ok(Some((
        idmap::remap(ustart, ucount),
        idmap::remap(gstart, gcount),
    )))
}
// ANCHOR_END: parse

/// The layers of an image, with owners shifted by the maps: copied once
/// (in tmp/, then renamed) and kept, as the layers are.
pub fn layers(store: &Store, layers: &[PathBuf], uid: &Map, gid: &Map) -> Result<Vec<PathBuf>> {
    let (u, g) = (&uid.ranges[0], &gid.ranges[0]);
    let dir = store.root().join("remapped").join(format!(
        "{}-{}-{}-{}",
        u.outside, u.count, g.outside, g.count
    ));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut out = Vec::new();
    for layer in layers {
        let name = layer.file_name().context("a layer without a name")?;
        let shifted = dir.join(name);
        if !shifted.is_dir() {
            // A directory of tmp/ that is this ctr's, as every writer of the store has.
            let temp = store.temp("remap")?;
            let tmp = temp.join("layer");
            // cp -a keeps what a layer holds: hard links, devices,
            // whiteouts, xattrs (an opaque directory's), times.
            let status = Command::new("cp")
                .arg("-a")
                .arg(layer)
                .arg(&tmp)
                .status()
                .context("running cp")?;
            if !status.success() {
                bail!("copying {} to {} failed", layer.display(), tmp.display());
            }
            shift(&tmp, uid, gid)?;
            fs::rename(&tmp, &shifted)
                .with_context(|| format!("renaming {} to {}", tmp.display(), shifted.display()))?;
        }
        out.push(shifted);
    }
    Ok(out)
}

// ANCHOR: shift
/// Gives `path` and everything below it the host's ids of their owners.
pub fn shift(path: &Path, uid: &Map, gid: &Map) -> Result<()> {
    let meta = fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(u), Some(g)) = (uid.outside(meta.uid()), gid.outside(meta.gid())) else {
        bail!(
            "{} is owned by {}:{}, beyond the remapped range",
            path.display(),
            meta.uid(),
            meta.gid()
        );
    };
    fchownat(
        nix::fcntl::AT_FDCWD,
        path,
        Some(Uid::from_raw(u)),
        Some(Gid::from_raw(g)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("changing the owner of {}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    // chown(2) clears the setuid and setgid bits: set them back.
    if meta.mode() & 0o6000 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .with_context(|| format!("changing the mode of {}", path.display()))?;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
            shift(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}
// ANCHOR_END: shift

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_no_remap_and_remap_takes_roots_range() {
        assert_eq!(parse("host", "", "").unwrap(), None);
        let (u, g) = parse("remap", "root:100000:65536\n", "root:200000:1000\n")
            .unwrap()
            .unwrap();
        assert_eq!(u.to_string(), "0 100000 65536\n");
        assert_eq!(g.to_string(), "0 200000 1000\n");
    }

    #[test]
    fn a_missing_range_or_a_bad_word_is_a_clear_error() {
        let err = parse("remap", "", "").unwrap_err().to_string();
        assert!(err.contains("/etc/subuid has no range for root"), "{err}");
        let err = parse("auto", "", "").unwrap_err().to_string();
        assert!(err.contains("use host, remap or remap:USER"), "{err}");
    }
}
