//! Pulling, in the order the distribution API goes: the manifest (or an
//! index, then our platform's manifest), the config, then the layers.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::manifest::{self, Fetched, ImageConfig, Manifest};
use crate::reference::Reference;
use crate::registry::Registry;
use crate::store::Store;
use crate::{layers, say};

// ANCHOR: pull
/// Pulls REFERENCE into the store, unless the store has it already, and
/// says where it is.
pub fn pull(reference: &Reference, store: &Store) -> Result<PathBuf> {
    let mut registry = Registry::new(reference);
    say(&format!("pulling {} from {}", reference.name, registry.url));
    let (digest, manifest) = fetch_manifest(&mut registry, &reference.version, true)?;
    let dir = store.image(&digest);
    if dir.is_dir() {
        say(&format!("already have {digest} in {}", dir.display()));
    } else {
        // Unpacked in tmp/ first, and moved into images/ when whole: on any
        // error it is removed, and images/ never holds half an image.
        let tmp = store.unpacking()?;
        if let Err(err) = download(&mut registry, &manifest, &tmp) {
            _ = fs::remove_dir_all(&tmp);
            return Err(err);
        }
        store.keep(&tmp, &dir)?;
        say(&format!("pulled {digest} into {}", dir.display()));
    }
    store.record(reference, &digest)?;
    Ok(dir)
}

/// The config, then the layers into rootfs/, each checked against its digest.
fn download(registry: &mut Registry, manifest: &Manifest, dir: &Path) -> Result<()> {
    let mut config = Vec::new(); // kilobytes: 16 MiB is plenty
    let blob = registry.blob(&manifest.config.digest)?;
    blob.take(16 << 20).read_to_end(&mut config)?;
    verify(&sha256(&config), &manifest.config.digest, "the config")?;
    serde_json::from_slice::<ImageConfig>(&config).context("reading the image config")?;
    fs::write(dir.join("config.json"), &config)?;
    fs::create_dir(dir.join("rootfs"))?;
    for (n, layer) in manifest.layers.iter().enumerate() {
        let (of, digest, size) = (manifest.layers.len(), &layer.digest, layer.size);
        say(&format!("layer {}/{of}: {digest} ({size} bytes)", n + 1));
        layers::unpack(registry.blob(digest)?, layer, &dir.join("rootfs"))?;
    }
    Ok(())
}
// ANCHOR_END: pull

// ANCHOR: fetch_manifest
/// The image manifest VERSION (a tag or a digest) names, and its digest:
/// through an index, if VERSION names one (but not an index in an index).
fn fetch_manifest(registry: &mut Registry, version: &str, top: bool) -> Result<(String, Manifest)> {
    let body = registry.manifest(version)?;
    // A manifest's digest is the sha256 of its bytes. Asked for by digest,
    // the registry must send exactly those bytes; asked for by tag, the
    // digest is whatever they hash to, and names the image in our store.
    let digest = sha256(&body);
    if version.starts_with("sha256:") {
        verify(&digest, version, "the manifest")?;
    }
    match manifest::parse(&body)? {
        Fetched::Manifest(manifest) => Ok((digest, manifest)),
        Fetched::Index { manifests } if top => {
            let (chosen, platform) = manifest::choose(&manifests)?;
            let (n, digest) = (manifests.len(), &chosen.digest);
            say(&format!(
                "{version} is an index of {n} manifests: taking {platform} ({digest})"
            ));
            fetch_manifest(registry, digest, false)
        }
        Fetched::Index { .. } => bail!("the index {version} lists an index"),
    }
}
// ANCHOR_END: fetch_manifest

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Refuses WHAT, asked for by DIGEST, when it hashes to ACTUAL.
pub fn verify(actual: &str, digest: &str, what: &str) -> Result<()> {
    if actual != digest {
        bail!(
            "{what} {digest} does not match its digest (it hashes to {actual}): the download is \
             corrupt or was tampered with; nothing was kept, try again"
        );
    }
    Ok(())
}

/// How the image in DIR says to run it, from the config kept beside its rootfs.
pub fn run_config(dir: &Path) -> Result<manifest::RunConfig> {
    let path = dir.join("config.json");
    let read = || -> Result<ImageConfig> { Ok(serde_json::from_slice(&fs::read(&path)?)?) };
    Ok(read()
        .with_context(|| format!("reading {}", path.display()))?
        .config)
}
