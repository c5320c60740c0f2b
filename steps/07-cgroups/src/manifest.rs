//! What the registry's JSON says: an index (one manifest per platform), a
//! manifest (a config and layers), and the image config (how to run it).

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::reference::check_digest;
use crate::registry::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

// ANCHOR: types
/// A pointer to a blob or a manifest: its type, digest and size.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// An OCI index or a Docker manifest list: which manifest for which platform.
#[derive(Debug, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// An OCI or Docker v2 schema 2 image manifest: the same shape.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The parts of the image config that say how to run the image.
#[derive(Debug, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub config: RunConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    pub env: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
}
// ANCHOR_END: types

/// What a manifest request returned.
pub enum Fetched {
    Index(Index),
    Manifest(Manifest),
}

// ANCHOR: parse
/// Reads a manifest by its media type (the Content-Type header, or the
/// `mediaType` field when the server sends none), and checks every digest
/// in it: they become file names.
pub fn parse(media_type: &str, body: &[u8]) -> Result<Fetched> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        schema_version: Option<u32>,
        media_type: Option<String>,
    }
    let head: Head = serde_json::from_slice(body).context("the manifest is not valid JSON")?;
    // Registries send the type in Content-Type; a file server may not.
    let header = media_type.split(';').next().unwrap_or_default().trim();
    let known = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];
    let media_type = match head.media_type {
        _ if known.contains(&header) => header.to_string(),
        Some(inner) => inner,
        None => header.to_string(),
    };
    if head.schema_version == Some(1) || media_type.contains("v1+prettyjws") {
        bail!("the registry sent an old schema 1 manifest, which this lesson does not read");
    }
    let fetched = match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => Fetched::Index(
            serde_json::from_slice(body).context("the index is not one: it lists no manifests")?,
        ),
        OCI_MANIFEST | DOCKER_MANIFEST => Fetched::Manifest(
            serde_json::from_slice(body)
                .context("the manifest is not one: it needs a config and layers")?,
        ),
        other => bail!("the registry sent a {other:?}, which is not an image manifest"),
    };
    let descriptors = match &fetched {
        Fetched::Index(index) => index.manifests.iter().collect::<Vec<_>>(),
        Fetched::Manifest(m) => std::iter::once(&m.config).chain(&m.layers).collect(),
    };
    for descriptor in descriptors {
        check_digest(&descriptor.digest).context("the manifest names a blob by a bad digest")?;
    }
    Ok(fetched)
}
// ANCHOR_END: parse

// ANCHOR: platform
/// The platform we run: linux, and Go's name of our CPU, as registries use it.
pub fn host_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        other => (other, None),
    };
    Platform {
        os: "linux".into(),
        architecture: architecture.into(),
        variant: variant.map(String::from),
    }
}

/// Picks our platform's manifest from an index. Entries for `unknown/unknown`
/// are not images (BuildKit's attestations: SBOMs, provenance): skip them.
pub fn choose<'a>(index: &'a Index, want: &Platform) -> Result<&'a Descriptor> {
    let images = index.manifests.iter().filter(|d| match &d.platform {
        Some(p) => p.os != "unknown" && p.architecture != "unknown",
        None => true,
    });
    let matches = |p: &Platform| {
        p.os == want.os
            && p.architecture == want.architecture
            // arm64 images are often marked v8, often not at all.
            && (p.variant.is_none() || p.variant == want.variant)
    };
    if let Some(found) = images
        .clone()
        .find(|d| d.platform.as_ref().is_some_and(matches))
    {
        return Ok(found);
    }
    let mut have: Vec<String> = images
        .filter_map(|d| d.platform.as_ref())
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    have.dedup();
    bail!(
        "the image has no {}/{}: it has {}; pull an image built for this machine",
        want.os,
        want.architecture,
        if have.is_empty() {
            "no platforms".to_string()
        } else {
            have.join(", ")
        }
    )
}
// ANCHOR_END: platform

// ANCHOR: command
/// docker's rule: the command is Entrypoint + Cmd, and a command given on
/// the command line replaces Cmd (not Entrypoint).
pub fn command(config: &RunConfig, given: &[String]) -> Vec<String> {
    let mut argv = config.entrypoint.clone().unwrap_or_default();
    if given.is_empty() {
        argv.extend(config.cmd.clone().unwrap_or_default());
    } else {
        argv.extend(given.iter().cloned());
    }
    argv
}

/// The image's environment, with a PATH when the image sets none (as docker).
pub fn environment(config: &RunConfig) -> Vec<String> {
    let mut env = config.env.clone().unwrap_or_default();
    if !env.iter().any(|var| var.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    env
}
// ANCHOR_END: command

#[cfg(test)]
mod tests {
    use super::*;

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> Index {
        let manifests = platforms
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| Descriptor {
                media_type: OCI_MANIFEST.into(),
                digest: format!("sha256:{i:064}"),
                size: 1,
                platform: Some(Platform {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    variant: variant.map(String::from),
                }),
            })
            .collect();
        Index { manifests }
    }

    #[test]
    fn picks_our_platform_and_skips_attestations() {
        let amd64 = Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        };
        let i = index(&[
            ("unknown", "unknown", None),
            ("linux", "arm64", Some("v8")),
            ("linux", "amd64", None),
        ]);
        assert_eq!(
            choose(&i, &amd64).unwrap().digest,
            format!("sha256:{:064}", 2)
        );
        let i = index(&[
            ("linux", "arm64", Some("v8")),
            ("unknown", "unknown", None),
            ("linux", "s390x", None),
        ]);
        let err = choose(&i, &amd64).unwrap_err().to_string();
        assert_eq!(
            err,
            "the image has no linux/amd64: it has linux/arm64/v8, linux/s390x; \
             pull an image built for this machine"
        );
    }

    #[test]
    fn entrypoint_and_cmd() {
        let config = RunConfig {
            entrypoint: Some(vec!["echo".into(), "entry".into()]),
            cmd: Some(vec!["default".into()]),
            ..RunConfig::default()
        };
        assert_eq!(command(&config, &[]), ["echo", "entry", "default"]);
        assert_eq!(
            command(&config, &["given".into()]),
            ["echo", "entry", "given"]
        );
        let config = RunConfig {
            cmd: Some(vec!["sh".into()]),
            ..RunConfig::default()
        };
        assert_eq!(command(&config, &["ls".into()]), ["ls"]);
        assert!(environment(&config)[0].starts_with("PATH="));
    }

    #[test]
    fn bad_manifests() {
        assert!(parse(OCI_MANIFEST, b"{\"schemaVersion\": 2,").is_err());
        assert!(parse(OCI_MANIFEST, br#"{"schemaVersion":2,"layers":[]}"#).is_err());
        let bad_digest =
            br#"{"schemaVersion":2,"config":{"digest":"sha256:../x","size":1},"layers":[]}"#;
        assert!(parse(OCI_MANIFEST, bad_digest).is_err());
        assert!(parse("", br#"{"schemaVersion":1,"fsLayers":[]}"#).is_err());
    }
}
