//! Where pulled images are kept, under `$CTR_ROOT/lessons/04`:
//!
//! ```text
//! images/sha256/HEX/          one image, named by its manifest's digest
//!     config.json  rootfs/
//! refs/REGISTRY/REPO:TAG      the digest that TAG named when we pulled it
//! tmp/                        images being unpacked; never used as they are
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::reference::{check_digest, Reference};

pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store of CTR_ROOT (default /var/lib/ctr), this lesson's part of it.
    pub fn open() -> Result<Store> {
        let ctr_root = std::env::var_os("CTR_ROOT").unwrap_or_else(|| "/var/lib/ctr".into());
        let root = PathBuf::from(ctr_root).join("lessons/04");
        for dir in ["images/sha256", "refs", "tmp"] {
            let made = fs::create_dir_all(root.join(dir));
            made.with_context(|| format!("creating the image store {}", root.display()))?;
        }
        Ok(Store { root })
    }

    /// Where the image with this manifest digest is, or goes.
    pub fn image(&self, digest: &str) -> PathBuf {
        self.root.join("images").join(digest.replace(':', "/"))
    }

    /// The image REFERENCE named when it was last pulled, if it is still here.
    pub fn lookup(&self, reference: &Reference) -> Option<PathBuf> {
        let digest = fs::read_to_string(self.root.join("refs").join(&reference.name)).ok()?;
        let dir = self.image(check_digest(digest.trim()).ok()?);
        dir.is_dir().then_some(dir)
    }

    /// Records that REFERENCE names DIGEST, in `refs/127.0.0.1:5000/library/busybox:latest`
    /// (a name has no `..` and no empty component: it stays under refs/).
    pub fn record(&self, reference: &Reference, digest: &str) -> Result<()> {
        let path = self.root.join("refs").join(&reference.name);
        fs::create_dir_all(path.parent().expect("a ref has a directory"))
            .and_then(|()| fs::write(&path, format!("{digest}\n")))
            .with_context(|| format!("recording {}", path.display()))
    }

    /// A fresh directory under tmp/ to unpack an image into.
    pub fn unpacking(&self) -> Result<PathBuf> {
        let now = SystemTime::UNIX_EPOCH.elapsed().map_or(0, |t| t.as_nanos());
        let dir = self.root.join(format!("tmp/{}.{now}", std::process::id()));
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Moves a finished image from TMP to DIR in images/: rename(2) is
    /// atomic, so images/ holds whole images only, never half of one.
    pub fn keep(&self, tmp: &Path, dir: &Path) -> Result<()> {
        let kept = fs::rename(tmp, dir);
        _ = fs::remove_dir_all(tmp);
        // Another pull of the same image may have finished first: keep theirs.
        match dir.is_dir() {
            true => Ok(()),
            false => kept.with_context(|| format!("moving the image to {}", dir.display())),
        }
    }
}
