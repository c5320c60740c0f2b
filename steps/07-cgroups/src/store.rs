//! Where pulled images are kept, under `$CTR_ROOT/lessons/04`:
//!
//! ```text
//! images/sha256/HEX/          one image, named by its manifest's digest
//!     manifest.json  config.json  rootfs/
//! refs/REGISTRY/REPO:TAG      the digest that TAG named when we pulled it
//! tmp/                        images being unpacked; never used as they are
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::reference::{check_digest, Reference};

pub struct Store {
    root: PathBuf,
}

/// An image in the store: the directory named by its manifest digest.
pub struct Image {
    pub digest: String,
    pub dir: PathBuf,
}

impl Image {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
}

impl Store {
    /// The store of CTR_ROOT (default /var/lib/ctr), this lesson's part of it.
    pub fn open() -> Result<Store> {
        let ctr_root = std::env::var_os("CTR_ROOT").unwrap_or_else(|| "/var/lib/ctr".into());
        let root = PathBuf::from(ctr_root).join("lessons/04");
        for dir in ["images/sha256", "refs", "tmp"] {
            fs::create_dir_all(root.join(dir))
                .with_context(|| format!("creating the image store {}", root.display()))?;
        }
        Ok(Store { root })
    }

    /// The image with this manifest digest, if it was pulled whole.
    pub fn image(&self, digest: &str) -> Result<Option<Image>> {
        let hex = check_digest(digest)?.trim_start_matches("sha256:");
        let dir = self.root.join("images/sha256").join(hex);
        let image = Image {
            digest: digest.to_string(),
            dir,
        };
        Ok(image.dir.is_dir().then_some(image))
    }

    // ANCHOR: refs
    /// The image REFERENCE named when it was last pulled, if it is still here.
    pub fn lookup(&self, reference: &Reference) -> Result<Option<Image>> {
        let Ok(digest) = fs::read_to_string(self.ref_path(reference)) else {
            return Ok(None);
        };
        self.image(digest.trim())
    }

    /// Records that REFERENCE names the image DIGEST. Written beside and
    /// renamed, so a reader sees the old record or the new one, whole.
    pub fn record(&self, reference: &Reference, digest: &str) -> Result<()> {
        let path = self.ref_path(reference);
        let dir = path.parent().expect("a ref has a directory");
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = self
            .root
            .join("tmp")
            .join(format!("ref.{}", std::process::id()));
        fs::write(&tmp, format!("{digest}\n"))
            .and_then(|()| fs::rename(&tmp, &path))
            .with_context(|| format!("recording {}", path.display()))
    }

    /// `refs/127.0.0.1:5000/library/busybox:latest`. The reference's grammar
    /// allows no `..` and no empty component, so this stays under refs/.
    fn ref_path(&self, reference: &Reference) -> PathBuf {
        let version = match &reference.version {
            crate::reference::Version::Tag(tag) => format!(":{tag}"),
            crate::reference::Version::Digest(digest) => format!("@{digest}"),
        };
        let name = format!("{}{version}", reference.repository);
        self.root.join("refs").join(&reference.registry).join(name)
    }
    // ANCHOR_END: refs

    // ANCHOR: unpacking
    /// A fresh directory under tmp/ to unpack an image into. It is removed
    /// when dropped, unless `keep` moved it into images/.
    pub fn unpacking(&self) -> Result<Unpacking> {
        let dir = self.root.join("tmp").join(format!(
            "image.{}.{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Unpacking { dir: Some(dir) })
    }

    /// Moves a finished image into images/ by its digest: rename(2) is
    /// atomic, so images/ holds whole images only, never half of one.
    pub fn keep(&self, mut unpacking: Unpacking, digest: &str) -> Result<Image> {
        let hex = check_digest(digest)?
            .trim_start_matches("sha256:")
            .to_string();
        let dir = self.root.join("images/sha256").join(hex);
        let tmp = unpacking.dir.take().expect("not kept twice");
        if let Err(err) = fs::rename(&tmp, &dir) {
            // Another pull of the same image may have finished first: keep theirs.
            let _ = fs::remove_dir_all(&tmp);
            if !dir.is_dir() {
                return Err(err).with_context(|| format!("moving the image to {}", dir.display()));
            }
        }
        Ok(Image {
            digest: digest.to_string(),
            dir,
        })
    }
    // ANCHOR_END: unpacking
}

/// An image being unpacked, in tmp/.
pub struct Unpacking {
    dir: Option<PathBuf>,
}

impl Unpacking {
    pub fn dir(&self) -> &Path {
        self.dir.as_deref().expect("not kept yet")
    }
}

impl Drop for Unpacking {
    /// A pull that failed half-way leaves nothing behind.
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
