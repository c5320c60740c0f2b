//! Image names, with docker's defaults: `busybox` is
//! `docker.io/library/busybox:latest`.

use anyhow::{bail, Result};

/// Where an image is (registry and repository) and which one (tag or digest).
pub struct Reference {
    pub registry: String,   // `docker.io`, `127.0.0.1:5000`, `ghcr.io`
    pub repository: String, // `library/busybox`, `grafana/loki`
    pub version: String,    // a tag (`latest`) or a digest (`sha256:...`)
    pub name: String,       // all of it: `docker.io/library/busybox:latest`
}

// ANCHOR: parse
impl Reference {
    /// Parses NAME[:TAG][@DIGEST] the way docker does.
    pub fn parse(text: &str) -> Result<Reference> {
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(check_digest(digest)?)),
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
            Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => (host, rest),
            _ => ("docker.io", name),
        };
        // Docker Hub's official images live under library/.
        let repository = match registry == "docker.io" && !path.contains('/') {
            true => format!("library/{path}"),
            false => path.to_string(),
        };
        // Both become paths in our store: no `..`, no empty component. A
        // component is `[a-z0-9]`s joined by `.`, `_` or `-`; a tag is
        // `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let inner = |c: char| alnum(c) || "._-".contains(c);
        let component =
            |p: &str| p.starts_with(alnum) && p.ends_with(alnum) && p.chars().all(inner);
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let tag_char = |c: char| word(c) || ".-".contains(c);
        let is_tag = |t: &str| t.len() <= 128 && t.starts_with(word) && t.chars().all(tag_char);
        let host = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
        let host_ok = !registry.starts_with('.') && registry.chars().all(host);
        if !host_ok || !repository.split('/').all(component) || !tag.map_or(true, is_tag) {
            bail!(
                "{text:?} is not a valid image name: a name is lower-case letters, digits and \
                 separators (. _ -), a tag up to 128 letters, digits, `_`, `.` and `-` after the \
                 first; like `busybox` or `127.0.0.1:5000/library/busybox:latest`"
            );
        }
        let (version, at) = match (tag, digest) {
            (_, Some(digest)) => (digest, '@'),
            (tag, None) => (tag.unwrap_or("latest"), ':'),
        };
        Ok(Reference {
            name: format!("{registry}/{repository}{at}{version}"),
            registry: registry.to_string(),
            repository,
            version: version.to_string(),
        })
    }
}
// ANCHOR_END: parse

/// A digest names a file in our store, so it must be exactly `sha256:` and
/// 64 lower-case hex digits: anything else (`sha256:../../etc`) is refused
/// before it gets near a path.
pub fn check_digest(digest: &str) -> Result<&str> {
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        bail!("{digest:?} is not a digest: a digest is `sha256:` and 64 lower-case hex digits");
    }
    Ok(digest)
}
