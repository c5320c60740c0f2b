//! What the registry's JSON says: an index (a manifest per platform), a
//! manifest (a config and layers), and the image config (how to run it).

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::reference::check_digest;

/// What a manifest request returns, told apart by its fields: an index
/// (OCI's, or Docker's manifest list), or an image manifest (OCI's, or
/// Docker's v2: the same shape).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Fetched {
    Index { manifests: Vec<Descriptor> },
    Manifest(Manifest),
}

#[derive(Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A pointer to a blob or a manifest: its type, digest and size.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<Platform>,
}

#[derive(Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// The image config, whose `config` says how to run the image.
#[derive(Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub config: RunConfig,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    pub env: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
}

// ANCHOR: parse
/// Reads a manifest, and checks every digest in it before any is used.
pub fn parse(body: &[u8]) -> Result<Fetched> {
    let json: serde_json::Value =
        serde_json::from_slice(body).context("the manifest is not valid JSON")?;
    let fetched = serde_json::from_value(json)
        .context("the manifest is neither an index nor an image manifest (schema 1 is not read)")?;
    let descriptors: Vec<&Descriptor> = match &fetched {
        Fetched::Index { manifests } => manifests.iter().collect(),
        Fetched::Manifest(m) => std::iter::once(&m.config).chain(&m.layers).collect(),
    };
    for descriptor in descriptors {
        check_digest(&descriptor.digest).context("the manifest names a blob by a bad digest")?;
    }
    Ok(fetched)
}
// ANCHOR_END: parse

// ANCHOR: platform
/// Picks our platform's manifest from an index, and names the platform:
/// linux, and Go's name of our CPU, as registries use it.
pub fn choose(manifests: &[Descriptor]) -> Result<(&Descriptor, String)> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let platforms = manifests.iter().filter_map(|d| {
        let p = d.platform.as_ref()?;
        let variant = p.variant.as_ref().map(|v| format!("/{v}"));
        Some((
            d,
            format!("{}/{}{}", p.os, p.architecture, variant.unwrap_or_default()),
        ))
    });
    // arm64's baseline variant, v8, often goes unsaid.
    let ours = [format!("linux/{arch}"), format!("linux/{arch}/v8")];
    if let Some(found) = platforms.clone().find(|(_, p)| ours.contains(p)) {
        return Ok(found);
    }
    // Entries for `unknown/unknown` are not images (BuildKit's attestations:
    // SBOMs, provenance): a client that takes the first entry may get one.
    let have: Vec<_> = platforms
        .map(|(_, p)| p)
        .filter(|p| p != "unknown/unknown")
        .collect();
    bail!(
        "the image has no linux/{arch}: it has {}; pull an image built for this machine",
        have.join(", ")
    )
}
// ANCHOR_END: platform

/// docker's rule: the command is Entrypoint + Cmd, and a command given on
/// the command line replaces Cmd (not Entrypoint).
pub fn command(config: &RunConfig, given: &[String]) -> Vec<String> {
    let mut argv = config.entrypoint.clone().unwrap_or_default();
    match given.is_empty() {
        true => argv.extend(config.cmd.clone().unwrap_or_default()),
        false => argv.extend_from_slice(given),
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
