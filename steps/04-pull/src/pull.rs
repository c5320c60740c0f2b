//! Pulling, in the order the distribution API goes: the manifest (or an
//! index, then our platform's manifest), the config, then the layers. The
//! JSON is read into oci-spec's types (the OCI's own), which read Docker's
//! schema 2 manifests and lists too: they have the same shape.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::image::{Arch, Config, Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use sha2::{Digest, Sha256};

use crate::reference::{check_digest, Reference};
use crate::registry::Registry;
use crate::store::Store;
use crate::{layers, say};

// ANCHOR: pull
/// Pulls REFERENCE into the store, unless the store has it already, and
/// says where it is.
pub fn pull(reference: &Reference, store: &Store) -> Result<PathBuf> {
    let mut registry = Registry::new(reference);
    say(&format!("pulling {} from {}", reference.name, registry.url));
    let (digest, manifest) = fetch_manifest(&mut registry, &reference.version)?;
    let dir = store.image(&digest);
    if dir.is_dir() {
        say(&format!("already have {digest} in {}", dir.display()));
    } else {
        store.add(&dir, |tmp| download(&mut registry, &manifest, tmp))?;
        say(&format!("pulled {digest} into {}", dir.display()));
    }
    store.record(reference, &digest)?;
    Ok(dir)
}

/// The config, then the layers into rootfs/, each checked against its digest.
fn download(registry: &mut Registry, manifest: &ImageManifest, dir: &Path) -> Result<()> {
    let digest = manifest.config().digest().to_string();
    let mut config = Vec::new(); // kilobytes: 16 MiB is plenty
    registry
        .blob(&digest)?
        .take(16 << 20)
        .read_to_end(&mut config)?;
    verify(&sha256(&config), &digest, "the config")?;
    serde_json::from_slice::<ImageConfiguration>(&config).context("reading the image config")?;
    fs::write(dir.join("config.json"), &config)?;
    fs::create_dir(dir.join("rootfs"))?;
    let of = manifest.layers().len();
    for (n, layer) in manifest.layers().iter().enumerate() {
        let (digest, size) = (layer.digest().to_string(), layer.size());
        say(&format!("layer {}/{of}: {digest} ({size} bytes)", n + 1));
        layers::unpack(registry.blob(&digest)?, layer, &dir.join("rootfs"))?;
    }
    Ok(())
}
// ANCHOR_END: pull

// ANCHOR: fetch_manifest
/// The image manifest VERSION (a tag or a digest) names, and its digest:
/// through an index, if VERSION names one.
fn fetch_manifest(registry: &mut Registry, version: &str) -> Result<(String, ImageManifest)> {
    let body = registry.manifest(version)?;
    // A manifest's digest is the sha256 of its bytes. Asked for by digest,
    // the registry must send exactly those bytes; asked for by tag, the
    // digest is whatever they hash to, and names the image in our store.
    let digest = sha256(&body);
    if version.starts_with("sha256:") {
        verify(&digest, version, "the manifest")?;
    }
    let json: serde_json::Value =
        serde_json::from_slice(&body).context("the manifest is not valid JSON")?;
    // Every digest in it is checked before any is used: `sha256:../../etc`
    // must never reach a URL, let alone a file name.
    let listed = ["manifests", "layers"].map(|key| json[key].as_array());
    for descriptor in listed
        .into_iter()
        .flatten()
        .flatten()
        .chain(json.get("config"))
    {
        let digest = descriptor["digest"].as_str().unwrap_or_default();
        check_digest(digest).context("the manifest names a blob by a bad digest")?;
    }
    // An index lists `manifests`; an image manifest has a `config` and `layers`.
    if json.get("manifests").is_none() {
        let manifest = serde_json::from_value(json).context(
            "the manifest is neither an index nor an image manifest (schema 1 is not read)",
        )?;
        return Ok((digest, manifest));
    }
    let index: ImageIndex = serde_json::from_value(json).context("reading the index")?;
    let (chosen, platform) = choose(index.manifests())?;
    let (n, digest) = (index.manifests().len(), chosen.digest().to_string());
    say(&format!(
        "{version} is an index of {n} manifests: taking {platform} ({digest})"
    ));
    fetch_manifest(registry, &digest)
}
// ANCHOR_END: fetch_manifest

// ANCHOR: platform
/// Picks our platform's manifest from an index: linux, and our CPU by its
/// name in Go, as registries name it (oci-spec's `Arch::default()`).
fn choose(manifests: &[Descriptor]) -> Result<(&Descriptor, String)> {
    let named = manifests.iter().filter_map(|d| {
        let p = d.platform().as_ref()?;
        let variant = p.variant().as_ref().map(|v| format!("/{v}"));
        let name = format!(
            "{}/{}{}",
            p.os(),
            p.architecture(),
            variant.unwrap_or_default()
        );
        Some((d, name))
    });
    // arm64's baseline variant, v8, often goes unsaid.
    let ours = [
        format!("linux/{}", Arch::default()),
        format!("linux/{}/v8", Arch::default()),
    ];
    if let Some(found) = named.clone().find(|(_, p)| ours.contains(p)) {
        return Ok(found);
    }
    // Entries for `unknown/unknown` are not images (BuildKit's attestations:
    // SBOMs, provenance): a client that takes the first entry may get one.
    let have: Vec<_> = named
        .map(|(_, p)| p)
        .filter(|p| p != "unknown/unknown")
        .collect();
    let (ours, have) = (&ours[0], have.join(", "));
    bail!("the image has no {ours}: it has {have}; pull an image built for this machine")
}
// ANCHOR_END: platform

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
pub fn run_config(dir: &Path) -> Result<Config> {
    let path = dir.join("config.json");
    let read = || -> Result<ImageConfiguration> { Ok(serde_json::from_slice(&fs::read(&path)?)?) };
    let image = read().with_context(|| format!("reading {}", path.display()))?;
    Ok(image.config().clone().unwrap_or_default())
}
