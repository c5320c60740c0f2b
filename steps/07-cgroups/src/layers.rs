//! A layer is a tar archive (usually gzipped) of the files it adds, changes
//! or deletes. We read it as it downloads, hashing every byte, and unpack it
//! into the rootfs, entry by entry, never outside it.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{lchown, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::manifest::Descriptor;

// ANCHOR: verified
/// Passes bytes through, and hashes and counts them on the way: the layer
/// is checked without being held whole in memory or written to disk first.
pub struct Verified<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: Read> Verified<R> {
    pub fn new(inner: R) -> Verified<R> {
        Verified {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// Reads what is left (tar stops at its end marker, gzip has a trailer),
    /// then compares the digest of everything with the one we asked for.
    pub fn finish(mut self, what: &str, expected: &Descriptor) -> Result<()> {
        io::copy(&mut self, &mut io::sink()).with_context(|| format!("downloading {what}"))?;
        let actual = format!("sha256:{:x}", self.hasher.finalize());
        if actual != expected.digest {
            bail!(
                "{what} {} does not match its digest (the registry sent {} bytes hashing to {actual}): \
                 the download is corrupt or was tampered with; nothing was kept, try again",
                expected.digest,
                self.read
            );
        }
        if self.read != expected.size {
            bail!(
                "{what} {} is {} bytes, not the {} its manifest says",
                expected.digest,
                self.read,
                expected.size
            );
        }
        Ok(())
    }
}
// ANCHOR_END: verified

// ANCHOR: unpack
/// Downloads a layer into ROOTFS: verify while reading, gunzip, untar.
pub fn unpack(blob: impl Read, layer: &Descriptor, rootfs: &Path) -> Result<()> {
    let mut verified = Verified::new(blob);
    let stream: Box<dyn Read + '_> = match layer.media_type.as_str() {
        t if t.ends_with("gzip") => Box::new(GzDecoder::new(&mut verified)),
        t if t.ends_with(".tar") => Box::new(&mut verified),
        other => bail!(
            "layer {} is a {other:?}: this lesson reads tar and tar+gzip layers",
            layer.digest
        ),
    };
    let unpacked = apply(tar::Archive::new(stream), rootfs);
    // A corrupt download usually breaks gzip or tar first: say "corrupt",
    // which is the cause, rather than what gzip thought of it.
    let checked = verified.finish("layer", layer);
    checked?;
    unpacked.with_context(|| format!("unpacking layer {}", layer.digest))
}
// ANCHOR_END: unpack

// ANCHOR: apply
/// Applies a layer's entries in order, as the OCI image spec says: a file
/// replaces what was there, `.wh.NAME` deletes NAME from the layers below,
/// `.wh..wh..opq` empties its directory of what the layers below put there.
fn apply(mut archive: tar::Archive<impl Read>, rootfs: &Path) -> Result<()> {
    // What this layer made: an opaque whiteout must not delete it.
    let mut made: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().context("reading the tar archive")? {
        let mut entry = entry.context("reading the tar archive")?;
        let name = entry
            .path()
            .context("reading an entry's name")?
            .into_owned();
        let relative = confine(&name)?;
        let (Some(parent), Some(file_name)) = (relative.parent(), relative.file_name()) else {
            continue; // "./": the rootfs itself
        };
        let dir = resolve(rootfs, parent)?;
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", parent.display()))?;

        if file_name == ".wh..wh..opq" {
            for child in fs::read_dir(&dir)? {
                let child = child?.file_name();
                if !made.contains(&parent.join(&child)) {
                    remove(&dir.join(&child))?;
                }
            }
            continue;
        }
        if let Some(hidden) = file_name.to_str().and_then(|n| n.strip_prefix(".wh.")) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                bail!("refusing the whiteout {name:?}: it names no file of the layers below");
            }
            remove(&dir.join(hidden))?;
            continue;
        }
        let path = dir.join(file_name);
        create(&mut entry, &path, rootfs)
            .with_context(|| format!("unpacking {}", relative.display()))?;
        made.insert(relative);
    }
    Ok(())
}
// ANCHOR_END: apply

// ANCHOR: create
/// Makes one entry at PATH, replacing whatever was there (never following a
/// symlink that was there: it is removed, not written through).
fn create(entry: &mut tar::Entry<impl Read>, path: &Path, rootfs: &Path) -> Result<()> {
    let header = entry.header();
    let mode = header.mode()? & 0o7777;
    let (uid, gid) = (header.uid()? as u32, header.gid()? as u32);
    let kind = header.entry_type();
    let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if !(kind == EntryType::Directory && is_dir) {
        remove(path)?;
    }
    match kind {
        EntryType::Directory => {
            if !is_dir {
                fs::create_dir(path)?;
            }
        }
        EntryType::Regular | EntryType::Continuous => {
            // create_new is O_CREAT|O_EXCL: it fails rather than follow a
            // symlink, so a file is written where its name says.
            let mut file = File::options()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            io::copy(entry, &mut file)?;
        }
        EntryType::Symlink => {
            // Its target may point anywhere: it is resolved inside the
            // container, or by resolve() below, never by us on the host.
            let target = entry.link_name()?.context("a symlink without a target")?;
            std::os::unix::fs::symlink(target, path)?;
        }
        EntryType::Link => {
            // A hard link to a file of the rootfs, confined as any name is.
            let target = entry.link_name()?.context("a hard link without a target")?;
            let target = confine(&target)?;
            let dir = resolve(rootfs, target.parent().unwrap_or(Path::new("")))?;
            let source = dir.join(target.file_name().unwrap_or_default());
            fs::hard_link(&source, path)
                .with_context(|| format!("linking to {}", target.display()))?;
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let kind = match kind {
                EntryType::Char => SFlag::S_IFCHR,
                EntryType::Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            let dev = makedev(
                header.device_major()?.unwrap_or(0).into(),
                header.device_minor()?.unwrap_or(0).into(),
            );
            mknod(path, kind, Mode::from_bits_truncate(mode), dev)?;
        }
        _ => return Ok(()), // pax and GNU metadata: tar has read them already
    }
    lchown(path, Some(uid), Some(gid))?;
    // After chown, which clears set-user-ID bits; symlinks have no mode.
    if kind != EntryType::Symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}
// ANCHOR_END: create

// ANCHOR: confine
/// An entry's name as a path inside the rootfs: a leading `/` or `./` is
/// dropped, as tar(1) does; `..` is refused, for nothing in an image has a
/// reason to climb out of it.
fn confine(name: &Path) -> Result<PathBuf> {
    let mut inside = PathBuf::new();
    for part in name.components() {
        match part {
            Component::Normal(part) => inside.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => bail!(
                "refusing the entry {name:?}: it climbs out of the rootfs with `..`; \
                 the image is broken or hostile"
            ),
        }
    }
    Ok(inside)
}

/// Finds DIR inside ROOTFS as the container will see it: symlinks are
/// followed as if ROOTFS were /, so `/` in a link's target means ROOTFS and
/// `..` stops at ROOTFS, as `/..` stops at `/`. What this returns is inside
/// ROOTFS, whatever links earlier entries or layers made.
fn resolve(rootfs: &Path, dir: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut todo: Vec<OsString> = parts(dir);
    todo.reverse(); // a stack: the next part is last
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let here = rootfs.join(&resolved).join(&part);
        match fs::symlink_metadata(&here) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    bail!("too many levels of symlinks at {}", dir.display());
                }
                let target = fs::read_link(&here)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                todo.extend(parts(&target).into_iter().rev());
            }
            Ok(meta) if !meta.is_dir() => {
                bail!("{} is not a directory", resolved.join(&part).display())
            }
            // A directory, or nothing yet: create_dir_all makes it.
            _ => resolved.push(part),
        }
    }
    Ok(rootfs.join(resolved))
}

/// A path's names and `..`s (a leading `/` and `.`s say nothing more).
fn parts(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsStr::new("..").to_os_string()),
            _ => None,
        })
        .collect()
}
// ANCHOR_END: confine

/// Removes PATH, whatever it is (a symlink itself, never what it points to).
fn remove(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    };
    result.with_context(|| format!("removing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("step-04-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("root")).unwrap();
        dir
    }

    #[test]
    fn names_are_confined() {
        assert_eq!(
            confine(Path::new("/etc/passwd")).unwrap(),
            Path::new("etc/passwd")
        );
        assert_eq!(confine(Path::new("./a/./b")).unwrap(), Path::new("a/b"));
        assert!(confine(Path::new("../x")).is_err());
        assert!(confine(Path::new("a/../../x")).is_err());
    }

    #[test]
    fn symlinks_resolve_inside_the_rootfs() {
        let dir = scratch("resolve");
        let root = dir.join("root");
        std::os::unix::fs::symlink("/", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("up")).unwrap();
        fs::create_dir(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("etc", root.join("rel")).unwrap();
        assert_eq!(
            resolve(&root, Path::new("abs/tmp")).unwrap(),
            root.join("tmp")
        );
        assert_eq!(resolve(&root, Path::new("up/x")).unwrap(), root.join("x"));
        assert_eq!(resolve(&root, Path::new("rel")).unwrap(), root.join("etc"));
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(resolve(&root, Path::new("loop")).is_err());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn whiteouts_and_opaque_directories() {
        let dir = scratch("whiteouts");
        let root = dir.join("root");
        for file in ["keep", "gone", "opaque/old"] {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::write(root.join(file), "lower").unwrap();
        }
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |name: &str| {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(EntryType::Regular);
            builder.append_data(&mut header, name, io::empty()).unwrap();
        };
        add(".wh.gone");
        add("opaque/new"); // same layer, before the marker: it stays
        add("opaque/.wh..wh..opq");
        let layer = builder.into_inner().unwrap();
        apply(tar::Archive::new(&layer[..]), &root).unwrap();
        assert!(root.join("keep").exists());
        assert!(!root.join("gone").exists());
        assert!(!root.join("opaque/old").exists());
        assert!(root.join("opaque/new").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
