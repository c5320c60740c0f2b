//! `ctr import`: images from `docker save` / `podman save` archives and from
//! OCI image layouts (a directory, or a tar of one), for users without a
//! registry. The archive is read in place: a tar is indexed once, then each
//! member is read by seeking to it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::config;
use crate::digest::{Digest, HashingReader};
use crate::image::store::{self, ImageRecord, LayerRecord, Lock, Store, Temp};
use crate::reference::Reference;
use crate::registry::manifest::{self, Descriptor, ImageIndex, ImageManifest, Platform};

/// Where the archive's members are read from.
enum Source {
    Dir(PathBuf),
    Tar {
        file: PathBuf,
        members: HashMap<String, Member>,
        /// Where a gzip'd archive was decompressed to, removed with it.
        _plain: Option<Temp>,
    },
}

#[derive(Clone)]
enum Member {
    File { offset: u64, size: u64 },
    Link(String),
}

impl Source {
    fn open(path: &Path, store: &Store) -> Result<Source> {
        let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            return Ok(Source::Dir(path.to_path_buf()));
        }
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut magic = [0u8; 2];
        let n = file.read(&mut magic)?;
        let (file_path, temp) = if n == 2 && magic == [0x1f, 0x8b] {
            // `docker save | gzip`: a gzip stream cannot seek; unpack it once.
            let temp = store.temp("import")?;
            let plain = temp.join("archive.tar");
            let mut out =
                File::create(&plain).with_context(|| format!("creating {}", plain.display()))?;
            let gz = flate2::read::MultiGzDecoder::new(BufReader::new(File::open(path)?));
            io::copy(&mut BufReader::new(gz), &mut out)
                .with_context(|| format!("decompressing {}", path.display()))?;
            (plain, Some(temp))
        } else {
            (path.to_path_buf(), None)
        };
        let mut members = HashMap::new();
        let mut archive = tar::Archive::new(File::open(&file_path)?);
        for entry in archive
            .entries()
            .with_context(|| format!("{} is not a tar archive", path.display()))?
        {
            let entry = entry.with_context(|| format!("reading the tar {}", path.display()))?;
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let member = match entry.header().entry_type() {
                tar::EntryType::Symlink => {
                    let target = entry.link_name_bytes().unwrap_or_default();
                    let target = String::from_utf8_lossy(&target).into_owned();
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    Member::Link(clean(&format!("{dir}/{target}")))
                }
                tar::EntryType::Link => {
                    let target = entry.link_name_bytes().unwrap_or_default();
                    Member::Link(clean(&String::from_utf8_lossy(&target)))
                }
                _ => Member::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
            };
            members.insert(name, member);
        }
        Ok(Source::Tar {
            file: file_path,
            members,
            _plain: temp,
        })
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Source::Dir(dir) => safe(name).is_some_and(|n| dir.join(n).is_file()),
            Source::Tar { members, .. } => self.member(members, name).is_some(),
        }
    }

    fn member(&self, members: &HashMap<String, Member>, name: &str) -> Option<(u64, u64)> {
        let mut name = clean(name);
        // Links within the archive (docker save links a repeated layer.tar), a few deep.
        for _ in 0..8 {
            match members.get(&name)? {
                Member::File { offset, size } => return Some((*offset, *size)),
                Member::Link(target) => name = target.clone(),
            }
        }
        None
    }

    fn read(&self, name: &str) -> Result<Box<dyn Read + Send + '_>> {
        match self {
            Source::Dir(dir) => {
                let rel = safe(name)
                    .with_context(|| format!("{name:?} is not a path inside the layout"))?;
                let path = dir.join(rel);
                let file =
                    File::open(&path).with_context(|| format!("opening {}", path.display()))?;
                Ok(Box::new(BufReader::new(file)))
            }
            Source::Tar { file, members, .. } => {
                let (offset, size) = self
                    .member(members, name)
                    .with_context(|| format!("the archive has no {name}"))?;
                let mut f = File::open(file)?;
                f.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(BufReader::new(f).take(size)))
            }
        }
    }

    fn read_all(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.read(name)?
            .take(limit)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {name}"))?;
        Ok(bytes)
    }
}

/// Removes `.` components, resolves `..` inside the archive, drops a leading `/`.
fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A name from a manifest, as a relative path that stays in the layout dir.
fn safe(name: &str) -> Option<PathBuf> {
    let ok = !name.starts_with('/') && name.split('/').all(|p| p != "..");
    ok.then(|| PathBuf::from(name))
}

/// Metadata files are small; a limit keeps a hostile one from filling memory.
const MAX_JSON: u64 = 16 << 20;

/// One image found in the archive, before it is stored.
struct Found {
    config: Vec<u8>,
    /// The manifest bytes, for OCI layouts.
    manifest: Option<Vec<u8>>,
    /// Member names of the layers, bottom first, and their digests when known.
    layers: Vec<(String, Option<Digest>)>,
    /// Names from the archive: full references, or tags only (OCI's ref.name).
    names: Vec<String>,
}

#[derive(Deserialize)]
struct DockerManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn find_docker(source: &Source) -> Result<Vec<Found>> {
    let bytes = source.read_all("manifest.json", MAX_JSON)?;
    let manifests: Vec<DockerManifest> =
        serde_json::from_slice(&bytes).context("parsing manifest.json")?;
    manifests
        .into_iter()
        .map(|m| {
            Ok(Found {
                config: source.read_all(&m.config, MAX_JSON)?,
                manifest: None,
                layers: m.layers.into_iter().map(|l| (l, None)).collect(),
                names: m.repo_tags.unwrap_or_default(),
            })
        })
        .collect()
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn read_blob(source: &Source, digest: &Digest) -> Result<Vec<u8>> {
    let bytes = source.read_all(&blob_name(digest), MAX_JSON)?;
    if &Digest::of(&bytes) != digest {
        bail!(
            "the blob {digest} in the layout is corrupt (its bytes hash to {}): \
             export the image again (docker save, skopeo copy) and import that",
            Digest::of(&bytes)
        );
    }
    Ok(bytes)
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The names index.json gives an entry: containerd's full reference, or
/// OCI's ref.name (often a tag alone).
fn entry_names(entry: &Descriptor) -> Vec<String> {
    let annotations = entry.annotations().clone().unwrap_or_default();
    [
        "io.containerd.image.name",
        "org.opencontainers.image.ref.name",
    ]
    .iter()
    .filter_map(|k| annotations.get(*k).cloned())
    .take(1)
    .collect()
}

// ANCHOR: pick_entries
/// The entries of index.json to import, for the platform `want`. Entries
/// that name a platform are, name by name, one image built for several
/// platforms: pull's choice ([`manifest::choose`]) takes one of them, never
/// an attestation. A name with nothing for `want` is left out, unless
/// nothing at all is left: then choose's error lists what there is.
/// Entries without a platform are taken as they are.
fn pick_entries<'a>(entries: &'a [Descriptor], want: &Platform) -> Result<Vec<&'a Descriptor>> {
    let mut picked = Vec::new();
    let mut groups: Vec<(Vec<String>, Vec<Descriptor>)> = Vec::new();
    for entry in entries {
        if entry.platform().is_none() {
            picked.push(entry);
            continue;
        }
        let names = entry_names(entry);
        match groups.iter_mut().find(|(n, _)| *n == names) {
            Some((_, group)) => group.push(entry.clone()),
            None => groups.push((names, vec![entry.clone()])),
        }
    }
    let mut refused = None;
    for (_, group) in &groups {
        match manifest::choose(group, want) {
            // The same entry of `entries`, not the copy in the group.
            Ok(chosen) => picked.extend(entries.iter().find(|e| *e == chosen)),
            Err(err) => refused = refused.or(Some(err)),
        }
    }
    if let (Some(err), true) = (refused, picked.is_empty()) {
        return Err(err);
    }
    // In index.json's order, which is the order the user is told of them.
    picked.sort_by_key(|p| entries.iter().position(|e| std::ptr::eq(e, *p)));
    Ok(picked)
}
// ANCHOR_END: pick_entries

fn find_oci(source: &Source) -> Result<Vec<Found>> {
    let bytes = source.read_all("index.json", MAX_JSON)?;
    let index: ImageIndex = manifest::read(&bytes).context("parsing index.json")?;
    let ours = manifest::host_platform();
    let mut found = Vec::new();
    for top in pick_entries(index.manifests(), &ours)? {
        let names = entry_names(top);
        let mut digest = manifest::digest(top).context("index.json")?;
        if INDEX_TYPES.contains(&top.media_type().to_string().as_str()) {
            // An index in the index (skopeo copy --all): the same choice.
            let nested: ImageIndex = manifest::read(&read_blob(source, &digest)?)
                .with_context(|| format!("parsing the index {digest}"))?;
            let chosen = manifest::choose(nested.manifests(), &ours)
                .with_context(|| format!("choosing from the index {digest}"))?;
            digest = manifest::digest(chosen)?;
        }
        let manifest_bytes = read_blob(source, &digest)?;
        let image: ImageManifest = manifest::read(&manifest_bytes)
            .with_context(|| format!("parsing the manifest {digest}"))?;
        let config_digest = manifest::digest(image.config())?;
        let layers = image
            .layers()
            .iter()
            .map(|l| {
                let d = manifest::digest(l)?;
                Ok((blob_name(&d), Some(d)))
            })
            .collect::<Result<_>>()?;
        found.push(Found {
            config: read_blob(source, &config_digest)?,
            manifest: Some(manifest_bytes),
            layers,
            names,
        });
    }
    Ok(found)
}

/// Whether the user's name has its own tag (`app:1`), not the implied `latest`.
fn has_tag(name: &str) -> bool {
    let name = name.split('@').next().unwrap_or(name);
    name.rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

/// The references to give each found image: the archive's own names, or the
/// user's NAME. With NAME, an image named only by tag (OCI's `ref.name`)
/// becomes NAME:tag; without NAME, a tag alone is not enough.
fn references(found: &[Found], name: Option<&str>) -> Result<Vec<Vec<Reference>>> {
    if let Some(name) = name {
        Reference::parse(name)?;
        if found.len() > 1 && has_tag(name) {
            bail!(
                "the archive holds {} images: give a name without a tag, \
                 and each is imported as NAME:its-tag",
                found.len()
            );
        }
    }
    found
        .iter()
        .map(|f| {
            let mut refs = Vec::new();
            for archive_name in &f.names {
                let full = archive_name.contains(['/', ':', '@']);
                let text = match (name, full) {
                    (None, true) => archive_name.clone(),
                    (None, false) => bail!(
                        "the archive names an image only by the tag {archive_name:?}: \
                         give a name, as in `ctr import FILE busybox`"
                    ),
                    (Some(n), _) if has_tag(n) => n.to_string(),
                    (Some(n), true) => match Reference::parse(archive_name)?.tag {
                        Some(tag) => format!("{}:{tag}", n.split('@').next().unwrap_or(n)),
                        None => n.to_string(),
                    },
                    (Some(n), false) => {
                        format!("{}:{archive_name}", n.split('@').next().unwrap_or(n))
                    }
                };
                refs.push(Reference::parse(&text)?);
            }
            if refs.is_empty() {
                if let Some(n) = name {
                    refs.push(Reference::parse(n)?);
                }
            }
            refs.sort();
            refs.dedup();
            Ok(refs)
        })
        .collect()
}

/// What one import did, for the user.
pub struct Imported {
    pub id: Digest,
    pub refs: Vec<Reference>,
    pub layers_added: usize,
    pub layers_shared: usize,
}

// ANCHOR: import
/// Imports every image of the archive or layout at `path`, naming them as
/// the archive does or as `name` says.
pub fn import(store: &Store, path: &Path, name: Option<&str>) -> Result<Vec<Imported>> {
    let lock = store.lock(true)?;
    store.clean_tmp(&lock)?;
    import_locked(store, path, name, &lock)
}

fn import_locked(
    store: &Store,
    path: &Path,
    name: Option<&str>,
    lock: &Lock,
) -> Result<Vec<Imported>> {
    let source = Source::open(path, store)?;
    let found = if source.exists("manifest.json") {
        find_docker(&source)?
    } else if source.exists("index.json") && source.exists("oci-layout") {
        find_oci(&source)?
    } else {
        bail!(
            "{} is neither a `docker save` archive (manifest.json) \
             nor an OCI image layout (oci-layout, index.json)",
            path.display()
        );
    };
    if found.is_empty() {
        bail!(
            "{} holds no image for {}",
            path.display(),
            manifest::platform_name(&manifest::host_platform())
        );
    }
    let refs = references(&found, name)?;
    found
        .iter()
        .zip(refs)
        .map(|(f, refs)| store_image(store, &source, f, refs, lock))
        .collect()
}

fn store_image(
    store: &Store,
    source: &Source,
    found: &Found,
    refs: Vec<Reference>,
    lock: &Lock,
) -> Result<Imported> {
    let id = Digest::of(&found.config);
    let config =
        config::parse(&found.config).with_context(|| format!("parsing the image config {id}"))?;
    let diff_ids = config::diff_ids(&config, found.layers.len())
        .with_context(|| format!("the image {}", id.short()))?;
    let mut layers = Vec::new();
    let (mut added, mut shared) = (0, 0);
    for ((member, digest), diff_id) in found.layers.iter().zip(diff_ids) {
        if store.has_layer(&diff_id) {
            shared += 1;
        } else {
            if let Some(digest) = digest {
                // The compressed blob is checked before a byte of it is unpacked.
                let (got, _) = HashingReader::new(source.read(member)?)
                    .finish()
                    .with_context(|| format!("reading {member}"))?;
                if &got != digest {
                    bail!("the layer blob {digest} is corrupt (its digest is {got})");
                }
            }
            added += 1;
        }
        let size = store.add_layer(&diff_id, source.read(member)?)?;
        layers.push(LayerRecord { diff_id, size });
    }
    store.put_blob(&found.config, Some(&id))?;
    let manifest = match &found.manifest {
        Some(bytes) => Some(store.put_blob(bytes, None)?),
        None => None,
    };
    let record = ImageRecord {
        id: id.clone(),
        manifest,
        layers,
        created: config.created().clone(),
        stored: store::now(),
    };
    store.put_image(&record, &refs, lock)?;
    Ok(Imported {
        id,
        refs,
        layers_added: added,
        layers_shared: shared,
    })
}
// ANCHOR_END: import

#[cfg(test)]
mod tests {
    use super::*;

    fn found(names: &[&str]) -> Found {
        Found {
            config: Vec::new(),
            manifest: None,
            layers: Vec::new(),
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn names(found: &[Found], name: Option<&str>) -> Result<Vec<Vec<String>>> {
        Ok(references(found, name)?
            .into_iter()
            .map(|refs| refs.iter().map(|r| r.familiar()).collect())
            .collect())
    }

    #[test]
    fn archive_names_are_kept() {
        let f = [
            found(&["busybox:latest", "busybox:1"]),
            found(&["localhost:5000/app:2"]),
        ];
        assert_eq!(
            names(&f, None).unwrap(),
            [
                vec!["busybox:1", "busybox:latest"],
                vec!["localhost:5000/app:2"]
            ]
        );
    }

    #[test]
    fn a_name_with_a_tag_names_one_image() {
        assert_eq!(
            names(&[found(&["latest"])], Some("mine:v1")).unwrap(),
            [["mine:v1"]]
        );
        assert_eq!(
            names(&[found(&[])], Some("mine")).unwrap(),
            [["mine:latest"]]
        );
        let two = [found(&["a"]), found(&["b"])];
        let err = names(&two, Some("mine:v1")).unwrap_err().to_string();
        assert!(err.contains("holds 2 images"), "{err}");
    }

    #[test]
    fn a_name_without_tag_takes_the_archives_tags() {
        let f = [
            found(&["latest"]),
            found(&["entry"]),
            found(&["busybox:1.36"]),
        ];
        assert_eq!(
            names(&f, Some("box")).unwrap(),
            [vec!["box:latest"], vec!["box:entry"], vec!["box:1.36"]]
        );
    }

    #[test]
    fn a_tag_alone_needs_a_name() {
        let err = names(&[found(&["latest"])], None).unwrap_err().to_string();
        assert!(err.contains("give a name"), "{err}");
        // An image without any name is stored by ID only (docker's <none>).
        assert_eq!(names(&[found(&[])], None).unwrap(), [Vec::<String>::new()]);
    }

    fn entry(name: &str, platform: Option<(&str, &str)>, n: u8) -> Descriptor {
        let digest = format!("sha256:{n:064}").parse::<oci_spec::image::Digest>();
        let mut d = Descriptor::new(manifest::OCI_MANIFEST.into(), 1, digest.unwrap());
        let names = [("org.opencontainers.image.ref.name".to_string(), name.into())];
        d.set_annotations(Some(names.into_iter().collect()));
        d.set_platform(platform.map(|(os, arch)| manifest::platform(os, arch, None)));
        d
    }

    fn picked(entries: &[Descriptor]) -> Result<Vec<String>> {
        let amd64 = manifest::platform("linux", "amd64", None);
        Ok(pick_entries(entries, &amd64)?
            .iter()
            .map(|d| d.digest().to_string()[70..].to_string())
            .collect())
    }

    #[test]
    fn index_entries_are_chosen_as_a_pull_chooses() {
        let entries = [
            entry("a", Some(("linux", "amd64")), 1),
            entry("a", Some(("windows", "amd64")), 2),
            entry("a", Some(("unknown", "unknown")), 3),
            entry("b", None, 4),
            entry("c", Some(("linux", "arm64")), 5),
            entry("c", Some(("linux", "amd64")), 6),
            // Nothing for this machine under this name: left out.
            entry("d", Some(("linux", "s390x")), 7),
        ];
        assert_eq!(picked(&entries).unwrap(), ["1", "4", "6"]);
        let err = picked(&entries[6..]).unwrap_err().to_string();
        assert!(err.contains("its platforms are linux/s390x"), "{err}");
        assert!(picked(&[]).unwrap().is_empty());
    }

    #[test]
    fn names_in_archives_are_cleaned_and_confined() {
        assert_eq!(clean("./a//b/../c"), "a/c");
        assert_eq!(clean("/../../x"), "x");
        assert!(safe("../x").is_none());
        assert!(safe("/etc/passwd").is_none());
        assert!(safe("blobs/sha256/ab").is_some());
        assert!(has_tag("a:1") && has_tag("h:5000/a:1") && !has_tag("h:5000/a"));
    }
}
