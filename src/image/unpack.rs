//! Unpacks one layer tar into its own directory, in the form overlayfs reads
//! as a lower layer. Every entry is confined to that directory (SECURITY.md):
//! names with `..` or a leading `/` are refused, and so is any entry whose
//! parent is a symlink, or a hard link to anything outside the layer, so an
//! archive cannot write through a link it made a moment earlier. OCI
//! whiteouts become overlay's (image-spec layer.md, "Whiteouts"):
//! `.wh.NAME` a 0:0 character device NAME, `.wh..wh..opq` the xattr
//! `trusted.overlay.opaque=y` on its directory (`user.overlay.opaque`
//! without root).

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, BufRead, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};

use anyhow::{bail, Context, Result};
use nix::fcntl::AtFlags;
use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};
use tar::{Archive, EntryType};

use crate::digest::{Digest, HashingReader};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// Other names under `.wh..wh.` are AUFS's bookkeeping (hard link dirs): skipped, as docker does.
const AUFS_META: &str = ".wh..wh.";

/// What an entry's name asks for, once checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The layer's top directory itself (`./`): nothing to make.
    Root,
    /// Make the entry at these components below the layer's directory.
    Entry(Vec<String>),
    /// Hide NAME of the lower layers: an overlay whiteout at these components.
    Whiteout(Vec<String>),
    /// Hide everything the lower layers have in this directory.
    Opaque(Vec<String>),
    /// AUFS metadata: nothing to do.
    Skip,
}

// ANCHOR: plan_entry
/// Checks a tar entry's name and says what it asks for: pure, so that the
/// rules can be tested one by one.
pub fn plan_entry(name: &[u8]) -> Result<Plan> {
    let shown = String::from_utf8_lossy(name);
    if name.starts_with(b"/") {
        bail!("entry {shown:?} is an absolute path: refused, it would escape the layer");
    }
    let mut parts = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => continue,
            b".." => bail!("entry {shown:?} contains \"..\": refused, it would escape the layer"),
            _ => parts.push(String::from_utf8_lossy(part).into_owned()),
        }
    }
    if name.contains(&0) {
        bail!("entry {shown:?} contains a NUL byte");
    }
    let Some(last) = parts.last().cloned() else {
        return Ok(Plan::Root);
    };
    if last == OPAQUE {
        parts.pop();
        return Ok(Plan::Opaque(parts));
    }
    if last.starts_with(AUFS_META) {
        return Ok(Plan::Skip);
    }
    if let Some(hidden) = last.strip_prefix(WHITEOUT_PREFIX) {
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            bail!("whiteout {shown:?} names no file: refused");
        }
        parts.pop();
        parts.push(hidden.to_string());
        return Ok(Plan::Whiteout(parts));
    }
    Ok(Plan::Entry(parts))
}
// ANCHOR_END: plan_entry

/// The largest layer ctr unpacks, counted in uncompressed tar bytes, unless
/// `CTR_MAX_LAYER_SIZE` says otherwise: generous, but a gzip bomb (a small
/// blob that inflates without end) stops here instead of filling the disk.
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 16 << 30;

/// `CTR_MAX_LAYER_SIZE` in bytes (a plain number, or with a K, M or G
/// suffix, powers of 1024), or the default.
pub fn max_layer_size() -> Result<u64> {
    let Some(value) = std::env::var_os("CTR_MAX_LAYER_SIZE") else {
        return Ok(DEFAULT_MAX_LAYER_SIZE);
    };
    let text = value.to_string_lossy();
    let (digits, unit) = match text.trim().as_bytes().last() {
        Some(b'K' | b'k') => (&text.trim()[..text.trim().len() - 1], 1 << 10),
        Some(b'M' | b'm') => (&text.trim()[..text.trim().len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&text.trim()[..text.trim().len() - 1], 1 << 30),
        _ => (text.trim(), 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n > 0)
        .with_context(|| {
            format!("CTR_MAX_LAYER_SIZE={text:?} is not a size in bytes (e.g. 1073741824 or 1G)")
        })
}

/// Bytes handed from one of `unpack`'s threads to the next at a time:
/// large, so that a layer of 100 MB is a few hundred hand-overs.
const CHUNK: usize = 256 << 10;
/// Chunks in flight between two threads: enough to ride out a burst on
/// either side, and a bound on memory (at most 2 × (IN_FLIGHT + 3) chunks,
/// 3.5 MiB, per layer being pulled).
const IN_FLIGHT: usize = 4;

/// zstd's frame magic number (RFC 8878 §3.1.1), little-endian 0xFD2FB528.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Unpacks a layer (plain tar, gzip- or zstd-compressed) into `dest`, an empty
/// directory. Returns the bytes of regular files written (the layer's size)
/// and the digest of the uncompressed tar (its diff_id, to check). A layer
/// over `max_layer_size()` once uncompressed is refused.
///
/// Three threads, passing chunks down bounded channels, so that a pull uses
/// both cores: one reads `reader` (the download, and the blob's digest a
/// pull computes as it streams), this one inflates, the last hashes the tar
/// for its diff_id and writes the files. Inflating is the largest part;
/// the other two share the other core.
pub fn unpack(reader: impl Read + Send, dest: &Path) -> Result<(u64, Digest)> {
    let limit = max_layer_size()?;
    let mut reader = reader;
    let (read_tx, read_rx) = mpsc::sync_channel(IN_FLIGHT);
    let (read_empty_tx, read_empty_rx) = mpsc::sync_channel(IN_FLIGHT + 2);
    let (full_tx, full_rx) = mpsc::sync_channel(IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::sync_channel(IN_FLIGHT + 2);
    std::thread::scope(|scope| {
        // The compressed bytes have no bound of their own: the bound is on
        // what they inflate to, and this thread stops when inflating does.
        let fetcher = scope.spawn(move || feed(&mut reader, u64::MAX, &read_tx, &read_empty_rx));
        let unpacker = scope.spawn(move || {
            let mut hashing = HashingReader::new(Chunks::new(full_rx, empty_tx));
            let size = unpack_tar(&mut hashing, dest)?;
            Ok((size, hashing.finish().context("reading the layer")?.0))
        });
        let inflated = (|| -> Result<bool> {
            let mut compressed = Chunks::new(read_rx, read_empty_tx);
            let head = compressed.fill_buf().context("reading the layer")?;
            let mut plain: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
                Box::new(flate2::bufread::MultiGzDecoder::new(compressed))
            } else if head.starts_with(&ZSTD_MAGIC) {
                // Every frame to the end, as a gzip member is (skopeo and
                // buildkit write one; the format allows more). libzstd
                // refuses a frame whose window is over 128 MiB, so a
                // hostile one cannot make it allocate more than that.
                let zstd = zstd::stream::read::Decoder::with_buffer(compressed)
                    .context("starting the zstd decoder")?;
                Box::new(zstd)
            } else {
                Box::new(compressed)
            };
            Ok(feed(&mut plain, limit, &full_tx, &empty_rx))
        })();
        // Hanging up ends the others: the unpacker sees the end of the
        // tar (or of what could be read of it), the fetcher a closed channel.
        drop(full_tx);
        let unpacked = join(unpacker);
        join(fetcher);
        if inflated? {
            bail!(
                "the layer is over {limit} bytes once uncompressed (CTR_MAX_LAYER_SIZE): \
                 refused, it may be a gzip or zstd bomb; if the image is trusted, raise \
                 CTR_MAX_LAYER_SIZE"
            );
        }
        unpacked
    })
}

fn join<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Reads `plain` (the download, or what it inflates to) to its end in
/// chunks, sent on `full`, at most `limit` bytes: a read error is sent in
/// its turn and ends it, as does the next thread hanging up (it failed: its
/// error says why). Returns whether `plain` went over `limit`: a gzip bomb,
/// stopped after `limit` bytes.
fn feed(
    plain: &mut dyn Read,
    limit: u64,
    full: &SyncSender<io::Result<Vec<u8>>>,
    empty: &Receiver<Vec<u8>>,
) -> bool {
    let mut left = limit;
    loop {
        // A chunk the unpacker is done with, so that memory is reused
        // rather than allocated (and faulted in) again.
        let mut chunk = empty.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let mut filled = 0;
        let mut error = None;
        while filled < CHUNK {
            match plain.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        let over = filled as u64 > left;
        chunk.truncate(filled.min(usize::try_from(left).unwrap_or(usize::MAX)));
        left -= chunk.len() as u64;
        let end = filled == 0;
        if !chunk.is_empty() && full.send(Ok(chunk)).is_err() {
            return false;
        }
        if over {
            error = Some(io::Error::other("the layer is over CTR_MAX_LAYER_SIZE"));
        }
        if let Some(err) = error {
            _ = full.send(Err(err));
            return over;
        }
        if end {
            return false;
        }
    }
}

/// The receiving side of `feed`: the chunks as one stream, each sent back
/// to be filled again once read.
struct Chunks {
    full: Receiver<io::Result<Vec<u8>>>,
    empty: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Chunks {
    fn new(full: Receiver<io::Result<Vec<u8>>>, empty: SyncSender<Vec<u8>>) -> Chunks {
        Chunks {
            full,
            empty,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.at == self.chunk.len() {
            let Ok(next) = self.full.recv() else {
                break;
            };
            let read = std::mem::replace(&mut self.chunk, next?);
            // Never waits: when the sender has enough, this one is dropped.
            _ = self.empty.try_send(read);
            self.at = 0;
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.chunk.len());
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

fn unpack_tar(reader: impl Read, dest: &Path) -> Result<u64> {
    let mut archive = Archive::new(reader);
    let mut size = 0;
    let mut dirs = Vec::new();
    for entry in archive.entries().context("reading the layer's tar")? {
        let mut entry = entry.context("reading the layer's tar")?;
        let name = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&name).into_owned();
        size += unpack_entry(&mut entry, &name, dest, &mut dirs)
            .with_context(|| format!("unpacking {shown:?}"))?;
    }
    // Directories last: writing into one changes its mtime. A later entry
    // may have replaced one of their parents by a symlink (`a/b/` then `a`
    // -> /etc): utimensat follows a symlink that is not the last component,
    // so each path is walked again first (found by tests/fuzz.rs).
    for (path, mtime) in dirs.iter().rev() {
        if still_a_directory(dest, path) {
            set_mtime(path, *mtime)?;
        }
    }
    Ok(size)
}

fn unpack_entry<R: Read>(
    entry: &mut tar::Entry<R>,
    name: &[u8],
    dest: &Path,
    dirs: &mut Vec<(PathBuf, u64)>,
) -> Result<u64> {
    let parts = match plan_entry(name)? {
        Plan::Root | Plan::Skip => return Ok(0),
        Plan::Opaque(parts) => {
            let dir = make_dirs(dest, &parts)?;
            set_xattr(&dir, opaque_xattr(), b"y")?;
            return Ok(0);
        }
        Plan::Whiteout(parts) => {
            let path = confined_parent(dest, &parts)?;
            remove_existing(&path, false)?;
            mknod(&path, SFlag::S_IFCHR, Mode::empty(), 0)
                .with_context(|| format!("making the whiteout {}", path.display()))?;
            return Ok(0);
        }
        Plan::Entry(parts) => parts,
    };
    let path = confined_parent(dest, &parts)?;
    let header = entry.header();
    let kind = header.entry_type();
    let mode = header.mode().context("reading the mode")? & 0o7777;
    let uid = header.uid().context("reading the uid")? as u32;
    let gid = header.gid().context("reading the gid")? as u32;
    let mtime = header.mtime().unwrap_or(0);
    remove_existing(&path, kind == EntryType::Directory)?;
    let mut size = 0;
    match kind {
        EntryType::Directory => {
            if !path.is_dir() {
                fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
            }
            dirs.push((path.clone(), mtime));
        }
        EntryType::Regular | EntryType::Continuous => {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            size = io::copy(entry, &mut file)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        EntryType::Symlink => {
            // The target is kept as written: it is resolved inside the
            // container, and nothing here ever follows it.
            let target = entry
                .link_name_bytes()
                .context("a symlink without a target")?;
            symlink(OsStr::from_bytes(&target), &path)
                .with_context(|| format!("creating the symlink {}", path.display()))?;
        }
        EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .context("a hard link without a target")?;
            let Plan::Entry(target_parts) = plan_entry(&target)? else {
                bail!(
                    "hard link to {:?}: not a file",
                    String::from_utf8_lossy(&target)
                );
            };
            let target = confined_parent(dest, &target_parts)?;
            let meta = fs::symlink_metadata(&target).with_context(|| {
                format!(
                    "hard link to {}: it must be an earlier entry of the same layer",
                    target.display()
                )
            })?;
            if meta.is_dir() {
                bail!("hard link to the directory {}: refused", target.display());
            }
            fs::hard_link(&target, &path)
                .with_context(|| format!("linking {} to {}", path.display(), target.display()))?;
            // A hard link shares its target's inode: owner and mode are the target's.
            return Ok(0);
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let (flag, dev) = match kind {
                EntryType::Char => (SFlag::S_IFCHR, device(header)?),
                EntryType::Block => (SFlag::S_IFBLK, device(header)?),
                _ => (SFlag::S_IFIFO, 0),
            };
            mknod(&path, flag, Mode::from_bits_truncate(0o600), dev)
                .with_context(|| format!("making the device {}", path.display()))?;
        }
        // PAX and GNU headers are read by the tar crate; anything else is
        // nothing a filesystem can hold.
        _ => return Ok(0),
    }
    // Owner first: chown clears the setuid and setgid bits that chmod sets.
    let chown = |uid: u32, gid: u32| {
        fchownat(
            nix::fcntl::AT_FDCWD,
            &path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
    };
    // ANCHOR: owner
    match chown(uid, gid) {
        Ok(()) => {}
        // Without root, an owner outside the user's ids (all but root's
        // with a single mapping) does not exist here: the file is root's,
        // as podman's ignore_chown_errors makes it.
        Err(nix::errno::Errno::EINVAL) if crate::rootless::active().is_some() => {
            chown(0, 0).with_context(|| format!("changing the owner of {}", path.display()))?
        }
        Err(err) => {
            return Err(err).with_context(|| format!("changing the owner of {}", path.display()))
        }
    }
    // ANCHOR_END: owner
    if kind != EntryType::Symlink {
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .with_context(|| format!("changing the mode of {}", path.display()))?;
    }
    if let Some(extensions) = entry.pax_extensions().context("reading PAX headers")? {
        for ext in extensions {
            let ext = ext.context("reading a PAX header")?;
            if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                let name = String::from_utf8_lossy(name).into_owned();
                set_xattr(&path, &name, ext.value_bytes())?;
            }
        }
    }
    if kind != EntryType::Directory {
        set_mtime(&path, mtime)?;
    }
    Ok(size)
}

// ANCHOR: opaque_xattr
/// overlayfs's mark of an opaque directory: a trusted.* xattr, which only
/// root of the host may set; in a user namespace, overlayfs mounted with
/// `userxattr` reads the user.* one instead (Linux 5.11).
pub fn opaque_xattr() -> &'static str {
    match crate::rootless::active() {
        Some(_) => "user.overlay.opaque",
        None => "trusted.overlay.opaque",
    }
}
// ANCHOR_END: opaque_xattr

fn device(header: &tar::Header) -> Result<u64> {
    let major = header.device_major()?.unwrap_or(0);
    let minor = header.device_minor()?.unwrap_or(0);
    Ok(nix::sys::stat::makedev(major.into(), minor.into()))
}

/// Whether `path`, below `dest`, is still a directory reached through
/// directories only, no symlink on the way.
fn still_a_directory(dest: &Path, path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix(dest) else {
        return false;
    };
    let mut at = dest.to_path_buf();
    rest.components().all(|part| {
        at.push(part);
        fs::symlink_metadata(&at).is_ok_and(|meta| meta.is_dir())
    })
}

/// The path of `parts` below `dest`, after making sure that each parent is a
/// real directory of the layer (made when missing), never a symlink.
fn confined_parent(dest: &Path, parts: &[String]) -> Result<PathBuf> {
    let (last, parents) = parts.split_last().context("an empty name")?;
    Ok(make_dirs(dest, parents)?.join(last))
}

/// Makes the directories `parts` below `dest`, refusing to go through anything
/// that is not a directory.
fn make_dirs(dest: &Path, parts: &[String]) -> Result<PathBuf> {
    let mut path = dest.to_path_buf();
    for part in parts {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "{} is a symlink: refused to write through it (it could lead outside the layer)",
                path.display()
            ),
            Ok(_) => bail!("{} is not a directory", path.display()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
            }
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }
    Ok(path)
}

/// A later entry replaces an earlier one of the same name, except that a
/// directory stays a directory (its contents are kept).
fn remove_existing(path: &Path, keep_dir: bool) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() && keep_dir => Ok(()),
        Ok(meta) if meta.is_dir() => {
            fs::remove_dir_all(path).with_context(|| format!("replacing {}", path.display()))
        }
        Ok(_) => fs::remove_file(path).with_context(|| format!("replacing {}", path.display())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

fn set_mtime(path: &Path, mtime: u64) -> Result<()> {
    let t = TimeSpec::new(mtime as i64, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .with_context(|| format!("setting the mtime of {}", path.display()))
}

/// lsetxattr(2): nix does not wrap the xattr calls.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    let c_name = CString::new(name)?;
    // SAFETY: both strings are NUL-terminated and live across the call; the
    // value pointer and length describe one slice.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("setting the xattr {name} on {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn ordinary_names() {
        assert_eq!(
            plan_entry(b"etc/passwd").unwrap(),
            Plan::Entry(parts(&["etc", "passwd"]))
        );
        assert_eq!(plan_entry(b"./etc/").unwrap(), Plan::Entry(parts(&["etc"])));
        assert_eq!(
            plan_entry(b"a//b/./c").unwrap(),
            Plan::Entry(parts(&["a", "b", "c"]))
        );
        assert_eq!(plan_entry(b"./").unwrap(), Plan::Root);
        assert_eq!(plan_entry(b".").unwrap(), Plan::Root);
        // Names that merely look like dots are names.
        assert_eq!(plan_entry(b"...").unwrap(), Plan::Entry(parts(&["..."])));
        assert_eq!(
            plan_entry(b"a/..b").unwrap(),
            Plan::Entry(parts(&["a", "..b"]))
        );
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        assert_eq!(
            plan_entry(b"etc/.wh.os-release").unwrap(),
            Plan::Whiteout(parts(&["etc", "os-release"]))
        );
        assert_eq!(
            plan_entry(b".wh.tmp").unwrap(),
            Plan::Whiteout(parts(&["tmp"]))
        );
        assert_eq!(
            plan_entry(b"./var/cache/.wh..wh..opq").unwrap(),
            Plan::Opaque(parts(&["var", "cache"]))
        );
        assert_eq!(plan_entry(b".wh..wh..opq").unwrap(), Plan::Opaque(vec![]));
        assert_eq!(
            plan_entry(b".wh..wh.plnk/123").unwrap(),
            Plan::Entry(parts(&[".wh..wh.plnk", "123"]))
        );
        assert_eq!(plan_entry(b"x/.wh..wh.aufs").unwrap(), Plan::Skip);
    }

    /// Found by tests/fuzz.rs: `d/keep/` then `d` -> OUTSIDE; setting the
    /// mtime of `d/keep` at the end went through the link.
    #[test]
    fn a_directory_replaced_by_a_symlink_is_not_touched_through_it() {
        let base = std::env::temp_dir().join(format!("ctr-unpack-{}", std::process::id()));
        let (dest, outside) = (base.join("layer"), base.join("outside"));
        fs::create_dir_all(outside.join("keep")).unwrap();
        fs::create_dir_all(&dest).unwrap();
        let before = fs::metadata(outside.join("keep"))
            .unwrap()
            .modified()
            .unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_mtime(1_700_000_000);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, "d/keep/", &[][..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Symlink);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, "d", &outside).unwrap();
        let bytes = tar.into_inner().unwrap();
        // Owners need root; the point here is the mtime.
        let unpacked = unpack(&bytes[..], &dest);
        let after = fs::metadata(outside.join("keep"))
            .unwrap()
            .modified()
            .unwrap();
        fs::remove_dir_all(&base).unwrap();
        if nix::unistd::Uid::effective().is_root() {
            unpacked.unwrap();
        }
        assert_eq!(before, after, "the mtime was set through the symlink");
    }

    #[test]
    fn escapes_are_refused() {
        for bad in [
            &b"../etc/passwd"[..],
            b"a/../../b",
            b"a/..",
            b"/etc/passwd",
            b"//etc",
            b"a/.wh..",
            b"a/.wh.",
            b".wh..",
            b"a/.wh..wh..opq/../..",
        ] {
            let err = plan_entry(bad).unwrap_err().to_string();
            assert!(
                err.contains("refused"),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        // "a/.wh.." is the whiteout of "..": refused, not applied to a's parent.
        assert!(plan_entry(b"a/.wh..").is_err());
    }
}
