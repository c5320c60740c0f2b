//! `ctr pull`: a reference's manifest (this machine's, from an index), its
//! config, and its layers, fetched a few at a time and unpacked as they
//! stream into the store. Layers already there are not fetched again.
//!
//! Locking: the store's shared lock is held while layers are written to
//! tmp/ (so `rmi` and `import`, which clean tmp/ under the exclusive lock,
//! wait), and each layer's own lock while it is fetched, so that two pulls
//! of one image fetch each layer once: the second waits, then finds it in
//! place. The image is recorded under the exclusive lock at the end.
//! Everything is written to tmp/ and renamed: a pull killed at any point
//! leaves no half-made layer, and the next writer removes its leftovers.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use super::client::{Client, BLOB_ATTEMPTS};
use super::endpoint::{self, Settings};
use super::manifest::{self, Descriptor, Parsed};
use super::progress::{Counting, Progress};
use super::timeouts::Timeouts;
use crate::config;
use crate::digest::{Digest, HashingReader};
use crate::image::store::{self, ImageRecord, LayerRecord, Store};
use crate::reference::Reference;

/// Layers fetched at once: docker's max-concurrent-downloads.
const PARALLEL: usize = 3;
/// An image config is small; a limit keeps a hostile one from filling memory.
const MAX_CONFIG: u64 = 16 << 20;

/// What a pull did.
pub struct Pulled {
    pub id: Digest,
    /// The digest the reference resolved to (an index's, for multi-arch).
    pub digest: Digest,
    pub downloaded: usize,
    pub existed: usize,
}

// ANCHOR: pull
/// Pulls `reference` into `store`.
pub fn pull(store: &Store, reference: &Reference, progress: &Progress) -> Result<Pulled> {
    let settings = Settings::from_env();
    let endpoint = endpoint::endpoint(reference, &settings)?;
    let mirror = endpoint.mirror.then(|| endpoint.base.clone());
    let client = Client::new(endpoint, Timeouts::from_env()?);
    let result = fetch_and_store(store, &client, reference, progress);
    match (result, mirror) {
        (Err(err), Some(mirror)) if !is_disk_full(&err) => Err(err.context(format!(
            "the mirror {mirror} (CTR_REGISTRY_MIRROR) failed, and ctr does not fall back \
             to Docker Hub: fix the mirror, or unset CTR_REGISTRY_MIRROR"
        ))),
        (result, _) => result.map_err(|err| disk_full_advice(err, store)),
    }
}
// ANCHOR_END: pull

fn fetch_and_store(
    store: &Store,
    client: &Client,
    reference: &Reference,
    progress: &Progress,
) -> Result<Pulled> {
    let version = match (&reference.digest, &reference.tag) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.clone(),
        (None, None) => "latest".to_string(),
    };
    let top = client.manifest(&version)?;
    let (manifest, manifest_bytes, manifest_digest) = match manifest::parse(
        &top.content_type,
        &top.body,
    )? {
        Parsed::Manifest(m) => (m, top.body, top.digest.clone()),
        Parsed::Index(index) => {
            let want = manifest::host_platform();
            let chosen = manifest::choose(index.manifests(), &want)?;
            let chosen_digest = manifest::digest(chosen)?;
            progress.line(&format!(
                "{reference} is an index of {} manifests: taking {} ({chosen_digest})",
                index.manifests().len(),
                manifest::platform_name(chosen.platform().as_ref().unwrap_or(&want)),
            ));
            let inner = client.manifest(&chosen_digest.to_string())?;
            match manifest::parse(&inner.content_type, &inner.body)? {
                Parsed::Manifest(m) => (m, inner.body, inner.digest),
                Parsed::Index(_) => {
                    bail!("the index's entry {chosen_digest} is another index: ctr reads one level")
                }
            }
        }
    };
    for layer in manifest.layers() {
        check_layer_type(layer)?;
    }
    let config_digest = manifest::digest(manifest.config())?;
    let config_bytes = client.small_blob(&config_digest, MAX_CONFIG)?;
    let config = config::parse(&config_bytes)
        .with_context(|| format!("parsing the image config {config_digest}"))?;
    let diff_ids = config::diff_ids(&config, manifest.layers().len())?;
    let jobs: Vec<Layer> = diff_ids
        .iter()
        .zip(manifest.layers())
        .map(|(diff_id, blob)| {
            Ok(Layer {
                diff_id: diff_id.clone(),
                digest: manifest::digest(blob)?,
                size: blob.size(),
            })
        })
        .collect::<Result<_>>()?;

    let (downloaded, existed) = {
        let _shared = store.lock(false)?;
        fetch_layers(store, client, &jobs, progress)?
    };

    // Recorded under the exclusive lock; a layer is checked to be still
    // there (an `rmi` may have run between the two locks).
    let lock = store.lock(true)?;
    let mut layers = Vec::new();
    for diff_id in &diff_ids {
        if !store.has_layer(diff_id) {
            bail!("the layer {diff_id} was removed while the image was pulled (by `ctr rmi`?): pull again");
        }
        layers.push(LayerRecord {
            diff_id: diff_id.clone(),
            size: store.layer_size(diff_id)?,
        });
    }
    let id = store.put_blob(&config_bytes, Some(&config_digest))?;
    store.put_blob(&manifest_bytes, Some(&manifest_digest))?;
    let record = ImageRecord {
        id: id.clone(),
        manifest: Some(manifest_digest),
        layers,
        created: config.created().clone(),
        stored: store::now(),
    };
    store.put_image(&record, std::slice::from_ref(reference), &lock)?;
    // Nobody else writes now: what killed pulls left in tmp/ can go.
    store.clean_tmp(&lock)?;
    Ok(Pulled {
        id,
        digest: top.digest,
        downloaded,
        existed,
    })
}

/// A layer to fetch: its blob, and the digest of its tar (the config's).
struct Layer {
    diff_id: Digest,
    digest: Digest,
    /// As the manifest says; 0 when it does not.
    size: u64,
}

/// Layers we can unpack: tar, gzip'd, zstd'd or not (docker's and OCI's
/// names, and the non-distributable ones, which are fetched like the
/// others). The unpacker goes by the bytes' magic number, not by the name.
fn check_layer_type(layer: &Descriptor) -> Result<()> {
    let t = layer.media_type().to_string();
    let t = t.as_str();
    if t.is_empty()
        || t.ends_with(".tar")
        || t.ends_with("tar+gzip")
        || t.ends_with(".tar.gzip")
        || t.ends_with("tar+zstd")
        || t.ends_with(".tar.zstd")
    {
        return Ok(());
    }
    bail!(
        "the layer {} is a {t:?}, which is not a filesystem layer ctr reads",
        layer.digest()
    )
}

// ANCHOR: fetch_layers
/// Fetches and unpacks the layers not in the store yet, PARALLEL at once.
/// Returns (fetched, already there).
fn fetch_layers(
    store: &Store,
    client: &Client,
    jobs: &[Layer],
    progress: &Progress,
) -> Result<(usize, usize)> {
    let mut seen = Vec::new();
    let queue: VecDeque<&Layer> = jobs
        .iter()
        .filter(|layer| {
            let new = !seen.contains(&layer.diff_id);
            seen.push(layer.diff_id.clone());
            new
        })
        .collect();
    let count = queue.len();
    let queue = Mutex::new(queue);
    let failed = AtomicBool::new(false);
    let errors = Mutex::new(Vec::new());
    let fetched = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(count) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let Some(layer) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                else {
                    return;
                };
                match fetch_layer(store, client, layer, progress) {
                    Ok(true) => *fetched.lock().unwrap_or_else(|e| e.into_inner()) += 1,
                    Ok(false) => {}
                    Err(err) => {
                        failed.store(true, Ordering::Relaxed);
                        errors.lock().unwrap_or_else(|e| e.into_inner()).push(err);
                    }
                }
            });
        }
    });
    if let Some(err) = errors.into_inner().unwrap_or_default().into_iter().next() {
        return Err(err);
    }
    let fetched = fetched.into_inner().unwrap_or_default();
    Ok((fetched, count - fetched))
}

/// One layer, unless it is in the store. Returns whether it was fetched.
fn fetch_layer(store: &Store, client: &Client, layer: &Layer, progress: &Progress) -> Result<bool> {
    let diff_id = &layer.diff_id;
    if store.has_layer(diff_id) {
        progress.exists(&layer.digest);
        return Ok(false);
    }
    let _lock = store.lock_layer(diff_id)?;
    // Another pull may have fetched it while we waited for its lock.
    if store.has_layer(diff_id) {
        progress.exists(&layer.digest);
        return Ok(false);
    }
    let bar = progress.layer(&layer.digest, layer.size);
    if let Err(err) = stream_layer(store, client, layer, &bar) {
        bar.finish("failed");
        return Err(err.context(format!("pulling the layer {}", layer.digest)));
    }
    bar.finish("pull complete");
    Ok(true)
}

/// GET the blob and unpack it as it arrives, resumed where it broke off
/// if the connection drops; its digest and size are checked at its end,
/// before the layer is renamed into place.
fn stream_layer(
    store: &Store,
    client: &Client,
    layer: &Layer,
    bar: &super::progress::Layer,
) -> Result<()> {
    let body = client.blob(&layer.digest, layer.size, |at, attempt, why| {
        bar.resuming(at, attempt, BLOB_ATTEMPTS, why)
    })?;
    let hashing = HashingReader::new(Counting {
        inner: body,
        layer: bar,
    });
    store.add_layer_checked(&layer.diff_id, hashing, |hashing: HashingReader<_>| {
        let (got, size) = hashing.finish().context("reading the layer")?;
        if got != layer.digest {
            bail!(
                "the blob {} does not match its digest (it is {got}): the download is corrupt \
                 or was tampered with; nothing was kept, try again",
                layer.digest
            );
        }
        if layer.size != 0 && size != layer.size {
            bail!(
                "the blob {} has {size} bytes, not {} as its manifest says",
                layer.digest,
                layer.size
            );
        }
        Ok(())
    })?;
    Ok(())
}
// ANCHOR_END: fetch_layers

fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
            == Some(libc::ENOSPC)
    })
}

/// A full disk, said plainly: what was half-written is gone.
fn disk_full_advice(err: anyhow::Error, store: &Store) -> anyhow::Error {
    if is_disk_full(&err) {
        err.context(format!(
            "no space left on the disk of {}: nothing was kept; free some space, \
             or choose another store with --root or CTR_ROOT",
            store.root().display()
        ))
    } else {
        err
    }
}

// ANCHOR: ensure
/// docker's `run` of an image that is not here: say so, and pull it. When
/// the pull fails, the error offers both ways: import, or fix the pull.
pub fn ensure(store: &Store, name: &str) -> Result<()> {
    let missing = match store.resolve(name) {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    // Not a name (an ID prefix, a bad reference): resolve's error says why.
    let Ok(reference) = Reference::parse(name) else {
        return Err(missing);
    };
    let progress = Progress::for_stderr();
    progress.line(&format!(
        "Unable to find image '{}' locally",
        reference.familiar()
    ));
    pull_and_report(store, &reference, &progress)
        .map_err(|err| err.context(format!("{missing:#}; and pulling it failed")))
}
// ANCHOR_END: ensure

/// `ctr pull REF`, with its last line.
pub fn pull_and_report(store: &Store, reference: &Reference, progress: &Progress) -> Result<()> {
    let pulled =
        pull(store, reference, progress).with_context(|| format!("pulling {reference}"))?;
    progress.line(&format!(
        "pulled {reference} ({}): {} layers new, {} already here",
        pulled.digest, pulled.downloaded, pulled.existed
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    fn descriptor(media_type: &str) -> Descriptor {
        let digest = Digest::of(b"")
            .to_string()
            .parse::<oci_spec::image::Digest>();
        Descriptor::new(media_type.into(), 0, digest.unwrap())
    }

    #[test]
    fn layer_types() {
        for ok in [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
            "",
        ] {
            assert!(check_layer_type(&descriptor(ok)).is_ok(), "{ok}");
        }
        let err = check_layer_type(&descriptor("application/vnd.in-toto+json"));
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("not a filesystem layer"));
    }

    #[test]
    fn a_full_disk_is_told_apart() {
        let full =
            anyhow::Error::new(io::Error::from_raw_os_error(libc::ENOSPC)).context("writing");
        assert!(is_disk_full(&full));
        assert!(!is_disk_full(&anyhow!("other")));
    }
}
