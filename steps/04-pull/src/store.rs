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

pub struct Store(PathBuf);

impl Store {
    /// The store of CTR_ROOT (default /var/lib/ctr), this lesson's part of it.
    pub fn open() -> Result<Store> {
        let ctr_root = std::env::var_os("CTR_ROOT").unwrap_or_else(|| "/var/lib/ctr".into());
        let root = PathBuf::from(ctr_root).join("lessons/04");
        for dir in ["images/sha256", "refs", "tmp"] {
            let made = fs::create_dir_all(root.join(dir));
            made.with_context(|| format!("creating the image store {}", root.display()))?;
        }
        Ok(Store(root))
    }

    /// Where the image with this manifest digest is, or goes.
    pub fn image(&self, digest: &str) -> PathBuf {
        self.0.join("images").join(digest.replace(':', "/"))
    }

    /// The image REFERENCE named when it was last pulled, if it is still here.
    pub fn lookup(&self, reference: &Reference) -> Option<PathBuf> {
        let digest = fs::read_to_string(self.0.join("refs").join(&reference.name)).ok()?;
        let dir = self.image(check_digest(digest.trim()).ok()?);
        dir.is_dir().then_some(dir)
    }

    /// Records that REFERENCE names DIGEST (a name has no `..` and no empty
    /// component: it stays under refs/).
    pub fn record(&self, reference: &Reference, digest: &str) -> Result<()> {
        let path = self.0.join("refs").join(&reference.name);
        fs::create_dir_all(path.parent().expect("a ref has a directory"))
            .and_then(|()| fs::write(&path, format!("{digest}\n")))
            .with_context(|| format!("recording {}", path.display()))
    }

    /// Makes the image DIR with FILL, in a fresh directory under tmp/ that
    /// is renamed to DIR once whole, or removed: rename(2) is atomic, so
    /// images/ never holds half an image.
    pub fn add(&self, dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let now = SystemTime::UNIX_EPOCH.elapsed().map_or(0, |t| t.as_nanos());
        let tmp = self.0.join(format!("tmp/{}.{now}", std::process::id()));
        fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let added = fill(&tmp).and_then(|()| match fs::rename(&tmp, dir) {
            // Another pull of the same image may have finished first: keep theirs.
            Err(_) if dir.is_dir() => Ok(()),
            renamed => renamed.with_context(|| format!("moving the image to {}", dir.display())),
        });
        _ = fs::remove_dir_all(&tmp);
        added
    }
}
