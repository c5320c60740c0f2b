//! A layer is a tar archive (usually gzipped) of the files it adds, changes
//! or deletes. We unpack it as it downloads, hashing every byte, entry by
//! entry, never outside the rootfs.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::manifest::Descriptor;

// ANCHOR: unpack
/// Hashes what is read through it: the layer is checked as it is unpacked,
/// never held whole in memory or written to disk first.
struct Hashing<R>(R, Sha256);

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }
}

/// Downloads a layer into ROOTFS: hash while reading, gunzip, untar.
pub fn unpack(blob: impl Read, layer: &Descriptor, rootfs: &Path) -> Result<()> {
    let mut hashing = Hashing(blob, Sha256::new());
    let stream: Box<dyn Read + '_> = match layer.media_type.as_str() {
        t if t.ends_with("gzip") => Box::new(GzDecoder::new(&mut hashing)),
        t if t.ends_with(".tar") => Box::new(&mut hashing),
        t => bail!(
            "layer {} is a {t:?}: this lesson reads tar and tar+gzip",
            layer.digest
        ),
    };
    let unpacked = apply(tar::Archive::new(stream), rootfs);
    // The digest is known once every byte is read (tar stops at its end
    // marker). A corrupt download usually breaks gzip or tar first: then
    // "corrupt", the cause, is what to say.
    io::copy(&mut hashing, &mut io::sink()).context("downloading the layer")?;
    let actual = format!("sha256:{:x}", hashing.1.finalize());
    crate::pull::verify(&actual, &layer.digest, "the layer")?;
    unpacked.with_context(|| format!("unpacking layer {}", layer.digest))
}
// ANCHOR_END: unpack

// ANCHOR: apply
/// Applies a layer's entries in order, as the OCI image spec says: a file
/// replaces what was there, `.wh.NAME` deletes NAME from the layers below,
/// `.wh..wh..opq` empties its directory of what the layers below put there.
fn apply(mut archive: tar::Archive<impl Read>, rootfs: &Path) -> Result<()> {
    archive.set_preserve_permissions(true); // set-user-ID bits too
    archive.set_preserve_ownerships(true);
    let mut made = HashSet::new(); // by this layer: an opaque whiteout keeps them
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
        } else if let Some(hidden) = file_name.to_str().and_then(|n| n.strip_prefix(".wh.")) {
            if ["", ".", ".."].contains(&hidden) {
                bail!("refusing the whiteout {name:?}: it names no file of the layers below");
            }
            remove(&dir.join(hidden))?;
        } else {
            create(&mut entry, &dir.join(file_name), rootfs)
                .with_context(|| format!("unpacking {}", relative.display()))?;
            made.insert(relative);
        }
    }
    Ok(())
}
// ANCHOR_END: apply

// ANCHOR: create
/// Makes one entry at PATH, replacing whatever was there: a symlink there is
/// removed, never written through.
fn create(entry: &mut tar::Entry<impl Read>, path: &Path, rootfs: &Path) -> Result<()> {
    let header = entry.header();
    let kind = header.entry_type();
    if !(kind.is_dir() && fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())) {
        remove(path)?;
    }
    match kind {
        // A hard link to a file of the rootfs, found as any name is.
        EntryType::Link => {
            let target = confine(&entry.link_name()?.context("a hard link without a target")?)?;
            let dir = resolve(rootfs, target.parent().unwrap_or(Path::new("")))?;
            let source = dir.join(target.file_name().unwrap_or_default());
            fs::hard_link(source, path).with_context(|| format!("linking to {}", target.display()))
        }
        // Devices and pipes, which the tar crate does not make.
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let kind = match kind {
                EntryType::Char => SFlag::S_IFCHR,
                EntryType::Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            let (major, minor) = (header.device_major()?, header.device_minor()?);
            let device = makedev(major.unwrap_or(0).into(), minor.unwrap_or(0).into());
            mknod(path, kind, Mode::empty(), device)?;
            lchown(path, Some(header.uid()? as u32), Some(header.gid()? as u32))?;
            let mode = fs::Permissions::from_mode(header.mode()?);
            Ok(fs::set_permissions(path, mode)?) // after chown, which clears set-user-ID bits
        }
        // The rest the tar crate makes as we would: a file with O_EXCL (so
        // never through a symlink), a symlink as it is (its target is for the
        // container to follow, or `resolve` below), with owner and mode.
        _ => Ok(entry.unpack(path).map(drop)?),
    }
}
// ANCHOR_END: create

// ANCHOR: confine
/// An entry's name as a path inside the rootfs: a leading `/` or `./` is
/// dropped, as tar(1) does; `..` is refused, for nothing in an image has a
/// reason to climb out of it.
fn confine(name: &Path) -> Result<PathBuf> {
    if name.components().any(|c| c == Component::ParentDir) {
        bail!(
            "refusing the entry {name:?}: it climbs out of the rootfs with `..`: a hostile image"
        );
    }
    let names = name
        .components()
        .filter(|c| matches!(c, Component::Normal(_)));
    Ok(names.collect())
}

/// Finds DIR inside ROOTFS as the container will see it: symlinks are
/// followed as if ROOTFS were /, so `/` in a link's target means ROOTFS and
/// `..` stops at ROOTFS, as `/..` stops at `/`. What this returns is inside
/// ROOTFS, whatever links earlier entries or layers made.
fn resolve(rootfs: &Path, dir: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut todo = parts(dir);
    let mut links = 0;
    while let Some(part) = todo.pop() {
        let here = rootfs.join(&resolved).join(&part);
        if part == ".." {
            resolved.pop();
        } else if here.is_symlink() {
            links += 1;
            if links > 40 {
                bail!("too many levels of symlinks at {}", dir.display());
            }
            let target = fs::read_link(&here)?;
            if target.is_absolute() {
                resolved.clear();
            }
            todo.extend(parts(&target));
        } else if here.is_dir() || !here.exists() {
            resolved.push(part); // a directory, or none yet: create_dir_all makes it
        } else {
            bail!("{} is not a directory", resolved.join(part).display());
        }
    }
    Ok(rootfs.join(resolved))
}

/// A path's names and `..`s, as a stack: the first on top.
fn parts(path: &Path) -> Vec<OsString> {
    let parts = path.components().rev().filter_map(|part| match part {
        Component::Normal(name) => Some(name.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None, // `/` and `.` say nothing more
    });
    parts.collect()
}
// ANCHOR_END: confine

/// Removes PATH, whatever it is (a symlink itself, never what it points to).
fn remove(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return Ok(()), // nothing there
    };
    result.with_context(|| format!("removing {}", path.display()))
}
