//! Pulling, in the order the distribution API goes: the manifest (or an
//! index, then our platform's manifest), the config, then the layers.

use std::fs;
use std::io::Read;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::layers::{self, Verified};
use crate::manifest::{self, Fetched, Manifest};
use crate::reference::{Reference, Version};
use crate::registry::Registry;
use crate::say;
use crate::store::{Image, Store};

// ANCHOR: pull
/// Pulls REFERENCE into the store, unless the store has it already.
pub fn pull(reference: &Reference, store: &Store) -> Result<Image> {
    let mut registry = Registry::new(reference);
    say(&format!("pulling {reference} from {}", registry.url()));

    let (digest, manifest) = fetch_manifest(&mut registry, reference)?;
    if let Some(image) = store.image(&digest)? {
        say(&format!("already have {digest} in {}", image.dir.display()));
        store.record(reference, &digest)?;
        return Ok(image);
    }

    // Everything goes into a temporary directory first: if anything fails,
    // it is removed, and images/ never holds half an image.
    let unpacking = store.unpacking()?;
    let config = blob_to_memory(&mut registry, &manifest.config, "config")?;
    serde_json::from_slice::<manifest::ImageConfig>(&config)
        .context("the image config is not valid JSON")?;
    fs::write(unpacking.dir().join("config.json"), &config)?;
    let rootfs = unpacking.dir().join("rootfs");
    fs::create_dir(&rootfs)?;
    for (n, layer) in manifest.layers.iter().enumerate() {
        say(&format!(
            "layer {}/{}: {} ({} bytes)",
            n + 1,
            manifest.layers.len(),
            layer.digest,
            layer.size
        ));
        let blob = registry.blob(&layer.digest)?;
        layers::unpack(blob, layer, &rootfs)?;
    }
    let image = store.keep(unpacking, &digest)?;
    store.record(reference, &digest)?;
    say(&format!("pulled {digest} into {}", image.dir.display()));
    Ok(image)
}
// ANCHOR_END: pull

// ANCHOR: fetch_manifest
/// The image manifest for REFERENCE and its digest, through an index if the
/// reference names one.
fn fetch_manifest(registry: &mut Registry, reference: &Reference) -> Result<(String, Manifest)> {
    let (media_type, body) = registry.manifest(reference.version_str())?;
    let digest = verify_manifest(reference, &body)?;
    match manifest::parse(&media_type, &body)? {
        Fetched::Manifest(manifest) => Ok((digest, manifest)),
        Fetched::Index(index) => {
            let want = manifest::host_platform();
            let chosen = manifest::choose(&index, &want)?;
            say(&format!(
                "{reference} is an index of {} manifests: taking {}/{} ({})",
                index.manifests.len(),
                want.os,
                want.architecture,
                chosen.digest
            ));
            // Now by digest: what we get must hash to what the index says.
            let (media_type, body) = registry.manifest(&chosen.digest)?;
            check_sha256(&body, &chosen.digest, "the manifest")?;
            match manifest::parse(&media_type, &body)? {
                Fetched::Manifest(manifest) => Ok((chosen.digest.clone(), manifest)),
                Fetched::Index(_) => bail!("the index {} points to another index", digest),
            }
        }
    }
}

/// A manifest's digest is the sha256 of its bytes. Asked for by digest, the
/// registry must send exactly those bytes; asked for by tag, the digest is
/// whatever the bytes hash to, and names the image in our store.
fn verify_manifest(reference: &Reference, body: &[u8]) -> Result<String> {
    match &reference.version {
        Version::Digest(digest) => {
            check_sha256(body, digest, "the manifest")?;
            Ok(digest.clone())
        }
        Version::Tag(_) => Ok(format!("sha256:{:x}", Sha256::digest(body))),
    }
}
// ANCHOR_END: fetch_manifest

fn check_sha256(bytes: &[u8], digest: &str, what: &str) -> Result<()> {
    let actual = format!("sha256:{:x}", Sha256::digest(bytes));
    if actual != digest {
        bail!(
            "{what} {digest} does not match its digest (it hashes to {actual}): \
             the download is corrupt or was tampered with; try again"
        );
    }
    Ok(())
}

/// A small blob (the config), read whole and verified.
fn blob_to_memory(
    registry: &mut Registry,
    descriptor: &manifest::Descriptor,
    what: &str,
) -> Result<Vec<u8>> {
    // Configs are kilobytes; refuse to hold more than 16 MiB.
    let mut verified = Verified::new(registry.blob(&descriptor.digest)?.take(16 << 20));
    let mut bytes = Vec::new();
    verified
        .read_to_end(&mut bytes)
        .with_context(|| format!("downloading the {what} {}", descriptor.digest))?;
    verified.finish(what, descriptor)?;
    Ok(bytes)
}

/// The image's config, as the store keeps it.
pub fn run_config(image: &Image) -> Result<manifest::RunConfig> {
    let path = image.dir.join("config.json");
    let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let config: manifest::ImageConfig = serde_json::from_slice(&text)
        .map_err(|err| anyhow!("reading {}: {err}", path.display()))?;
    Ok(config.config)
}
