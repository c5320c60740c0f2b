//! Paths inside the container's root, resolved as the container would see
//! them: a symlink in the image is followed *within* the root, never out of
//! it. `rootfs/etc/hosts` joined as a string would follow an image's
//! `etc -> /etc` to the host's /etc, and a mount made there lands on the
//! host (runc's CVE-2021-30465 raced a swap of such a path). openat2(2)'s
//! `RESOLVE_IN_ROOT` (Linux 5.6) makes the kernel treat the root as `/` for
//! every component, symlinks' targets included; the result is a descriptor,
//! and a mount onto `/proc/self/fd/N` lands on exactly what it names, with
//! no path to swap in between.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

/// What to make at a path that does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// An open root directory, the anchor of every lookup.
pub struct Root {
    dir: File,
    path: PathBuf,
}

impl Root {
    pub fn open(path: &Path) -> Result<Root> {
        let dir = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Root {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// `inside` (absolute or relative, as config.json writes it), opened
    /// with `flags` (O_PATH for a mount target), resolved within the root.
    pub fn open_at(&self, inside: &Path, flags: i32) -> std::io::Result<OwnedFd> {
        openat2(&self.dir, &relative(inside), flags)
    }

    /// Opens `inside` as an O_PATH descriptor, making it (and its missing
    /// parents, as directories) when it is not there: what a mount needs.
    pub fn make(&self, inside: &Path, kind: Kind) -> Result<OwnedFd> {
        self.make_at_depth(inside, kind, 0)
    }

    fn make_at_depth(&self, inside: &Path, kind: Kind, depth: u32) -> Result<OwnedFd> {
        let shown = || format!("{} in the container's root", inside.display());
        // As the kernel's own limit on symlinks in one lookup (ELOOP).
        if depth > 40 {
            bail!("too many symlinks on the way to {}", shown());
        }
        match self.open_at(inside, libc::O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
            Err(err) => return Err(err).with_context(|| format!("resolving {}", shown())),
        }
        let rel = relative(inside);
        let Some(name) = rel.file_name() else {
            bail!("cannot make {}: it names the root itself", shown());
        };
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => self.make_at_depth(p, Kind::Dir, depth + 1)?,
            _ => self
                .open_at(Path::new("."), libc::O_PATH)
                .with_context(|| format!("opening {}", self.path.display()))?,
        };
        // O_PATH descriptors cannot be written through: reopen the parent
        // as a directory (it was resolved in the root already).
        let parent = reopen(&parent, libc::O_RDONLY | libc::O_DIRECTORY)
            .with_context(|| format!("opening the parent of {}", shown()))?;
        let c_name = CString::new(name.as_bytes()).context("a path with a NUL byte")?;
        // SAFETY: *at calls on a directory descriptor we own, with a
        // NUL-terminated name of one component.
        let rc = unsafe {
            match kind {
                Kind::Dir => libc::mkdirat(parent.as_raw_fd(), c_name.as_ptr(), 0o755),
                Kind::File => {
                    let fd = libc::openat(
                        parent.as_raw_fd(),
                        c_name.as_ptr(),
                        libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_WRONLY
                            | libc::O_NOFOLLOW
                            | libc::O_CLOEXEC,
                        0o644,
                    );
                    if fd >= 0 {
                        libc::close(fd);
                        0
                    } else {
                        -1
                    }
                }
            }
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EEXIST) {
                return Err(err).with_context(|| format!("creating {}", shown()));
            }
            // Something is there, yet the path did not resolve: a symlink
            // to what does not exist (an image's /etc/resolv.conf ->
            // ../run/systemd/resolve/stub-resolv.conf). Make its target,
            // inside the root, as runc does.
            let mut link = [0u8; 4096];
            // SAFETY: readlinkat into a buffer of the length given.
            let n = unsafe {
                libc::readlinkat(
                    parent.as_raw_fd(),
                    c_name.as_ptr(),
                    link.as_mut_ptr().cast(),
                    link.len(),
                )
            };
            if n > 0 {
                let target = Path::new(std::ffi::OsStr::from_bytes(&link[..n as usize]));
                let target = if target.is_absolute() {
                    target.to_path_buf()
                } else {
                    rel.parent().unwrap_or(Path::new("")).join(target)
                };
                return self.make_at_depth(&target, kind, depth + 1);
            }
        }
        self.open_at(inside, libc::O_PATH)
            .with_context(|| format!("resolving {}", shown()))
    }
}

/// `/proc/self/fd/N`: the path by which mount(2) and open(2) reach what an
/// O_PATH descriptor names.
pub fn proc_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens what `fd` names again, with `flags`.
pub fn reopen(fd: &OwnedFd, flags: i32) -> std::io::Result<OwnedFd> {
    let path = CString::new(proc_path(fd).as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: a NUL-terminated path; the descriptor returned is ours.
    let raw = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: open just returned it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The path without its root and `.`: what openat2 resolves from the root.
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

fn openat2(dir: &File, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain data; zeroed is its "nothing asked" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    // /proc/self/fd/... in the image would be a way out: magic links are
    // refused, not followed.
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 with a valid directory, path and open_how of the
    // size we pass.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c_path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ctr-in-root-{name}-{}", std::process::id()));
        _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/etc")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        dir
    }

    fn target(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(proc_path(fd)).unwrap()
    }

    #[test]
    fn symlinks_are_followed_inside_the_root_only() {
        let dir = scratch("links");
        let root = dir.join("root");
        // An absolute link out, a relative one climbing past the root.
        symlink(dir.join("outside"), root.join("abs")).unwrap();
        symlink("../../../../outside", root.join("rel")).unwrap();
        let r = Root::open(&root).unwrap();
        let made = r.make(Path::new("/abs/hosts"), Kind::File).unwrap();
        // `abs` -> <dir>/outside resolves to root/<dir>/outside: made there.
        assert!(target(&made).starts_with(&root), "{:?}", target(&made));
        let made = r.make(Path::new("rel/x"), Kind::Dir).unwrap();
        assert_eq!(target(&made), root.join("outside/x"));
        assert_eq!(std::fs::read_dir(dir.join("outside")).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn existing_paths_are_opened_and_missing_ones_made() {
        let dir = scratch("make");
        let root = dir.join("root");
        let r = Root::open(&root).unwrap();
        assert_eq!(
            target(&r.make(Path::new("/etc"), Kind::Dir).unwrap()),
            root.join("etc")
        );
        let fd = r.make(Path::new("/a/b/c"), Kind::File).unwrap();
        assert_eq!(target(&fd), root.join("a/b/c"));
        assert!(root.join("a/b/c").is_file());
        assert!(r.make(Path::new("/"), Kind::Dir).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
