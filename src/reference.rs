//! Image references in docker's grammar (distribution/reference):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]            host: a DNS name, IPv4, or [IPv6]
//! path       := component ( "/" component )*
//! component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! ```
//!
//! and docker's normalisation: a first component that has no `.` or `:`, is
//! not `localhost` and is all lower case is part of the path, not a domain;
//! such names live on `docker.io`, and one-component names there are under
//! `library/`. So `redis` is `docker.io/library/redis:latest`.

use std::fmt;

use anyhow::{bail, Result};

use crate::digest::Digest;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME: usize = 255;
const MAX_TAG: usize = 128;

/// A normalised reference: a domain, a path, and a tag or a digest (or both).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises what a user typed: `redis`, `redis:7`,
    /// `localhost:5000/team/app@sha256:...`. Without tag or digest, the tag is
    /// `latest`.
    pub fn parse(text: &str) -> Result<Reference> {
        let fail = |why: &str| -> Result<Reference> { bail!("invalid reference {text:?}: {why}") };
        if text.is_empty() {
            return fail("it is empty");
        }
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return fail("a 64-digit hex string is an image ID, not a name");
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => match Digest::parse(digest) {
                Ok(d) => (rest, Some(d)),
                Err(err) => return fail(&format!("{err:#}")),
            },
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if let Err(why) = check_tag(tag) {
                return fail(&why);
            }
        }
        if name.is_empty() {
            return fail("the name is empty");
        }
        let (domain, path) = split_domain(name);
        // Measured on the full name, as docker does: a short name that grows
        // past the limit with `docker.io/library/` could not be printed and
        // read back (found by tests/fuzz.rs).
        if domain.len() + 1 + path.len() > MAX_NAME {
            return fail(&format!("the name is longer than {MAX_NAME} characters"));
        }
        if let Err(why) = check_domain(&domain) {
            return fail(&why);
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return fail("repository name must be lowercase");
        }
        if let Err(why) = check_path(&path) {
            return fail(&why);
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `domain/path`, the repository's full name.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form docker prints: `redis:latest`, `team/app:1`,
    /// `localhost:5000/app:1`.
    pub fn familiar(&self) -> String {
        let name = if self.domain == DEFAULT_DOMAIN {
            // docker's familiarizeName: `library/` goes only before a single
            // component (`library/a/b` shortened would read as `a/b`, another
            // repository: found by tests/fuzz.rs).
            let short = match self.path.strip_prefix(OFFICIAL_PREFIX) {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            };
            // `docker.io/a.b/c` shortened would read as the host a.b's `c`.
            match split_domain(&short).0 == DEFAULT_DOMAIN {
                true => short,
                false => self.repository(),
            }
        } else {
            self.repository()
        };
        self.with_suffix(name)
    }

    fn with_suffix(&self, mut name: String) -> String {
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(&digest.to_string());
        }
        name
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_suffix(self.repository()))
    }
}

/// docker's splitDockerDomain.
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let valid = tag.len() <= MAX_TAG
        && chars.next().is_some_and(word)
        && chars.all(|c| word(c) || c == '.' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1 to {MAX_TAG} letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad = || Err(format!("{domain:?} is not a valid registry host[:port]"));
    // An IPv6 address in brackets, or a name or IPv4 address.
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return bad();
        };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return bad();
        }
        match after.strip_prefix(':') {
            Some(port) => ("", Some(port)),
            None if after.is_empty() => ("", None),
            None => return bad(),
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return bad();
        }
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !domain.starts_with('[') && !host.split('.').all(label_ok) {
        return bad();
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        if !component_ok(component) {
            return Err(format!(
                "path component {component:?} must be lower-case letters and digits, \
                 separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn component_ok(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator: ".", "_", "__" or a run of "-".
        let start = i;
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= bytes.len() || !alnum(bytes[i]) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(text: &str) -> String {
        Reference::parse(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e:#}"))
            .to_string()
    }

    #[test]
    fn normalises_like_docker() {
        let digest = format!("sha256:{HEX}");
        let cases = [
            ("redis", "docker.io/library/redis:latest"),
            ("redis:7.2", "docker.io/library/redis:7.2"),
            ("library/redis", "docker.io/library/redis:latest"),
            ("docker.io/redis", "docker.io/library/redis:latest"),
            ("index.docker.io/redis", "docker.io/library/redis:latest"),
            ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
            ("a/b/c", "docker.io/a/b/c:latest"),
            ("quay.io/coreos/etcd", "quay.io/coreos/etcd:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:v1", "localhost:5000/app:v1"),
            ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app:latest"),
            ("[::1]:5000/app:1", "[::1]:5000/app:1"),
            ("Registry.Example/app", "Registry.Example/app:latest"),
            ("my-app_1.x__y", "docker.io/library/my-app_1.x__y:latest"),
            ("a--b", "docker.io/library/a--b:latest"),
            ("localhost:5000", "docker.io/library/localhost:5000"),
            ("tag:Ok-1.2_3", "docker.io/library/tag:Ok-1.2_3"),
        ];
        for (input, want) in cases {
            assert_eq!(full(input), want, "{input}");
        }
        assert_eq!(
            full(&format!("redis@{digest}")),
            format!("docker.io/library/redis@{digest}")
        );
        assert_eq!(
            full(&format!("host:5000/app:1@{digest}")),
            format!("host:5000/app:1@{digest}")
        );
    }

    #[test]
    fn parts() {
        let r = Reference::parse("localhost:5000/team/app:v1").unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.path, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest, None);
        assert_eq!(r.repository(), "localhost:5000/team/app");
    }

    #[test]
    fn familiar_names_drop_the_defaults() {
        let cases = [
            ("redis", "redis:latest"),
            ("docker.io/library/redis:7", "redis:7"),
            ("bitnami/redis", "bitnami/redis:latest"),
            ("localhost:5000/app:1", "localhost:5000/app:1"),
        ];
        for (input, want) in cases {
            assert_eq!(Reference::parse(input).unwrap().familiar(), want);
        }
    }

    #[test]
    fn refuses_bad_references_saying_why() {
        let cases = [
            ("", "it is empty"),
            ("Redis", "must be lowercase"),
            ("docker.io/Library/redis", "must be lowercase"),
            ("redis:", "tag \"\""),
            ("redis:-x", "tag \"-x\""),
            ("redis:.x", "tag \".x\""),
            ("redis:a/b", "not a valid registry"),
            ("tag_:x", "path component \"tag_\""),
            ("redis@sha256:abc", "invalid digest"),
            ("redis@md5:abc", "unsupported digest algorithm"),
            ("-redis", "path component \"-redis\""),
            ("redis-", "path component"),
            ("re..dis", "path component"),
            ("re___dis", "path component"),
            ("a//b", "path component \"\""),
            ("redis/", "path component \"\""),
            ("/redis", "path component"),
            ("host:port/app", "not a valid registry"),
            ("-bad.host/app", "not a valid registry"),
            ("[::1/app", "not a valid registry"),
            ("a b", "path component"),
            (HEX, "image ID"),
            (":tag", "the name is empty"),
        ];
        for (input, want) in cases {
            let err = format!("{:#}", Reference::parse(input).unwrap_err());
            assert!(err.contains(want), "{input:?}: {err}");
            assert!(err.starts_with("invalid reference"), "{input:?}: {err}");
        }
        let long = "a".repeat(256);
        assert!(Reference::parse(&long).is_err());
        let long_tag = format!("redis:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
        let max_tag = format!("redis:{}", "t".repeat(128));
        assert!(Reference::parse(&max_tag).is_ok());
    }

    /// Cases tests/fuzz.rs found: what is printed must read back the same.
    #[test]
    fn what_is_printed_reads_back() {
        let deep = Reference::parse("library/a/b").unwrap();
        assert_eq!(deep.familiar(), "library/a/b:latest");
        assert_eq!(Reference::parse(&deep.familiar()).unwrap(), deep);
        assert_eq!(
            Reference::parse("redis").unwrap().familiar(),
            "redis:latest"
        );
        let dotted = Reference::parse("docker.io/a.b/c").unwrap();
        assert_eq!(dotted.familiar(), "docker.io/a.b/c:latest");
        assert_eq!(Reference::parse(&dotted.familiar()).unwrap(), dotted);
        // 237 + "docker.io/library/" is 255: the limit, on the full name.
        assert!(Reference::parse(&"a".repeat(237)).is_ok());
        let long = Reference::parse(&"a".repeat(238)).unwrap_err().to_string();
        assert!(long.contains("longer than 255"), "{long}");
    }
}
