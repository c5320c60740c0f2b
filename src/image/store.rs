//! The content-addressed image store under CTR_ROOT:
//!
//! ```text
//! CTR_ROOT/lock                     flock: writers exclusive, `run` shared
//! CTR_ROOT/tmp/WHAT-PID-N/          one writer's temporary entry, flock'd by it (same filesystem, so rename is atomic)
//! CTR_ROOT/blobs/sha256/HEX         configs and manifests, verified
//! CTR_ROOT/layers/HEX/              a layer unpacked for overlayfs, named by its diff_id
//! CTR_ROOT/locks/HEX                flock: one pull at a time unpacks layer HEX
//! CTR_ROOT/images/HEX.json          an image, named by its ID (its config's digest)
//! CTR_ROOT/refs.json                reference -> image ID
//! CTR_ROOT/containers/ID/           a container's record and its overlay dirs
//! ```
//!
//! Everything is written to tmp/, fsync'd, checked and renamed into place, so
//! a crash leaves either the old state or the new one, and leftovers in tmp/.
//! Each write has its own directory there, flock'd by its writer while it
//! lives and removed by it when done: a cleaner (under the store's exclusive
//! lock) removes only what it can lock, i.e. what a dead writer left, never
//! a file that another writer is about to rename. Layers are keyed by
//! diff_id, so two images with the same layer share one directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::image::unpack;
use crate::lockfile;
use crate::reference::Reference;

pub const DEFAULT_ROOT: &str = "/var/lib/ctr";

/// An image as the store records it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ImageRecord {
    /// The image ID: the digest of its config.
    pub id: Digest,
    /// The manifest's digest, when the image came with one (OCI layouts, pulls).
    #[serde(default)]
    pub manifest: Option<Digest>,
    /// Bottom layer first.
    pub layers: Vec<LayerRecord>,
    /// The config's `created`, as written there.
    #[serde(default)]
    pub created: Option<String>,
    /// When it came into this store (seconds since the epoch).
    pub stored: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct LayerRecord {
    pub diff_id: Digest,
    /// Bytes of regular files in the layer.
    pub size: u64,
}

impl ImageRecord {
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

pub struct Store {
    root: PathBuf,
}

/// A held lock on the store; released when dropped.
pub struct Lock {
    _flock: Flock<File>,
}

/// A temporary entry of tmp/ that this writer owns: a directory of its own,
/// flock'd for as long as this value lives, then removed with what is left
/// in it. Write in it, then rename what was written out of it.
pub struct Temp {
    dir: PathBuf,
    _flock: Flock<File>,
}

impl Temp {
    /// A name inside the entry.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Removed while still locked: no cleaner takes it meanwhile.
        _ = remove_any(&self.dir);
    }
}

/// Tries to lock an entry of tmp/ without waiting: Some when its writer is
/// gone (or it is not a writer's directory), None while a writer holds it.
fn lock_if_abandoned(path: &Path) -> Result<Option<Option<Flock<File>>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Some(None)),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(flock) => Ok(Some(Some(flock))),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(errno).with_context(|| format!("locking {}", path.display())),
    }
}

impl Store {
    /// Opens the store at `root`, making its directories. Fails with what to
    /// do when `root` cannot be written.
    pub fn open(root: &Path) -> Result<Store> {
        for dir in ["tmp", "blobs/sha256", "layers", "images", "containers"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).with_context(|| {
                format!(
                    "cannot write the store at {} (creating {}): run as root, \
                     or choose another directory with --root or CTR_ROOT",
                    root.display(),
                    path.display()
                )
            })?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the store's lock: exclusive to change it, shared to read it and
    /// start containers (so that `rmi` cannot remove a layer being mounted).
    pub fn lock(&self, exclusive: bool) -> Result<Lock> {
        let flock = lockfile::lock(&self.root.join("lock"), exclusive)?;
        Ok(Lock { _flock: flock })
    }

    /// Takes the lock of one layer (exclusive), so that concurrent pulls
    /// download and unpack a layer once: the second finds it in place.
    /// Hold the store's shared lock meanwhile (`clean_tmp` needs everyone out).
    pub fn lock_layer(&self, diff_id: &Digest) -> Result<Lock> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Never removed: see crate::lockfile.
        let flock = lockfile::lock(&dir.join(diff_id.hex()), true)?;
        Ok(Lock { _flock: flock })
    }

    // ANCHOR: clean_tmp
    /// Removes what interrupted writers left in tmp/: the entries no live
    /// writer holds. Call with the exclusive lock held, so that two
    /// cleaners do not walk one tree at once.
    pub fn clean_tmp(&self, _lock: &Lock) -> Result<()> {
        for path in self.abandoned_tmp()? {
            // Locked while removed: a writer that created this name a
            // moment ago finds it gone and picks another.
            if let Some(_flock) = lock_if_abandoned(&path)? {
                remove_any(&path)?;
            }
        }
        Ok(())
    }

    /// The entries of tmp/ that no live writer holds: what an interrupted
    /// pull, import or run left.
    pub fn abandoned_tmp(&self) -> Result<Vec<PathBuf>> {
        let tmp = self.root.join("tmp");
        let mut found = Vec::new();
        for entry in fs::read_dir(&tmp).with_context(|| format!("reading {}", tmp.display()))? {
            let path = entry?.path();
            if lock_if_abandoned(&path)?.is_some() && path.exists() {
                found.push(path);
            }
        }
        Ok(found)
    }
    // ANCHOR_END: clean_tmp

    // ANCHOR: temp
    /// A new temporary entry of tmp/, owned by this writer until dropped.
    pub fn temp(&self, what: &str) -> Result<Temp> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        for _ in 0..16 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = self
                .root
                .join("tmp")
                .join(format!("{what}-{}-{n}", std::process::id()));
            match fs::create_dir(&dir) {
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                result => result.with_context(|| format!("creating {}", dir.display()))?,
            }
            // A cleaner may lock and remove the new directory before we
            // lock it: then it is not ours, and another name is tried.
            let Some(Some(flock)) = lock_if_abandoned(&dir)? else {
                continue;
            };
            let ours = match (fs::symlink_metadata(&dir), flock.metadata()) {
                (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
                _ => false,
            };
            if ours {
                return Ok(Temp { dir, _flock: flock });
            }
        }
        bail!(
            "cannot make a temporary directory in {}: another ctr keeps removing them",
            self.root.join("tmp").display()
        )
    }
    // ANCHOR_END: temp

    // ANCHOR: put_blob
    /// Stores `bytes` under their digest, which must be `expected` when given:
    /// written to tmp/, fsync'd, verified, renamed.
    pub fn put_blob(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if let Some(expected) = expected {
            if &digest != expected {
                bail!("blob {expected} has the digest {digest}: it is corrupt");
            }
        }
        let dest = self.blob_path(&digest);
        if dest.exists() {
            return Ok(digest);
        }
        // A new name: written to tmp/, fsync'd, renamed, directory synced.
        self.write_atomic(&dest, bytes)
            .with_context(|| format!("storing the blob {digest}"))?;
        Ok(digest)
    }
    // ANCHOR_END: put_blob

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Reads a blob back, checking it was not changed since.
    pub fn blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "reading the blob {}: remove the image and import or pull it again",
                path.display()
            )
        })?;
        if &Digest::of(&bytes) != digest {
            bail!(
                "the blob {} is corrupt: remove the image and import it again",
                path.display()
            );
        }
        Ok(bytes)
    }

    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// The bytes of regular files in a stored layer.
    pub fn layer_size(&self, diff_id: &Digest) -> Result<u64> {
        dir_size(&self.layer_dir(diff_id))
    }

    // ANCHOR: add_layer
    /// Unpacks a layer into tmp/, checks that its uncompressed bytes have the
    /// digest `diff_id` (the config lists it), then renames it into layers/.
    /// A layer already there is not unpacked again. Returns its size.
    pub fn add_layer(&self, diff_id: &Digest, reader: impl Read + Send) -> Result<u64> {
        self.add_layer_checked(diff_id, reader, |_| Ok(()))
    }

    /// `add_layer`, with one more check before the layer is renamed into
    /// place: `check` gets the reader back once the tar is unpacked, or has
    /// failed to be (a pull verifies the compressed blob's digest there, as
    /// it streams through), and its error comes before the unpacking's.
    pub fn add_layer_checked<R: Read + Send>(
        &self,
        diff_id: &Digest,
        mut reader: R,
        check: impl FnOnce(R) -> Result<()>,
    ) -> Result<u64> {
        let dest = self.layer_dir(diff_id);
        if dest.is_dir() {
            return dir_size(&dest);
        }
        // Named by the layer too: pulls unpack several at once.
        let temp = self.temp(&format!("layer-{}", diff_id.short()))?;
        let tmp = temp.join("layer");
        fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let result = (|| {
            let unpacked = unpack::unpack(&mut reader, &tmp);
            // The check first: a corrupt download explains an unpack error.
            check(reader)?;
            let (size, got) = unpacked?;
            if &got != diff_id {
                bail!("the layer's content has the digest {got}, not {diff_id} as the config says: it is corrupt");
            }
            // Not fsync'd file by file (that costs a call per file, and
            // docker's overlay2 does not either): a power cut may lose a
            // layer's data, a crash of ctr cannot leave a half-made one.
            fs::rename(&tmp, &dest).with_context(|| format!("storing the layer {diff_id}"))?;
            sync_dir(dest.parent().expect("layers/"))?;
            Ok(size)
        })();
        // What a failure left goes with `temp`.
        result.with_context(|| format!("layer {diff_id}"))
    }
    // ANCHOR_END: add_layer

    fn image_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    /// Records an image and points `refs` at it. Call with the exclusive lock.
    pub fn put_image(&self, record: &ImageRecord, refs: &[Reference], _lock: &Lock) -> Result<()> {
        let json = serde_json::to_vec_pretty(record)?;
        self.write_atomic(&self.image_path(&record.id), &json)?;
        let mut all = self.refs()?;
        for r in refs {
            all.insert(r.to_string(), record.id.clone());
        }
        self.put_refs(&all)
    }

    pub fn image(&self, id: &Digest) -> Result<ImageRecord> {
        let path = self.image_path(id);
        let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Every image, with the references that point at it.
    pub fn images(&self) -> Result<Vec<(ImageRecord, Vec<Reference>)>> {
        let refs = self.refs()?;
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let name = entry?.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = Digest::from_hex(hex) else {
                continue;
            };
            let record = self.image(&id)?;
            let names = refs
                .iter()
                .filter(|(_, v)| **v == id)
                .filter_map(|(k, _)| Reference::parse(k).ok())
                .collect();
            out.push((record, names));
        }
        Ok(out)
    }

    pub fn refs(&self) -> Result<BTreeMap<String, Digest>> {
        let path = self.root.join("refs.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing {}", path.display())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn put_refs(&self, refs: &BTreeMap<String, Digest>) -> Result<()> {
        self.write_atomic(
            &self.root.join("refs.json"),
            &serde_json::to_vec_pretty(refs)?,
        )
    }

    // ANCHOR: resolve
    /// Finds an image by reference (`busybox`, `busybox:1`) or by ID or a
    /// prefix of it (`sha256:2ae5…`, `2ae5…`), as docker does.
    pub fn resolve(&self, name: &str) -> Result<(ImageRecord, Option<Reference>)> {
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let maybe_id = hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        let reference = Reference::parse(name);
        if let Ok(reference) = &reference {
            if let Some(id) = self.refs()?.get(&reference.to_string()) {
                return Ok((self.image(id)?, Some(reference.clone())));
            }
        }
        if maybe_id {
            let matching: Vec<ImageRecord> = self
                .images()?
                .into_iter()
                .map(|(record, _)| record)
                .filter(|record| record.id.hex().starts_with(&hex.to_ascii_lowercase()))
                .collect();
            match matching.len() {
                1 => return Ok((matching.into_iter().next().unwrap(), None)),
                0 => {}
                _ => bail!("image ID {name} is ambiguous: give more of it"),
            }
        }
        match reference {
            Ok(reference) => bail!(
                "unable to find image {:?} locally: load it with `ctr import FILE` \
                 (see `ctr images` for what is here)",
                reference.familiar()
            ),
            Err(err) => Err(err),
        }
    }
    // ANCHOR_END: resolve

    // ANCHOR: remove
    /// `rmi`: removes a reference, and the image when nothing else names it,
    /// and its layers that no other image uses. `in_use` says whether a
    /// running container uses an image. Returns docker's report lines.
    pub fn remove(
        &self,
        name: &str,
        in_use: &dyn Fn(&Digest) -> Result<bool>,
        lock: &Lock,
    ) -> Result<Vec<String>> {
        let (record, reference) = self.resolve(name)?;
        let mut refs = self.refs()?;
        let naming: Vec<String> = refs
            .iter()
            .filter(|(_, id)| **id == record.id)
            .map(|(r, _)| r.clone())
            .collect();
        let mut report = Vec::new();
        let untag: Vec<String> = match &reference {
            Some(r) => vec![r.to_string()],
            None if naming.len() > 1 => bail!(
                "image {} is named by {} references ({}): remove them one by one",
                record.id.short(),
                naming.len(),
                naming.join(", ")
            ),
            None => naming.clone(),
        };
        let last = untag.len() == naming.len();
        if last && in_use(&record.id)? {
            bail!(
                "image {} is in use by a running container: stop it first",
                record.id.short()
            );
        }
        for r in &untag {
            refs.remove(r);
            let familiar = Reference::parse(r).map_or(r.clone(), |r| r.familiar());
            report.push(format!("Untagged: {familiar}"));
        }
        self.put_refs(&refs)?;
        if !last {
            return Ok(report);
        }
        self.remove_any_file(&self.image_path(&record.id))?;
        report.push(format!("Deleted: {}", record.id));
        let still_used: Vec<Digest> = self
            .images()?
            .into_iter()
            .flat_map(|(image, _)| image.layers.into_iter().map(|l| l.diff_id))
            .collect();
        for blob in std::iter::once(&record.id).chain(record.manifest.as_ref()) {
            self.remove_any_file(&self.blob_path(blob))?;
        }
        for layer in &record.layers {
            if still_used.contains(&layer.diff_id) {
                continue;
            }
            // Renamed away first, so that a half-removed layer never looks present.
            let dir = self.layer_dir(&layer.diff_id);
            if dir.exists() {
                let doomed = self.temp("removed-layer")?;
                fs::rename(&dir, doomed.join("layer"))
                    .with_context(|| format!("removing the layer {}", dir.display()))?;
                drop(doomed);
                report.push(format!("Deleted: {}", layer.diff_id));
            }
            // Its copies with shifted owners (`run --userns remap`) go with it.
            for copy in self.remapped_copies(&layer.diff_id) {
                let doomed = self.temp("removed-layer")?;
                fs::rename(&copy, doomed.join("layer"))
                    .with_context(|| format!("removing the layer {}", copy.display()))?;
            }
        }
        self.clean_tmp(lock)?;
        Ok(report)
    }
    // ANCHOR_END: remove

    /// A layer's copies in `remapped/RANGES/` (see container::remap).
    fn remapped_copies(&self, diff_id: &Digest) -> Vec<PathBuf> {
        let Ok(ranges) = fs::read_dir(self.root.join("remapped")) else {
            return Vec::new();
        };
        ranges
            .flatten()
            .map(|range| range.path().join(diff_id.hex()))
            .filter(|copy| copy.is_dir())
            .collect()
    }

    fn remove_any_file(&self, path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                Err(err).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    // ANCHOR: write_atomic
    /// Writes `bytes` to `path` through a fsync'd temporary file and a rename.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let temp = self.temp("record")?;
        let tmp = temp.join("data");
        let mut file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        // Replacing a file that is there already (a container's record
        // updated as it starts and ends): its name is on disk, so after a
        // crash the directory holds the old version or the new, both whole
        // (each was fsync'd before its rename). Only a new name needs the
        // directory synced: one fsync less on every `run`'s update.
        let new_name = !path.exists();
        fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        match new_name {
            true => sync_dir(path.parent().expect("a file in the store")),
            false => Ok(()),
        }
    }
    // ANCHOR_END: write_atomic
}

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Removes a file or a tree; one that is gone already is fine.
pub fn remove_any(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(err) => Err(err),
    };
    match result {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        result => result.with_context(|| format!("removing {}", path.display())),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// The bytes of regular files under `dir`.
pub fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                todo.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ctr-store-{name}-{}", std::process::id()));
        _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn cleaning_tmp_never_takes_a_live_writers_file() {
        // Writers that hold no store lock (a container's monitor updating
        // its record), and a cleaner under the exclusive lock (a pull, an
        // import, rmi): neither may fail for the other.
        let root = scratch("race");
        let store = Store::open(&root).unwrap();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..2)
                .map(|w| {
                    let store = &store;
                    let root = &root;
                    scope.spawn(move || {
                        for i in 0..400 {
                            let path = root.join(format!("containers/w{w}-{}", i % 4));
                            store.write_atomic(&path, b"{}").unwrap();
                        }
                    })
                })
                .collect();
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let lock = store.lock(true).unwrap();
                    store.clean_tmp(&lock).unwrap();
                }
            });
            for writer in writers {
                let finished = writer.join();
                done.store(true, Ordering::Relaxed);
                finished.unwrap();
            }
        });
        fs::remove_dir_all(&root).unwrap();
    }
}
