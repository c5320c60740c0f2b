//! Volumes: directories that outlive containers, under
//! `CTR_ROOT/volumes/NAME/` (`_data`, what containers mount, and
//! `volume.json`, its record), as docker's local driver keeps them. A
//! named volume is made on first use (`-v NAME:/data`) or by `ctr volume
//! create`; an anonymous one (`-v /data`, an image's `Volumes`) gets a
//! random name and goes with its container on `ctr rm -v` or `--rm`. A
//! new, empty volume is filled with what the image has at the mount's
//! target, owners and modes kept (docker's copy-up).
//!
//! Which containers use a volume is written in their directory
//! (`containers/ID/volumes.json`), under the store's lock: `volume rm`
//! refuses a volume any container uses, running or not, as docker does.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::container::volumes::{check_volume_name, Source, Wanted};
use crate::image::Store;
use crate::runtime::in_root::{self, Root};

/// docker's label on the volumes it makes for `-v /path` and images.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// A volume's record: `volumes/NAME/volume.json`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Volume {
    pub name: String,
    /// Seconds since the epoch.
    pub created: u64,
    #[serde(default)]
    pub anonymous: bool,
}

/// A container's use of volumes: `containers/ID/volumes.json`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Uses {
    pub volumes: Vec<Use>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Use {
    pub name: String,
    pub anonymous: bool,
    pub target: String,
}

/// A wanted mount with its source on the host found or made.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub wanted: Wanted,
    /// The bind's path or the volume's `_data` (empty for a tmpfs).
    pub host: PathBuf,
    /// The volume's name, when it is one.
    pub volume: Option<String>,
}

pub fn volumes_dir(store: &Store) -> PathBuf {
    store.root().join("volumes")
}

/// What containers mount of volume `name`.
pub fn data_dir(store: &Store, name: &str) -> PathBuf {
    volumes_dir(store).join(name).join("_data")
}

fn record_path(store: &Store, name: &str) -> PathBuf {
    volumes_dir(store).join(name).join("volume.json")
}

/// Volume `name`'s record; an error that says how to list them if there
/// is none.
pub fn get(store: &Store, name: &str) -> Result<Volume> {
    let path = record_path(store, name);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            bail!("no such volume: {name}: see `ctr volume ls`")
        }
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Makes volume `name` unless it exists; the caller holds the store's lock.
/// Returns it, and whether it was made now.
pub fn create(store: &Store, name: &str, anonymous: bool) -> Result<(Volume, bool)> {
    check_volume_name(name)?;
    if let Ok(volume) = get(store, name) {
        return Ok((volume, false));
    }
    let data = data_dir(store, name);
    fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let volume = Volume {
        name: name.to_string(),
        created: crate::image::store::now(),
        anonymous,
    };
    store.write_atomic(
        &record_path(store, name),
        &serde_json::to_vec_pretty(&volume)?,
    )?;
    Ok((volume, true))
}

/// Every volume, by name.
pub fn list(store: &Store) -> Result<Vec<Volume>> {
    let dir = volumes_dir(store);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // A volume being made or removed has no record yet, or no more.
        if let Ok(volume) = get(store, &name) {
            out.push(volume);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Which containers (by ID) use each volume.
pub fn users(store: &Store) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let dir = crate::container::containers_dir(store);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(out);
    };
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        for u in read_uses(&entry.path())?.volumes {
            out.entry(u.name).or_default().push(id.clone());
        }
    }
    Ok(out)
}

/// The volumes a container uses, as its directory records them.
pub fn read_uses(container_dir: &Path) -> Result<Uses> {
    let path = container_dir.join("volumes.json");
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Uses::default()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Removes volume `name`, refusing one that a container uses (its record
/// first, so that a half-removed volume is no longer listed).
pub fn remove(store: &Store, name: &str) -> Result<()> {
    let _lock = store.lock(true)?;
    get(store, name)?;
    if let Some(ids) = users(store)?.get(name) {
        let short: Vec<&str> = ids.iter().map(|id| &id[..id.len().min(12)]).collect();
        bail!(
            "remove {name}: volume is in use by container {}: remove {} first (`ctr rm`)",
            short.join(", "),
            if short.len() == 1 { "it" } else { "them" }
        );
    }
    remove_unlocked(store, name)
}

fn remove_unlocked(store: &Store, name: &str) -> Result<()> {
    let dir = volumes_dir(store).join(name);
    crate::image::store::remove_any(&dir.join("volume.json"))?;
    crate::image::store::remove_any(&dir)
}

/// `ctr volume prune`: the volumes no container uses, anonymous ones only
/// unless `all` (docker 23's rule). Returns (name, bytes) of each removed.
pub fn prune(store: &Store, all: bool) -> Result<Vec<(String, u64)>> {
    let _lock = store.lock(true)?;
    let users = users(store)?;
    let mut removed = Vec::new();
    for volume in list(store)? {
        if users.contains_key(&volume.name) || !(all || volume.anonymous) {
            continue;
        }
        let bytes = crate::image::store::dir_size(&data_dir(store, &volume.name)).unwrap_or(0);
        remove_unlocked(store, &volume.name)?;
        removed.push((volume.name, bytes));
    }
    Ok(removed)
}

/// After a container's files are gone (`ctr rm -v`, `--rm`): removes the
/// anonymous volumes it used that no other container uses.
pub fn remove_anonymous(store: &Store, uses: &Uses) -> Result<()> {
    let anonymous: Vec<&Use> = uses.volumes.iter().filter(|u| u.anonymous).collect();
    if anonymous.is_empty() {
        return Ok(());
    }
    let _lock = store.lock(true)?;
    let users = users(store)?;
    for u in anonymous {
        if !users.contains_key(&u.name) {
            remove_unlocked(store, &u.name)
                .with_context(|| format!("removing anonymous volume {}", u.name))?;
        }
    }
    Ok(())
}

// ANCHOR: resolve
/// Finds or makes each mount's source, under the store's lock (held by
/// the caller) and writes the container's use of volumes, so that no
/// `volume rm` can slip in between: a named volume made if new, an
/// anonymous one named at random, a missing host path made for `-v` as
/// docker does, refused for `--mount type=bind`.
pub fn resolve(store: &Store, container_dir: &Path, wanted: &[Wanted]) -> Result<Vec<Resolved>> {
    let mut uses = Uses::default();
    let result = resolve_each(store, container_dir, wanted, &mut uses);
    if result.is_err() {
        // The anonymous volumes made for a container that will not be.
        for u in uses.volumes.iter().filter(|u| u.anonymous) {
            _ = remove_unlocked(store, &u.name);
        }
    }
    result
}

fn resolve_each(
    store: &Store,
    container_dir: &Path,
    wanted: &[Wanted],
    uses: &mut Uses,
) -> Result<Vec<Resolved>> {
    let mut resolved = Vec::new();
    for w in wanted {
        let (host, volume) = match &w.source {
            Source::Bind { path, create } => {
                if !path.exists() {
                    if !create {
                        bail!(
                            "invalid mount config for type \"bind\": bind source path does not \
                             exist: {}: create it first, or use -v, which does",
                            path.display()
                        );
                    }
                    fs::create_dir_all(path)
                        .with_context(|| format!("creating the host path {}", path.display()))?;
                }
                (path.clone(), None)
            }
            Source::Named(name) => {
                create(store, name, false)?;
                (data_dir(store, name), Some((name.clone(), false)))
            }
            Source::Anonymous => {
                let name = crate::runtime::ContainerId::random()?.as_str().to_string();
                create(store, &name, true)?;
                (data_dir(store, &name), Some((name, true)))
            }
            Source::Tmpfs(_) => (PathBuf::new(), None),
        };
        if let Some((name, anonymous)) = &volume {
            uses.volumes.push(Use {
                name: name.clone(),
                anonymous: *anonymous,
                target: w.target.clone(),
            });
        }
        resolved.push(Resolved {
            wanted: w.clone(),
            host,
            volume: volume.map(|(name, _)| name),
        });
    }
    if !uses.volumes.is_empty() {
        store.write_atomic(
            &container_dir.join("volumes.json"),
            &serde_json::to_vec_pretty(uses)?,
        )?;
    }
    Ok(resolved)
}
// ANCHOR_END: resolve

// ANCHOR: copy_up
/// docker's copy-up: a volume that is still empty gets what the image has
/// at `target` (looked up inside the container's root, so that an image's
/// symlink cannot point the copy at the host's files), and the owner and
/// mode of that directory. Nothing to copy when the image has no
/// directory there, or the volume has content already.
pub fn populate(rootfs: &Root, target: &str, volume: &Path) -> Result<()> {
    // Two containers starting on one new volume: the second waits, then
    // finds it filled.
    let _copying = match volume.parent() {
        Some(dir) => Some(crate::lockfile::lock(&dir.join("copy.lock"), true)?),
        None => None,
    };
    let is_empty = fs::read_dir(volume)
        .with_context(|| format!("reading {}", volume.display()))?
        .next()
        .is_none();
    if !is_empty {
        return Ok(());
    }
    let fd = match rootfs.open_at(Path::new(target), libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Ok(())
        }
        Err(err) => {
            return Err(err).with_context(|| format!("opening the image's {target}"));
        }
    };
    // The descriptor's path: the directory found inside the root. The tree
    // below is the image's, not yet touched by a running container.
    let source = fs::read_link(in_root::proc_path(&fd))
        .with_context(|| format!("resolving the image's {target}"))?;
    copy_tree(&source, volume)
        .with_context(|| format!("copying the image's {target} into {}", volume.display()))?;
    copy_owner_and_mode(&fs::symlink_metadata(&source)?, volume)
}
// ANCHOR_END: copy_up

/// Copies the content of `from` into `to`: directories, files, symlinks
/// (as links, never followed), devices and fifos, with owners and modes.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta =
            fs::symlink_metadata(&src).with_context(|| format!("reading {}", src.display()))?;
        let kind = meta.file_type();
        let shown = || format!("copying {}", src.display());
        if kind.is_dir() {
            fs::create_dir(&dst).with_context(shown)?;
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).with_context(shown)?, &dst)
                .with_context(shown)?;
            std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))
                .with_context(shown)?;
            continue;
        } else if kind.is_file() {
            fs::copy(&src, &dst).with_context(shown)?;
        } else if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
            let mode = nix::sys::stat::Mode::from_bits_truncate(meta.mode());
            let sflag = nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
            nix::sys::stat::mknod(&dst, sflag, mode, meta.rdev()).with_context(shown)?;
        } else {
            continue; // a socket: nothing a copy can carry
        }
        copy_owner_and_mode(&meta, &dst).with_context(shown)?;
    }
    Ok(())
}

fn copy_owner_and_mode(meta: &fs::Metadata, to: &Path) -> Result<()> {
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))
        .with_context(|| format!("chown {}", to.display()))?;
    // After chown, which clears setuid bits.
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .with_context(|| format!("chmod {}", to.display()))
}

/// `ctr volume inspect`'s object, docker's fields.
pub fn inspect(store: &Store, volume: &Volume) -> serde_json::Value {
    let labels = volume
        .anonymous
        .then(|| serde_json::json!({ ANONYMOUS_LABEL: "" }));
    serde_json::json!({
        "CreatedAt": crate::show::format_rfc3339(std::time::Duration::from_secs(volume.created)),
        "Driver": "local",
        "Labels": labels,
        "Mountpoint": data_dir(store, &volume.name),
        "Name": volume.name,
        "Options": null,
        "Scope": "local",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_made_once_used_and_removed_when_unused() {
        let root = std::env::temp_dir().join(format!("ctr-volume-test-{}", std::process::id()));
        _ = fs::remove_dir_all(&root);
        let store = Store::open(&root).unwrap();
        let (v, new) = create(&store, "data", false).unwrap();
        assert!(new && !v.anonymous);
        assert!(!create(&store, "data", false).unwrap().1);
        assert!(create(&store, "-x", false).is_err());
        // A container that uses it (its directory's volumes.json).
        let dir = crate::container::containers_dir(&store).join("c1");
        fs::create_dir_all(&dir).unwrap();
        let wanted = crate::container::volumes::plan(
            &crate::container::volumes::Flags {
                volume: vec!["data:/d".into(), "/anon".into()],
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        let resolved = resolve(&store, &dir, &wanted).unwrap();
        assert_eq!(resolved[0].host, data_dir(&store, "data"));
        let anon = resolved[1].volume.clone().unwrap();
        assert_eq!(anon.len(), 64);
        let err = format!("{:#}", remove(&store, "data").unwrap_err());
        assert!(err.contains("volume is in use by container c1"), "{err}");
        assert!(prune(&store, true).unwrap().is_empty());
        // The container is gone: its anonymous volume goes with `rm -v`.
        let uses = read_uses(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        remove_anonymous(&store, &uses).unwrap();
        let names: Vec<String> = list(&store).unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["data"]);
        create(&store, "other", true).unwrap();
        let pruned: Vec<String> = prune(&store, false)
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(pruned, ["other"]);
        remove(&store, "data").unwrap();
        assert!(list(&store).unwrap().is_empty());
        assert!(get(&store, "data").is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn copy_up_keeps_the_tree_and_follows_no_link_out() {
        let dir = std::env::temp_dir().join(format!("ctr-copy-up-{}", std::process::id()));
        _ = fs::remove_dir_all(&dir);
        let root = dir.join("root");
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::write(root.join("data/sub/f"), "hello").unwrap();
        fs::set_permissions(root.join("data"), fs::Permissions::from_mode(0o1770)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("data/link")).unwrap();
        fs::create_dir_all(dir.join("outside")).unwrap();
        fs::write(dir.join("outside/secret"), "host").unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), root.join("evil")).unwrap();
        let r = Root::open(&root).unwrap();
        let volume = dir.join("vol");
        fs::create_dir_all(&volume).unwrap();
        populate(&r, "/data", &volume).unwrap();
        assert_eq!(fs::read_to_string(volume.join("sub/f")).unwrap(), "hello");
        assert_eq!(
            fs::read_link(volume.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(fs::metadata(&volume).unwrap().mode() & 0o7777, 0o1770);
        // `/evil` leads outside the root: the root has no such directory.
        let other = dir.join("vol2");
        fs::create_dir_all(&other).unwrap();
        populate(&r, "/evil", &other).unwrap();
        assert_eq!(fs::read_dir(&other).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
