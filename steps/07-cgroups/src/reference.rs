//! Image names, with docker's defaults: `busybox` is
//! `docker.io/library/busybox:latest`, and `docker.io` is served by
//! `registry-1.docker.io`.

use std::fmt;

use anyhow::{bail, Result};

/// Where an image is (registry and repository) and which one (tag or digest).
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// As written in a name: `docker.io`, `127.0.0.1:5000`, `ghcr.io`.
    pub registry: String,
    /// `library/busybox`, `grafana/loki`.
    pub repository: String,
    /// A tag or a digest: a manifest is asked for by one or the other.
    pub version: Version,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Version {
    Tag(String),
    Digest(String),
}

// ANCHOR: parse
impl Reference {
    /// Parses NAME[:TAG][@DIGEST] the way docker does.
    pub fn parse(text: &str) -> Result<Reference> {
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (text, None),
        };
        // A colon after the last slash starts a tag; one before it is a port.
        let (name, tag) = match name.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (name, None),
        };
        // The first component is a registry only if it looks like a host:
        // it has a dot or a port, or is `localhost`. Else it is Docker Hub's.
        let (registry, path) = match name.split_once('/') {
            Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => {
                (host.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        // Docker Hub's official images live under library/.
        let repository = if registry == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };

        if !repository.split('/').all(is_path_component) {
            bail!(
                "{text:?} is not a valid image name: a name is lower-case letters, \
                 digits and separators (. _ -), like `busybox` or `127.0.0.1:5000/library/busybox:latest`"
            );
        }
        let version = match (tag, digest) {
            (_, Some(digest)) => Version::Digest(check_digest(digest)?.to_string()),
            (Some(tag), None) if is_tag(tag) => Version::Tag(tag.to_string()),
            (Some(tag), None) => bail!(
                "{tag:?} is not a valid tag: up to 128 letters, digits, `_`, `.` and `-`, \
                 not starting with `.` or `-`"
            ),
            (None, None) => Version::Tag("latest".to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            version,
        })
    }
}
// ANCHOR_END: parse

impl Reference {
    /// The host to connect to: Docker Hub's API is not at `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// The tag or digest, as it goes into a manifest URL.
    pub fn version_str(&self) -> &str {
        match &self.version {
            Version::Tag(tag) => tag,
            Version::Digest(digest) => digest,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.version {
            Version::Tag(tag) => write!(f, "{}/{}:{tag}", self.registry, self.repository),
            Version::Digest(d) => write!(f, "{}/{}@{d}", self.registry, self.repository),
        }
    }
}

// ANCHOR: check_digest
/// A digest names a file in our store, so it must be exactly `sha256:` and
/// 64 lower-case hex digits: anything else (`sha256:../../etc`) is refused
/// before it gets near a path.
pub fn check_digest(digest: &str) -> Result<&str> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        bail!("{digest:?} is not a digest: a digest is `sha256:` and 64 hex digits");
    };
    if algorithm != "sha256" {
        bail!("digest {digest:?} uses {algorithm:?}: this lesson verifies sha256 digests only");
    }
    let is_hex = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex.len() != 64 || !is_hex {
        bail!("{digest:?} is not a digest: a digest is `sha256:` and 64 lower-case hex digits");
    }
    Ok(digest)
}
// ANCHOR_END: check_digest

/// A repository path component: `[a-z0-9]+` joined by `.`, `_`, `__` or `-`s.
fn is_path_component(part: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Separators between alphanumerics: one `.`, one or two `_`, any `-`s.
    part.split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        .all(|sep| matches!(sep, "" | "." | "_" | "__") || sep.bytes().all(|b| b == b'-'))
        && part.bytes().all(|b| alnum(b) || b"._-".contains(&b))
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    !tag.is_empty()
        && tag.len() <= 128
        && word(tag.as_bytes()[0])
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (String, String, String) {
        let r = Reference::parse(text).unwrap();
        (
            r.registry.clone(),
            r.repository.clone(),
            r.version_str().to_string(),
        )
    }

    #[test]
    fn docker_hub_defaults() {
        let hub = |repo: &str, tag: &str| ("docker.io".into(), repo.into(), tag.into());
        assert_eq!(parse("redis"), hub("library/redis", "latest"));
        assert_eq!(parse("redis:7"), hub("library/redis", "7"));
        assert_eq!(parse("grafana/loki:3.0"), hub("grafana/loki", "3.0"));
        assert_eq!(
            parse("docker.io/library/redis"),
            hub("library/redis", "latest")
        );
        let r = Reference::parse("redis").unwrap();
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.to_string(), "docker.io/library/redis:latest");
    }

    #[test]
    fn registries_with_ports_and_digests() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let loc = |repo: &str, v: &str| ("127.0.0.1:5000".into(), repo.into(), v.into());
        assert_eq!(parse("127.0.0.1:5000/busybox"), loc("busybox", "latest"));
        assert_eq!(parse("127.0.0.1:5000/a/b:v1"), loc("a/b", "v1"));
        assert_eq!(parse(&format!("127.0.0.1:5000/a@{d}")), loc("a", &d));
        assert_eq!(parse("localhost/x").0, "localhost");
        assert_eq!(parse("ghcr.io/o/r").0, "ghcr.io");
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "Busybox",
            "a//b",
            "-a",
            "a:",
            "a:.x",
            "a/b/",
            "a/../b",
            "",
            "a@sha256:xyz",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn digests_are_checked_before_use() {
        let good = format!("sha256:{}", "0f".repeat(32));
        assert!(check_digest(&good).is_ok());
        for bad in [
            "sha256:../../etc/passwd".to_string(),
            "sha256".to_string(),
            format!("sha256:{}", "0F".repeat(32)),
            format!("sha512:{}", "0f".repeat(64)),
            format!("sha256:{}", "0f".repeat(31)),
        ] {
            assert!(check_digest(&bad).is_err(), "{bad:?} was accepted");
        }
    }
}
