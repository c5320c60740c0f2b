//! What a registry's manifests say: an index (one manifest per platform) or
//! an image manifest (a config and layers), in OCI's or Docker's media
//! types, and which of an index's manifests this machine runs.

use anyhow::{bail, Context, Result};
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

/// A pointer to a blob or a manifest. The digest is parsed (validated)
/// before anything else sees it: it becomes a file name and a URL path.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

pub enum Parsed {
    Index(Index),
    Manifest(Manifest),
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
        OCI_INDEX | DOCKER_LIST => Ok(Parsed::Index(
            serde_json::from_slice(body).context("reading the index")?,
        )),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(Parsed::Manifest(
            serde_json::from_slice(body).context("reading the manifest")?,
        )),
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
    Platform {
        os: "linux".into(),
        architecture: architecture.into(),
        variant: variant.map(String::from),
    }
}

// ANCHOR: choose
/// Picks `want`'s manifest from an index: the same os and architecture, the
/// same variant when the entry names one (arm64 is often marked v8, often
/// not at all). `unknown/unknown` entries are BuildKit's attestations
/// (SBOMs, provenance), not images: skipped, and not listed in the error.
pub fn choose<'a>(index: &'a Index, want: &Platform) -> Result<&'a Descriptor> {
    let images: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .map_or(true, |p| p.os != "unknown" && p.architecture != "unknown")
        })
        .collect();
    let same = |p: &Platform| p.os == want.os && p.architecture == want.architecture;
    let exact = images.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| same(p) && p.variant == want.variant)
    });
    let loose = || {
        images.iter().find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| same(p) && (p.variant.is_none() || want.variant.is_none()))
        })
    };
    if let Some(found) = exact.or_else(loose) {
        return Ok(found);
    }
    let mut have: Vec<String> = images
        .iter()
        .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
        .collect();
    have.dedup();
    let have = if have.is_empty() {
        "none".to_string()
    } else {
        have.join(", ")
    };
    bail!("the image has no manifest for {want}: its platforms are {have}; pull an image built for this machine")
}
// ANCHOR_END: choose

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(String::from),
        }
    }

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> Index {
        let manifests = platforms
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| Descriptor {
                media_type: OCI_MANIFEST.into(),
                digest: Digest::from_hex(&format!("{i:064}")).unwrap(),
                size: 1,
                platform: Some(platform(os, arch, *variant)),
            })
            .collect();
        Index { manifests }
    }

    fn chosen(i: &Index, want: &Platform) -> String {
        choose(i, want).unwrap().digest.hex()[63..].to_string()
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
        assert_eq!(host.os, "linux");
        assert!(!host.architecture.is_empty());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(host.to_string(), "linux/amd64");
        }
    }

    #[test]
    fn media_types_by_header_or_body() {
        let d = format!("sha256:{}", "a".repeat(64));
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{d}","size":1}},"layers":[{{"digest":"{d}","size":2}}]}}"#
        );
        assert!(matches!(
            parse(DOCKER_MANIFEST, manifest.as_bytes()).unwrap(),
            Parsed::Manifest(m) if m.layers.len() == 1
        ));
        // No useful header: the body's shape decides.
        assert!(matches!(
            parse("application/octet-stream", manifest.as_bytes()).unwrap(),
            Parsed::Manifest(_)
        ));
        let index = format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{d}","size":1}}]}}"#);
        assert!(matches!(
            parse("", index.as_bytes()).unwrap(),
            Parsed::Index(i) if i.manifests.len() == 1
        ));
        let typed = format!(r#"{{"mediaType":"{DOCKER_LIST}","manifests":[]}}"#);
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
        let escape =
            r#"{"schemaVersion":2,"config":{"digest":"sha256:../../x","size":1},"layers":[]}"#;
        assert!(err(OCI_MANIFEST, escape).contains("invalid digest"));
        assert!(err(OCI_MANIFEST, r#"{"schemaVersion":2,"layers":[]}"#).contains("config"));
        assert!(err("", r#"{"mediaType":"text/html"}"#).contains("not an image manifest"));
    }
}
