//! Where a reference's registry is, and how to speak to it: docker's rules,
//! as pure functions of the reference and two settings from the environment.
//!
//! - `docker.io` is served by `registry-1.docker.io`;
//! - localhost, 127.0.0.0/8 and ::1 over plain HTTP, anything else over HTTPS
//!   unless listed in `CTR_INSECURE_REGISTRIES` (dockerd's insecure-registries);
//! - `CTR_REGISTRY_MIRROR` sends docker.io pulls to a mirror (dockerd's
//!   registry-mirrors), which serves the same paths (`/v2/library/busybox/...`).

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Result};

use crate::reference::{Reference, DEFAULT_DOMAIN};

/// The host that serves docker.io's API.
pub const DOCKER_HUB: &str = "registry-1.docker.io";

/// What the environment says about registries.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// host[:port] spoken to over plain HTTP though not on this machine.
    pub insecure: Vec<String>,
    /// A URL that serves docker.io's images.
    pub mirror: Option<String>,
}

impl Settings {
    pub fn from_env() -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Settings {
            insecure: var("CTR_INSECURE_REGISTRIES")
                .map(|v| parse_list(&v))
                .unwrap_or_default(),
            mirror: var("CTR_REGISTRY_MIRROR").map(|v| v.trim().to_string()),
        }
    }
}

/// `a:5000, b ,,c` into [a:5000, b, c].
pub fn parse_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Where one repository's API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]` and any path prefix (a mirror's), without `/`
    /// at the end: the API is at `{base}/v2/`.
    pub base: String,
    /// host[:port] of `base`: the only host that is sent our credentials,
    /// and the key of the login in docker's config.json.
    pub host: String,
    /// The repository's path there: `library/busybox`.
    pub repository: String,
    /// Whether this is CTR_REGISTRY_MIRROR's, for the error when it fails.
    pub mirror: bool,
}

impl Endpoint {
    /// `http(s)://host/v2/REPO/WHAT`.
    pub fn url(&self, what: &str) -> String {
        format!("{}/v2/{}/{what}", self.base, self.repository)
    }
}

// ANCHOR: endpoint
pub fn endpoint(reference: &Reference, settings: &Settings) -> Result<Endpoint> {
    let repository = reference.path.clone();
    if reference.domain == DEFAULT_DOMAIN {
        if let Some(mirror) = &settings.mirror {
            let base = mirror.trim_end_matches('/').to_string();
            let Some((scheme, rest)) = base.split_once("://") else {
                bail!("CTR_REGISTRY_MIRROR={mirror:?} is not a URL: give one as http://HOST:PORT or https://HOST");
            };
            let host = rest.split('/').next().unwrap_or_default().to_string();
            if !matches!(scheme, "http" | "https") || host.is_empty() {
                bail!("CTR_REGISTRY_MIRROR={mirror:?} is not a URL: give one as http://HOST:PORT or https://HOST");
            }
            return Ok(Endpoint {
                base,
                host,
                repository,
                mirror: true,
            });
        }
        return Ok(Endpoint {
            base: format!("https://{DOCKER_HUB}"),
            host: DOCKER_HUB.to_string(),
            repository,
            mirror: false,
        });
    }
    let host = reference.domain.clone();
    let plain = is_local(&host) || is_listed(&host, &settings.insecure);
    let scheme = if plain { "http" } else { "https" };
    Ok(Endpoint {
        base: format!("{scheme}://{host}"),
        host,
        repository,
        mirror: false,
    })
}
// ANCHOR_END: endpoint

/// host[:port] without the port, and without an IPv6 address's brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    }
}

/// localhost, 127.0.0.0/8 and ::1, with or without a port: docker speaks
/// plain HTTP to them.
pub fn is_local(host: &str) -> bool {
    let name = host_name(host);
    name == "localhost"
        || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || name.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// An entry `host:port` names that registry; an entry `host` names it on
/// any port.
fn is_listed(host: &str, list: &[String]) -> bool {
    list.iter()
        .any(|entry| entry == host || (!entry.contains(':') && entry == host_name(host)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, settings: &Settings) -> Endpoint {
        endpoint(&Reference::parse(name).unwrap(), settings).unwrap()
    }

    #[test]
    fn docker_hub_and_others() {
        let none = Settings::default();
        let e = at("redis", &none);
        assert_eq!(e.base, "https://registry-1.docker.io");
        assert_eq!(e.repository, "library/redis");
        assert_eq!(
            e.url("manifests/latest"),
            "https://registry-1.docker.io/v2/library/redis/manifests/latest"
        );
        assert!(!e.mirror && e.base.starts_with("https://"));
        assert_eq!(at("quay.io/a/b", &none).base, "https://quay.io");
        assert_eq!(at("localhost:5000/a", &none).base, "http://localhost:5000");
        assert_eq!(at("127.0.0.1:5000/a", &none).base, "http://127.0.0.1:5000");
        assert_eq!(at("127.9.9.9/a", &none).base, "http://127.9.9.9");
        assert_eq!(at("[::1]:5000/a", &none).base, "http://[::1]:5000");
        assert_eq!(
            at("192.0.2.10:5000/a", &none).base,
            "https://192.0.2.10:5000"
        );
        assert_eq!(
            at("localhost.evil.com/a", &none).base,
            "https://localhost.evil.com"
        );
    }

    #[test]
    fn insecure_registries_are_listed_by_host_port() {
        let s = Settings {
            insecure: parse_list(" 192.0.2.10:5000 ,, reg.lan "),
            mirror: None,
        };
        assert_eq!(s.insecure, ["192.0.2.10:5000", "reg.lan"]);
        assert_eq!(at("192.0.2.10:5000/a", &s).base, "http://192.0.2.10:5000");
        assert_eq!(at("192.0.2.10:5001/a", &s).base, "https://192.0.2.10:5001");
        assert_eq!(at("reg.lan:8080/a", &s).base, "http://reg.lan:8080");
        assert_eq!(at("reg.lan/a", &s).base, "http://reg.lan");
        assert_eq!(at("other.lan/a", &s).base, "https://other.lan");
    }

    #[test]
    fn a_mirror_serves_docker_hub_only() {
        let s = Settings {
            insecure: vec![],
            mirror: Some("http://127.0.0.1:5000/".into()),
        };
        let e = at("busybox", &s);
        assert_eq!(
            e.url("manifests/latest"),
            "http://127.0.0.1:5000/v2/library/busybox/manifests/latest"
        );
        assert_eq!(e.host, "127.0.0.1:5000");
        assert!(e.mirror);
        assert!(!at("quay.io/a/b", &s).mirror);
        let prefixed = Settings {
            insecure: vec![],
            mirror: Some("https://mirror.example/hub".into()),
        };
        assert_eq!(
            at("a/b:1", &prefixed).url("manifests/1"),
            "https://mirror.example/hub/v2/a/b/manifests/1"
        );
        for bad in ["mirror.example", "ftp://x", "http://"] {
            let s = Settings {
                insecure: vec![],
                mirror: Some(bad.into()),
            };
            let err = endpoint(&Reference::parse("busybox").unwrap(), &s)
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not a URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn local_hosts() {
        for local in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "registry-1.docker.io",
            "ghcr.io:443",
            "10.0.0.1:5000",
            "[::2]:5000",
            "localhost.evil.com",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }
}
