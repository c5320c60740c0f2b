//! Pulling, in the order the distribution API goes: the manifest (or an
//! index, then our platform's manifest), the config, then the layers, into
//! a store: `images/sha256/HEX/` (`config.json`, `rootfs/`) by the manifest's
//! digest, and `refs/REGISTRY/REPO:TAG`, the digest TAG named when pulled.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use oci_spec::image::{Arch, Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use sha2::{Digest, Sha256};

use crate::reference::{check_digest, Reference};
use crate::registry::Registry;
use crate::{layers, say, userns};

// ANCHOR: pull
/// IMAGE's directory in the store: pulled now if ALWAYS or not there yet.
pub fn find(name: &str, always: bool) -> Result<PathBuf> {
    let reference = Reference::parse(name)?;
    let store = store()?;
    if let Some(dir) = lookup(&store, &reference).filter(|_| !always) {
        let (name, shown) = (&reference.name, dir.display());
        say(&format!("using {name}, pulled before, from {shown}"));
        return Ok(dir);
    }
    if nix::unistd::Uid::effective().is_root() {
        return pull(&reference, &store).with_context(|| format!("pulling {}", reference.name));
    }
    // An ordinary user unpacks as root of a user namespace of its own:
    // chroot needs it (see layers.rs); every file is then the user's.
    userns::in_own(|| pull(&reference, &store).map(drop))
        .with_context(|| format!("pulling {}", reference.name))?;
    lookup(&store, &reference).context("the pull ended, but the image is not in the store")
}

fn pull(reference: &Reference, store: &Path) -> Result<PathBuf> {
    let mut registry = Registry::new(reference);
    say(&format!("pulling {} from {}", reference.name, registry.url));
    let (digest, manifest) = fetch_manifest(&mut registry, &reference.version)?;
    let dir = image(store, &digest);
    if dir.is_dir() {
        say(&format!("already have {digest} in {}", dir.display()));
    } else {
        add(store, &dir, |tmp| download(&mut registry, &manifest, tmp))?;
        say(&format!("pulled {digest} into {}", dir.display()));
    }
    record(store, reference, &digest)?;
    Ok(dir)
}

/// The config, then the layers into rootfs/, each checked against its digest.
fn download(registry: &mut Registry, manifest: &ImageManifest, dir: &Path) -> Result<()> {
    let digest = manifest.config().digest().to_string();
    let config = read(registry, &format!("blobs/{digest}"))?;
    verify(&sha256(&config), &digest, "the config")?;
    serde_json::from_slice::<ImageConfiguration>(&config).context("reading the image config")?;
    fs::write(dir.join("config.json"), &config)?;
    fs::create_dir(dir.join("rootfs"))?;
    let of = manifest.layers().len();
    for (n, layer) in manifest.layers().iter().enumerate() {
        let (digest, size) = (layer.digest().to_string(), layer.size());
        say(&format!("layer {}/{of}: {digest} ({size} bytes)", n + 1));
        let blob = registry.get(&format!("blobs/{digest}"))?;
        layers::unpack(blob, layer, &dir.join("rootfs"))?;
    }
    Ok(())
}

/// GET PATH whole: a manifest or a config, kilobytes (4 MiB is plenty).
fn read(registry: &mut Registry, path: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    registry.get(path)?.take(4 << 20).read_to_end(&mut bytes)?;
    Ok(bytes)
}
// ANCHOR_END: pull

// ANCHOR: fetch_manifest
/// The image manifest VERSION (a tag or a digest) names, and its digest:
/// through an index, if VERSION names one.
fn fetch_manifest(registry: &mut Registry, version: &str) -> Result<(String, ImageManifest)> {
    let body = read(registry, &format!("manifests/{version}"))?;
    // A manifest's digest is the sha256 of its bytes. Asked for by digest,
    // the registry must send exactly those bytes; asked for by tag, the
    // digest is whatever they hash to, and names the image in our store.
    let digest = sha256(&body);
    if version.contains(':') {
        verify(&digest, version, "the manifest")?;
    }
    let json: serde_json::Value =
        serde_json::from_slice(&body).context("the manifest is not valid JSON")?;
    // An index lists `manifests`; an image manifest has a `config` and `layers`.
    if json.get("manifests").is_none() {
        let manifest = serde_json::from_value(json).context("reading the image manifest")?;
        return Ok((digest, manifest));
    }
    let index: ImageIndex = serde_json::from_value(json).context("reading the index")?;
    let (chosen, platform) = choose(index.manifests())?;
    let (n, digest) = (index.manifests().len(), chosen.digest().to_string());
    let said = format!("{version} is an index of {n} manifests: taking {platform} ({digest})");
    say(&said);
    fetch_manifest(registry, &digest)
}

/// Picks our platform's manifest from an index: linux, and our CPU by its
/// name in Go, as registries name it (oci-spec's `Arch::default()`).
fn choose(manifests: &[Descriptor]) -> Result<(&Descriptor, String)> {
    let name = |d: &Descriptor| {
        let p = d.platform().as_ref()?;
        let variant: String = p.variant().iter().map(|v| format!("/{v}")).collect();
        Some(format!("{}/{}{variant}", p.os(), p.architecture()))
    };
    // Entries for `unknown/unknown` are not images (BuildKit's attestations:
    // SBOMs, provenance): a client that takes the first entry may get one.
    let named = manifests.iter().filter_map(|d| Some((d, name(d)?)));
    let named: Vec<_> = named.filter(|(_, p)| p != "unknown/unknown").collect();
    // arm64's baseline variant, v8, often goes unsaid.
    let ours = format!("linux/{}", Arch::default());
    let is_ours = |p: &String| *p == ours || *p == format!("{ours}/v8");
    if let Some(found) = named.iter().find(|(_, p)| is_ours(p)) {
        return Ok(found.clone());
    }
    let have: Vec<_> = named.into_iter().map(|(_, p)| p).collect();
    let have = have.join(", ");
    bail!("the image has no {ours}: it has {have}; pull an image built for this machine")
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

/// Where the images are: root's, in lesson 4's store in CTR_ROOT (default
/// /var/lib/ctr); an ordinary user's, in its own data directory
/// ($XDG_DATA_HOME, or ~/.local/share), as `step-09`. Each has images/,
/// refs/, tmp/.
fn store() -> Result<PathBuf> {
    let root = if nix::unistd::Uid::effective().is_root() {
        let ctr_root = std::env::var_os("CTR_ROOT").unwrap_or_else(|| "/var/lib/ctr".into());
        PathBuf::from(ctr_root).join("lessons/04")
    } else {
        let data = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from);
        let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share"));
        let data = data.or(home).filter(|d| d.is_absolute());
        data.context("where to keep images: set HOME (or XDG_DATA_HOME) to your home")?
            .join("step-09")
    };
    for dir in ["images/sha256", "refs", "tmp"] {
        let made = fs::create_dir_all(root.join(dir));
        made.with_context(|| format!("creating the image store {}", root.display()))?;
    }
    Ok(root)
}

/// Where the image with this manifest digest is, or goes.
fn image(store: &Path, digest: &str) -> PathBuf {
    store.join("images").join(digest.replace(':', "/"))
}

/// The image REFERENCE named when it was last pulled, if it is still here.
fn lookup(store: &Path, reference: &Reference) -> Option<PathBuf> {
    let digest = fs::read_to_string(store.join("refs").join(&reference.name)).ok()?;
    let dir = image(store, check_digest(digest.trim()).ok()?);
    dir.is_dir().then_some(dir)
}

/// Records that REFERENCE names DIGEST (a name has no `..` and no empty
/// component: it stays under refs/).
fn record(store: &Path, reference: &Reference, digest: &str) -> Result<()> {
    let path = store.join("refs").join(&reference.name);
    fs::create_dir_all(path.parent().expect("a ref has a directory"))
        .and_then(|()| fs::write(&path, format!("{digest}\n")))
        .with_context(|| format!("recording {}", path.display()))
}

/// Makes the image DIR with FILL, in a fresh directory under tmp/ that is
/// renamed to DIR once whole, or removed: rename(2) is atomic, so images/
/// never holds half an image.
fn add(store: &Path, dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let now = SystemTime::UNIX_EPOCH.elapsed().map_or(0, |t| t.as_nanos());
    let tmp = store.join(format!("tmp/{}.{now}", std::process::id()));
    fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let added = fill(&tmp).and_then(|()| match fs::rename(&tmp, dir) {
        // Another pull of the same image may have finished first: keep theirs.
        Err(_) if dir.is_dir() => Ok(()),
        renamed => renamed.with_context(|| format!("moving the image to {}", dir.display())),
    });
    _ = fs::remove_dir_all(&tmp);
    added
}
