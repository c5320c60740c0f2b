//! The distribution API: what a registry answers, and how to get past its
//! 401. Every request is a GET under `/v2/NAME/`:
//! `manifests/TAG-OR-DIGEST`, then `blobs/DIGEST` for the config and layers.

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde::Deserialize;
use ureq::http::Response;
use ureq::Body;

use crate::reference::Reference;

// ANCHOR: media_types
/// What we can read, in the Accept header of every manifest request. Leave
/// one out and a registry may answer with something else: without the two
/// list types, a multi-arch image is "not found" (OCI) or converted to the
/// old schema 1 (Docker's).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
// ANCHOR_END: media_types

/// Registries that answer 429 ask us to wait; we wait this long at most.
const MAX_RETRY_AFTER: u64 = 60;

/// A session with one registry, for one repository.
pub struct Registry {
    agent: ureq::Agent,
    /// `http://127.0.0.1:5000` or `https://registry-1.docker.io`.
    base: String,
    /// host[:port], the key under which docker's config.json keeps logins.
    host: String,
    repository: String,
    /// The Authorization header that the registry accepted (or will).
    authorization: Option<String>,
}

impl Registry {
    // ANCHOR: connect
    pub fn new(reference: &Reference) -> Registry {
        let host = reference.api_host().to_string();
        // Docker speaks plain HTTP to a registry on this machine, HTTPS to
        // any other: the same rule here.
        let scheme = if is_local(&host) { "http" } else { "https" };
        let agent = ureq::Agent::config_builder()
            // We read 4xx and 5xx answers ourselves, to say what went wrong.
            .http_status_as_error(false)
            // And follow redirects ourselves, to decide where our token goes.
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .build()
            .into();
        Registry {
            agent,
            base: format!("{scheme}://{host}"),
            host,
            repository: reference.repository.clone(),
            authorization: None,
        }
    }
    // ANCHOR_END: connect

    /// Where the repository's API is: `http://127.0.0.1:5000/v2/library/busybox/`.
    pub fn url(&self) -> String {
        format!("{}/v2/{}/", self.base, self.repository)
    }

    /// GET /v2/NAME/manifests/REF, with every manifest type we read.
    pub fn manifest(&mut self, version: &str) -> Result<(String, Vec<u8>)> {
        let path = format!("manifests/{version}");
        let accept = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ");
        let mut response = self.get(&path, &accept)?;
        let media_type = header(&response, "content-type").unwrap_or_default();
        // A manifest is small; a registry refuses to store one over 4 MiB.
        let body = response
            .body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_vec()
            .with_context(|| format!("reading the manifest {version}"))?;
        Ok((media_type, body))
    }

    /// GET /v2/NAME/blobs/DIGEST, as a stream: a layer can be gigabytes.
    pub fn blob(&mut self, digest: &str) -> Result<impl Read> {
        let response = self.get(&format!("blobs/{digest}"), "*/*")?;
        Ok(response.into_body().into_reader())
    }

    // ANCHOR: get
    /// One GET under /v2/NAME/, through the registry's auth and redirects.
    fn get(&mut self, path: &str, accept: &str) -> Result<Response<Body>> {
        let mut url = format!("{}/v2/{}/{path}", self.base, self.repository);
        let mut authenticated = false;
        let mut retries = 0;
        for _ in 0..10 {
            let mut request = self.agent.get(&url).header("Accept", accept);
            // The token is for this registry only. A blob is often
            // redirected to a CDN on another host, which must not see it.
            if let Some(authorization) = &self.authorization {
                if host_of(&url) == self.host {
                    request = request.header("Authorization", authorization);
                }
            }
            let response = request.call().map_err(|err| self.unreachable(err))?;
            match response.status().as_u16() {
                200 => return Ok(response),
                // The registry wants credentials: it says which kind, and for
                // a token, where to get one. Try once, then give up.
                401 if !authenticated => {
                    let challenge = header(&response, "www-authenticate").unwrap_or_default();
                    self.authorization = Some(self.authenticate(&challenge)?);
                    authenticated = true;
                }
                301 | 302 | 303 | 307 | 308 => {
                    let location = header(&response, "location")
                        .ok_or_else(|| anyhow!("the registry redirected {path} nowhere"))?;
                    url = absolute(&url, &location);
                }
                // Too many requests (Docker Hub's rate limit): wait as told.
                429 if retries < 3 => {
                    let wait = header(&response, "retry-after")
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(5);
                    if wait > MAX_RETRY_AFTER {
                        bail!("{}", self.refusal(&url, response));
                    }
                    std::thread::sleep(Duration::from_secs(wait));
                    retries += 1;
                }
                _ => bail!("{}", self.refusal(&url, response)),
            }
        }
        bail!("{url}: too many redirects")
    }
    // ANCHOR_END: get

    // ANCHOR: authenticate
    /// Answers a 401's `WWW-Authenticate` challenge with an Authorization header.
    fn authenticate(&self, challenge: &str) -> Result<String> {
        let (scheme, params) = parse_challenge(challenge);
        let login = self.login()?;
        match scheme.to_ascii_lowercase().as_str() {
            // Docker Hub's way: ask the token server named by `realm` for a
            // token for this `service` and `scope` (anonymous, or with our
            // login), then show the token to the registry.
            "bearer" => {
                let realm = param(&params, "realm")
                    .ok_or_else(|| anyhow!("the registry's challenge has no realm: {challenge}"))?;
                let service = param(&params, "service").unwrap_or_default();
                let default_scope = format!("repository:{}:pull", self.repository);
                let scope = param(&params, "scope").unwrap_or(&default_scope);
                let url = format!(
                    "{realm}?service={}&scope={}",
                    encode(service),
                    encode(scope)
                );
                let mut request = self.agent.get(&url);
                if let Some((_, basic)) = &login {
                    request = request.header("Authorization", basic);
                }
                let mut response = request
                    .call()
                    .map_err(|err| anyhow!("asking {realm} for a token: {err}"))?;
                match response.status().as_u16() {
                    200 => {}
                    401 | 403 => bail!(
                        "auth refused: the token server {realm} refused {}: {}",
                        match &login {
                            Some((from, _)) => format!("the login for {} in {from}", self.host),
                            None => "an anonymous token".to_string(),
                        },
                        "check the user and password (docker login writes them)"
                    ),
                    status => bail!("asking {realm} for a token: it answered {status}"),
                }
                let body = response.body_mut().read_to_vec();
                let token: Token = body
                    .map_err(anyhow::Error::from)
                    .and_then(|body| Ok(serde_json::from_slice(&body)?))
                    .with_context(|| format!("reading the token from {realm}"))?;
                // Docker Hub sends both fields; the OAuth2 spec names it access_token.
                let token = token
                    .token
                    .or(token.access_token)
                    .ok_or_else(|| anyhow!("the token server {realm} answered without a token"))?;
                Ok(format!("Bearer {token}"))
            }
            // A registry behind plain HTTP auth: send the login as it is.
            "basic" => match login {
                Some((_, basic)) => Ok(basic),
                None => bail!(
                    "auth refused: {} asks for a user and password, and {} has none for it: \
                     log in with `docker login {}`",
                    self.host,
                    docker_config().display(),
                    self.host
                ),
            },
            _ => bail!(
                "{} asks for an authentication we do not speak: {challenge}",
                self.host
            ),
        }
    }
    // ANCHOR_END: authenticate

    // ANCHOR: login
    /// The login docker keeps for this registry in config.json's `auths`:
    /// `"auth"` is base64 of `user:password`, ready for a Basic header.
    /// (Logins kept by a credential helper, `credsStore`, are not read here.)
    fn login(&self) -> Result<Option<(String, String)>> {
        let path = docker_config();
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let config: DockerConfig = serde_json::from_str(&text)
            .with_context(|| format!("reading {}: it is not valid JSON", path.display()))?;
        // Docker Hub's logins are kept under its old index URL.
        let keys = if self.host == "registry-1.docker.io" {
            vec![
                "https://index.docker.io/v1/".to_string(),
                "docker.io".to_string(),
            ]
        } else {
            let h = &self.host;
            vec![h.clone(), format!("https://{h}"), format!("http://{h}")]
        };
        let found = keys.iter().find_map(|key| config.auths.get(key));
        let basic = match found {
            Some(Auth {
                auth: Some(auth), ..
            }) => auth.clone(),
            Some(Auth {
                username: Some(user),
                password: Some(password),
                ..
            }) => base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
            _ => return Ok(None),
        };
        Ok(Some((path.display().to_string(), format!("Basic {basic}"))))
    }
    // ANCHOR_END: login

    /// An error to read, for a request that got no answer.
    fn unreachable(&self, err: ureq::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach the registry {} ({err}): check the name and port, \
             and that the registry is running",
            self.host
        )
    }

    /// An error to read, for an answer that is not what we asked for. The
    /// registry's JSON errors say why: `{"errors":[{"code":"MANIFEST_UNKNOWN"...`
    fn refusal(&self, url: &str, mut response: Response<Body>) -> String {
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        let code = serde_json::from_str::<Errors>(&body)
            .ok()
            .and_then(|e| e.errors.into_iter().next())
            .map(|e| e.code.to_lowercase().replace('_', " "))
            .unwrap_or_else(|| "no reason given".to_string());
        let what_to_do = match status {
            404 => "check the name and tag",
            401 | 403 => {
                "auth refused: log in with `docker login`, or check that the image is yours to pull"
            }
            429 => "the registry limits how often you pull: wait, or log in for a higher limit",
            _ => "the registry failed; try again later",
        };
        let _ = url;
        format!("registry answered {status} ({code}): {what_to_do}")
    }
}

/// Where docker keeps logins: $DOCKER_CONFIG/config.json, or ~/.docker/config.json.
fn docker_config() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".docker/config.json")
        }
    }
}

/// localhost, 127.0.0.0/8 and ::1, with or without a port.
fn is_local(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name == "localhost"
        || name == "::1"
        || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host[:port] of an http(s) URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or_default()
}

/// A redirect's Location may be relative to the URL that was redirected.
fn absolute(from: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else {
        let scheme = from.split_once("://").map_or("https", |(s, _)| s);
        format!("{scheme}://{}{location}", host_of(from))
    }
}

fn header(response: &Response<Body>, name: &str) -> Option<String> {
    let value = response.headers().get(name)?;
    Some(value.to_str().ok()?.to_string())
}

/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`
/// into ("Bearer", [("realm", "https://..."), ("service", "...")]).
pub fn parse_challenge(challenge: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = challenge
        .trim()
        .split_once(' ')
        .unwrap_or((challenge.trim(), ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            quoted.split_once('"').unwrap_or((quoted, ""))
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        params.push((key, value.to_string()));
        rest = after.trim_start_matches(',').trim();
    }
    (scheme.to_string(), params)
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Percent-encodes a query value (`repository:library/redis:pull`).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
struct Token {
    token: Option<String>,
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::HashMap<String, Auth>,
}

#[derive(Deserialize)]
struct Auth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct Errors {
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    code: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hubs_challenge() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            param(&params, "realm"),
            Some("https://auth.docker.io/token")
        );
        assert_eq!(param(&params, "service"), Some("registry.docker.io"));
        assert_eq!(
            param(&params, "scope"),
            Some("repository:library/redis:pull")
        );
        let (scheme, params) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (scheme.as_str(), param(&params, "realm")),
            ("Basic", Some("Registry Realm"))
        );
    }

    #[test]
    fn plain_http_only_on_this_machine() {
        for local in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "registry-1.docker.io",
            "ghcr.io:443",
            "10.0.0.1:5000",
            "localhost.evil.com",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }

    #[test]
    fn redirects_and_hosts() {
        assert_eq!(host_of("https://r.io:5000/v2/x?y"), "r.io:5000");
        assert_eq!(absolute("http://a:1/v2/x", "/v2/y"), "http://a:1/v2/y");
        assert_eq!(
            absolute("http://a:1/v2/x", "https://cdn/z"),
            "https://cdn/z"
        );
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
