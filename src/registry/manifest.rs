//! What a registry's manifests say: an index (one manifest per platform) or
//! an image manifest (a config and layers), in OCI's or Docker's media
//! types, and which of an index's manifests this machine runs.
//!
//! The types are oci-spec's (`oci_spec::image`), shared with `import` and
//! the image config: Docker's schema 2 manifest and manifest list have the
//! same JSON shape as OCI's manifest and index, so the same types read both;
//! the media type says which of the two a body is.

use anyhow::{bail, Context, Result};
use oci_spec::image::{Arch, Os};
pub use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, Platform};
use serde::Deserialize;

use crate::digest::Digest;

// ANCHOR: media_types
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The Accept header of every manifest request: leave a list type out and a
/// registry answers a multi-arch image with 404 (OCI) or down-converts it to
/// schema 1 (Docker's), as Debian's docker-registry does.
pub fn accept() -> String {
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ")
}
// ANCHOR_END: media_types

/// A registry refuses to store a manifest over 4 MiB; we refuse to read one.
pub const MAX_MANIFEST: u64 = 4 << 20;

/// Boxed: oci-spec's types are hundreds of bytes each on the stack.
pub enum Parsed {
    Index(Box<ImageIndex>),
    Manifest(Box<ImageManifest>),
}

/// Reads a manifest, an index or a layout's index.json into oci-spec's
/// type, after checking every descriptor's digest with ours (sha256 only,
/// never a path), so that a bad one is refused in our words before any
/// other field is looked at.
pub fn read<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let value: serde_json::Value = serde_json::from_slice(bytes)?;
    let lists = ["layers", "manifests"]
        .iter()
        .filter_map(|k| value.get(k)?.as_array())
        .flatten();
    for descriptor in value.get("config").into_iter().chain(lists) {
        if let Some(text) = descriptor.get("digest").and_then(|d| d.as_str()) {
            Digest::parse(text)?;
        }
    }
    Ok(T::deserialize(value)?)
}

/// A descriptor's digest, as ours: sha256 only (we could not verify
/// another), validated before anything uses it as a file name or in a URL.
pub fn digest(descriptor: &Descriptor) -> Result<Digest> {
    Digest::parse(descriptor.digest().as_ref())
}

// ANCHOR: parse
/// Reads a manifest by its media type: the Content-Type the registry sent,
/// or the body's own `mediaType` when the header names nothing we know.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Parsed> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        schema_version: Option<u32>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    // The client reads at most this much; a manifest from anywhere else too.
    if body.len() as u64 > MAX_MANIFEST {
        bail!(
            "the manifest is larger than {} MiB ({} bytes): refused",
            MAX_MANIFEST >> 20,
            body.len()
        );
    }
    let head: Head = serde_json::from_slice(body).context("the manifest is not valid JSON")?;
    if head.schema_version == Some(1) {
        bail!("the registry sent a schema 1 manifest, which is deprecated and not read by ctr");
    }
    let header = content_type.split(';').next().unwrap_or_default().trim();
    let known = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];
    let media_type = if known.contains(&header) {
        header.to_string()
    } else if let Some(inner) = head.media_type {
        inner
    } else if head.manifests.is_some() {
        // OCI lets an index omit mediaType; its shape says what it is.
        OCI_INDEX.to_string()
    } else {
        OCI_MANIFEST.to_string()
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => Ok(Parsed::Index(Box::new(
            read(body).context("reading the index")?,
        ))),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(Parsed::Manifest(Box::new(
            read(body).context("reading the manifest")?,
        ))),
        other => bail!("the registry sent a {other:?}, which is not an image manifest"),
    }
}
// ANCHOR_END: parse

/// The platform this machine runs, as registries name it (Go's GOARCH).
pub fn host_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        other => (other, None),
    };
    platform("linux", architecture, variant)
}

/// A platform from its three names.
pub fn platform(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
    let mut platform = Platform::default();
    platform.set_os(Os::from(os));
    platform.set_architecture(Arch::from(architecture));
    platform.set_variant(variant.map(String::from));
    platform
}

/// `os/architecture[/variant]`, as docker writes a platform.
pub fn platform_name(p: &Platform) -> String {
    match p.variant() {
        Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
        None => format!("{}/{}", p.os(), p.architecture()),
    }
}

// ANCHOR: choose
/// Picks `want`'s manifest from an index: the same os and architecture, the
/// same variant when the entry names one (arm64 is often marked v8, often
/// not at all). `unknown/unknown` entries are BuildKit's attestations
/// (SBOMs, provenance), not images: skipped, and not listed in the error.
/// Pull and import both choose with it.
pub fn choose<'a>(manifests: &'a [Descriptor], want: &Platform) -> Result<&'a Descriptor> {
    let attestation =
        |p: &Platform| p.os().to_string() == "unknown" || p.architecture().to_string() == "unknown";
    let images: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| !d.platform().as_ref().is_some_and(attestation))
        .collect();
    let same = |p: &Platform| p.os() == want.os() && p.architecture() == want.architecture();
    let exact = images.iter().find(|d| {
        d.platform()
            .as_ref()
            .is_some_and(|p| same(p) && p.variant() == want.variant())
    });
    let loose = || {
        images.iter().find(|d| {
            d.platform()
                .as_ref()
                .is_some_and(|p| same(p) && (p.variant().is_none() || want.variant().is_none()))
        })
    };
    if let Some(found) = exact.or_else(loose) {
        return Ok(found);
    }
    let mut have: Vec<String> = images
        .iter()
        .filter_map(|d| d.platform().as_ref().map(platform_name))
        .collect();
    have.dedup();
    let have = if have.is_empty() {
        "none".to_string()
    } else {
        have.join(", ")
    };
    bail!(
        "the image has no manifest for {}: its platforms are {have}; \
         pull an image built for this machine",
        platform_name(want)
    )
}
// ANCHOR_END: choose

#[cfg(test)]
mod tests {
    use super::*;

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> Vec<Descriptor> {
        platforms
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let digest = format!("sha256:{i:064}").parse::<oci_spec::image::Digest>();
                let mut d = Descriptor::new(OCI_MANIFEST.into(), 1, digest.unwrap());
                d.set_platform(Some(platform(os, arch, *variant)));
                d
            })
            .collect()
    }

    fn chosen(i: &[Descriptor], want: &Platform) -> String {
        digest(choose(i, want).unwrap()).unwrap().hex()[63..].to_string()
    }

    #[test]
    fn picks_the_platform_and_skips_attestations() {
        let amd64 = platform("linux", "amd64", None);
        let i = index(&[
            ("unknown", "unknown", None),
            ("linux", "arm64", Some("v8")),
            ("linux", "amd64", None),
        ]);
        assert_eq!(chosen(&i, &amd64), "2");
        let arm64 = platform("linux", "arm64", Some("v8"));
        assert_eq!(chosen(&i, &arm64), "1");
        // arm64 without a variant is arm64/v8.
        let i = index(&[("linux", "arm", Some("v7")), ("linux", "arm64", None)]);
        assert_eq!(chosen(&i, &arm64), "1");
        // An exact variant wins over one that names none.
        let armv7 = platform("linux", "arm", Some("v7"));
        let i = index(&[
            ("linux", "arm", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
        ]);
        assert_eq!(chosen(&i, &armv7), "2");
        // Another os is not ours.
        let i = index(&[("windows", "amd64", None)]);
        assert!(choose(&i, &amd64).is_err());
    }

    #[test]
    fn no_platform_lists_the_platforms() {
        let amd64 = platform("linux", "amd64", None);
        let i = index(&[
            ("linux", "arm64", Some("v8")),
            ("unknown", "unknown", None),
            ("linux", "s390x", None),
        ]);
        assert_eq!(
            choose(&i, &amd64).unwrap_err().to_string(),
            "the image has no manifest for linux/amd64: its platforms are linux/arm64/v8, \
             linux/s390x; pull an image built for this machine"
        );
        let only_attestation = index(&[("unknown", "unknown", None)]);
        let err = choose(&only_attestation, &amd64).unwrap_err().to_string();
        assert!(err.contains("its platforms are none"), "{err}");
    }

    #[test]
    fn the_host_is_linux() {
        let host = host_platform();
        assert_eq!(host.os().to_string(), "linux");
        assert!(!host.architecture().to_string().is_empty());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(platform_name(&host), "linux/amd64");
        }
    }

    #[test]
    fn media_types_by_header_or_body() {
        let d = format!("sha256:{}", "a".repeat(64));
        // Docker's schema 2, as a registry serves it: oci-spec's types read it.
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{d}","size":1}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{d}","size":2}}]}}"#
        );
        assert!(matches!(
            parse(DOCKER_MANIFEST, manifest.as_bytes()).unwrap(),
            Parsed::Manifest(m) if m.layers().len() == 1 && m.layers()[0].size() == 2
        ));
        // No useful header: the body's mediaType decides.
        assert!(matches!(
            parse("application/octet-stream", manifest.as_bytes()).unwrap(),
            Parsed::Manifest(_)
        ));
        // No mediaType at all (OCI allows it): the shape decides.
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1}}]}}"#
        );
        assert!(matches!(
            parse("", index.as_bytes()).unwrap(),
            Parsed::Index(i) if i.manifests().len() == 1
        ));
        let typed = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[]}}"#);
        assert!(matches!(
            parse("text/plain", typed.as_bytes()).unwrap(),
            Parsed::Index(_)
        ));
        assert!(accept().contains(OCI_INDEX) && accept().matches(", ").count() == 3);
    }

    #[test]
    fn bad_manifests_are_refused() {
        let err = |ct: &str, body: &str| format!("{:#}", parse(ct, body.as_bytes()).err().unwrap());
        assert!(err(OCI_MANIFEST, "{\"schemaVersion\": 2,").contains("not valid JSON"));
        assert!(err("", r#"{"schemaVersion":1,"fsLayers":[]}"#).contains("schema 1"));
        let with_config = |digest: &str| {
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":1}},"layers":[]}}"#
            )
        };
        let escape = err(OCI_MANIFEST, &with_config("sha256:../../x"));
        assert!(
            escape.contains("reading the manifest: invalid digest"),
            "{escape}"
        );
        // A valid digest of another algorithm: we could not verify it.
        let sha512 = err(
            OCI_MANIFEST,
            &with_config(&format!("sha512:{}", "a".repeat(128))),
        );
        assert!(sha512.contains("unsupported digest algorithm"), "{sha512}");
        assert!(err(OCI_MANIFEST, r#"{"schemaVersion":2,"layers":[]}"#).contains("config"));
        assert!(err("", r#"{"mediaType":"text/html"}"#).contains("not an image manifest"));
    }
}
