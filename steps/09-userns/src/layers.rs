//! A layer is a tar archive (usually gzipped) of the files it adds, changes
//! or deletes. We unpack it as it downloads, hashing every byte, with the
//! rootfs as our `/`, so that no name in it can reach outside.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chdir, chroot, fchdir};
use oci_spec::image::Descriptor;
use sha2::{Digest, Sha256};
use tar::EntryType;

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
    let (digest, media_type) = (layer.digest().to_string(), layer.media_type().to_string());
    let mut hashing = Hashing(blob, Sha256::new());
    let stream: Box<dyn Read + '_> = match media_type.as_str() {
        t if t.ends_with("gzip") => Box::new(GzDecoder::new(&mut hashing)),
        t if t.ends_with(".tar") => Box::new(&mut hashing),
        t => bail!("layer {digest} is a {t:?}: this lesson reads tar and tar+gzip"),
    };
    let unpacked = in_root(rootfs, || apply(tar::Archive::new(stream)));
    // tar stops at its end marker: the digest covers every byte. A corrupt
    // download breaks gzip or tar too; "corrupt", the cause, is what to say.
    io::copy(&mut hashing, &mut io::sink()).context("downloading the layer")?;
    let actual = format!("sha256:{:x}", hashing.1.finalize());
    crate::pull::verify(&actual, &digest, "the layer")?;
    unpacked.with_context(|| format!("unpacking layer {digest}"))
}

/// Runs F with ROOTFS as `/`, as docker unpacks layers: after chroot(2), the
/// kernel resolves every name (a leading `/`, `..`, a symlink an earlier entry
/// made) inside ROOTFS, as the container will. We come back through a
/// descriptor of the real `/`, which is why lesson 3 closes the container's.
pub fn in_root(rootfs: &Path, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let (host_root, cwd) = (File::open("/")?, File::open(".")?);
    chroot(rootfs).with_context(|| format!("chroot into {}", rootfs.display()))?;
    // Relative names (a hard link's target) must start from the new / too.
    let result = chdir("/").map_err(anyhow::Error::from).and_then(|()| f());
    let back = fchdir(&host_root).and_then(|()| chroot("."));
    back.and_then(|()| fchdir(&cwd))
        .context("leaving the rootfs")?;
    result
}
// ANCHOR_END: unpack

// ANCHOR: apply
/// Applies a layer's entries in order, as the OCI image spec says: a file
/// replaces what was there, `.wh.NAME` deletes NAME from the layers below,
/// `.wh..wh..opq` empties its directory of what the layers below put there.
/// It runs inside the rootfs (`in_root`): every path here is the container's.
fn apply(mut archive: tar::Archive<impl Read>) -> Result<()> {
    archive.set_preserve_permissions(true); // set-user-ID bits too
                                            // With one id mapped (an ordinary user's pull), every file is ours:
                                            // chown to any other id would fail (EINVAL), so none is tried.
    let one_id = crate::userns::one_id_only();
    archive.set_preserve_ownerships(!one_id);
    let mut made = HashSet::new(); // by this layer: an opaque whiteout keeps them
    for entry in archive.entries().context("reading the tar archive")? {
        let mut entry = entry.context("reading the tar archive")?;
        let name = entry.path().context("reading an entry's name")?;
        let name = name.into_owned();
        // `..` would stop at the rootfs, but no image has a reason to climb.
        if name.components().any(|c| c == Component::ParentDir) {
            bail!("refusing the entry {name:?}: it climbs out of the rootfs with `..`");
        }
        // `etc/`, `./etc` and `/etc` alike (a trailing `/` would follow a symlink).
        let path: PathBuf = Path::new("/").join(&name).components().collect();
        let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) else {
            continue; // "./": the rootfs itself
        };
        if file_name == ".wh..wh..opq" {
            for child in fs::read_dir(dir).into_iter().flatten() {
                let child = dir.join(child?.file_name());
                if !made.contains(&child) {
                    remove(&child)?;
                }
            }
        } else if let Some(hidden) = file_name.to_str().and_then(|n| n.strip_prefix(".wh.")) {
            if ["", ".", ".."].contains(&hidden) {
                bail!("refusing the whiteout {name:?}: it names no file of the layers below");
            }
            remove(&dir.join(hidden))?;
        } else {
            let made_dir = fs::create_dir_all(dir);
            made_dir.with_context(|| format!("creating the directory {}", dir.display()))?;
            create(&mut entry, &path, one_id)
                .with_context(|| format!("unpacking {}", name.display()))?;
            made.insert(path);
        }
    }
    Ok(())
}

/// Makes one entry at PATH, replacing whatever was there: a symlink there is
/// removed, never written through.
fn create(entry: &mut tar::Entry<impl Read>, path: &Path, one_id: bool) -> Result<()> {
    let header = entry.header();
    let kind = header.entry_type();
    if !(kind.is_dir() && fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())) {
        remove(path)?;
    }
    match kind {
        // Devices and pipes, which the tar crate would write as empty files.
        // Only the host's root may make a device node: in a user namespace
        // mknod refuses, so a user's image has none (the container's /dev
        // is the lesson's anyway).
        EntryType::Char | EntryType::Block if one_id => {
            crate::say(&format!("not made: the device node {}", path.display()));
            Ok(())
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let kind = match kind {
                EntryType::Char => SFlag::S_IFCHR,
                EntryType::Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            let (major, minor) = (header.device_major()?, header.device_minor()?);
            let device = makedev(major.unwrap_or(0).into(), minor.unwrap_or(0).into());
            mknod(path, kind, Mode::empty(), device)?;
            if !one_id {
                lchown(path, Some(header.uid()? as u32), Some(header.gid()? as u32))?;
            }
            let mode = fs::Permissions::from_mode(header.mode()?);
            Ok(fs::set_permissions(path, mode)?) // after chown, which clears set-user-ID bits
        }
        // The rest the tar crate makes as we would, with owner and mode: a file
        // with O_EXCL (never through a symlink), a symlink as it is, a hard link.
        _ => Ok(entry.unpack(path).map(drop)?),
    }
}
// ANCHOR_END: apply

/// Removes PATH, whatever it is (a symlink itself, never what it points to).
fn remove(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return Ok(()), // nothing there
    };
    result.with_context(|| format!("removing {}", path.display()))
}
