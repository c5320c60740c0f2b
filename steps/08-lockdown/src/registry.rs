//! The distribution API: every request is a GET under `/v2/NAME/`:
//! `manifests/TAG-OR-DIGEST`, then `blobs/DIGEST` for the config and layers.

use anyhow::{anyhow, bail, Context, Result};
use ureq::config::RedirectAuthHeaders;
use ureq::http::Response;
use ureq::{Body, BodyReader};

use crate::reference::Reference;

// ANCHOR: media_types
/// What we can read, in the Accept header of every manifest request. Leave
/// one out and a registry may answer with something else: without the two
/// list types, a multi-arch image is "not found" (OCI) or converted to the
/// old schema 1 (Docker's).
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";
// ANCHOR_END: media_types

/// A session with one registry, for one repository.
pub struct Registry {
    agent: ureq::Agent,
    /// Where the repository's API is: `http://127.0.0.1:5000/v2/library/busybox/`.
    pub url: String,
    /// `Bearer TOKEN`, once the registry has asked for one.
    token: Option<String>,
}

impl Registry {
    // ANCHOR: connect
    pub fn new(reference: &Reference) -> Registry {
        let host = match reference.registry.as_str() {
            "docker.io" => "registry-1.docker.io", // Docker Hub's API is not at docker.io
            other => other,
        };
        // Docker speaks plain HTTP to a registry on this machine, HTTPS to
        // any other (here with rustls): the same rule here.
        let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
        let scheme = match name {
            "localhost" | "127.0.0.1" | "[::1]" => "http",
            _ => "https",
        };
        // We read 4xx and 5xx answers ourselves, to say what went wrong. ureq
        // follows redirects (blobs are often sent to a CDN), and takes our
        // token along only to the same host, over HTTPS: never to the CDN.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .redirect_auth_headers(RedirectAuthHeaders::SameHost);
        Registry {
            agent: config.build().into(),
            url: format!("{scheme}://{host}/v2/{}/", reference.repository),
            token: None,
        }
    }
    // ANCHOR_END: connect

    /// GET manifests/TAG-OR-DIGEST: its bytes (ureq reads at most 10 MB).
    pub fn manifest(&mut self, version: &str) -> Result<Vec<u8>> {
        let mut response = self.get(&format!("manifests/{version}"), ACCEPT)?;
        Ok(response.body_mut().read_to_vec()?)
    }

    /// GET blobs/DIGEST, as a stream: a layer can be gigabytes.
    pub fn blob(&mut self, digest: &str) -> Result<BodyReader<'static>> {
        let response = self.get(&format!("blobs/{digest}"), "*/*")?;
        Ok(response.into_body().into_reader())
    }

    // ANCHOR: get
    /// One GET under /v2/NAME/. A 401 says how to get in: with a token from
    /// where its challenge says; then we ask again, once.
    fn get(&mut self, path: &str, accept: &str) -> Result<Response<Body>> {
        let mut response = self.send(path, accept)?;
        if response.status() == 401 {
            let challenge = response.headers().get("www-authenticate");
            let challenge = challenge.and_then(|h| h.to_str().ok()).unwrap_or_default();
            self.token = Some(token(&self.agent, challenge)?);
            response = self.send(path, accept)?;
        }
        if response.status() != 200 {
            return Err(refusal(response));
        }
        Ok(response)
    }

    fn send(&self, path: &str, accept: &str) -> Result<Response<Body>> {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.header("Authorization", token);
        }
        let response = request.header("Accept", accept).call();
        let url = &self.url;
        response.with_context(|| {
            format!("cannot reach the registry at {url}: check the name and port, and that it runs")
        })
    }
    // ANCHOR_END: get
}

// ANCHOR: token
/// Answers Docker Hub's kind of challenge: `Bearer realm="https://auth.docker.io/token",
/// service="registry.docker.io",scope="repository:library/busybox:pull"`. The realm
/// gives a token for that service and scope, to anyone if the image is public.
fn token(agent: &ureq::Agent, challenge: &str) -> Result<String> {
    let Some(params) = challenge.strip_prefix("Bearer ") else {
        bail!("the registry asks for a login ({challenge}): this lesson pulls public images only");
    };
    let realm = param(params, "realm").context("the registry's challenge names no realm")?;
    let mut request = agent.get(realm);
    for key in ["service", "scope"] {
        if let Some(value) = param(params, key) {
            request = request.query(key, value); // which ureq percent-encodes
        }
    }
    let mut response = request
        .call()
        .with_context(|| format!("asking {realm} for a token"))?;
    if response.status() != 200 {
        bail!(
            "auth refused: the token server {realm} answered {}",
            response.status()
        );
    }
    let json: serde_json::Value = serde_json::from_reader(response.body_mut().as_reader())
        .with_context(|| format!("reading the token from {realm}"))?;
    // Docker Hub sends both fields; the OAuth2 spec names it access_token.
    let token = json["token"].as_str().or(json["access_token"].as_str());
    let token = token.with_context(|| format!("{realm} sent no token"))?;
    Ok(format!("Bearer {token}"))
}

/// The value of KEY in a challenge's `key="value",key="value"`.
fn param<'a>(mut params: &'a str, key: &str) -> Option<&'a str> {
    while let Some((name, rest)) = params.split_once("=\"") {
        let (value, rest) = rest.split_once('"')?;
        if name.trim_start_matches([',', ' ']) == key {
            return Some(value);
        }
        params = rest;
    }
    None
}
// ANCHOR_END: token

/// An error to read, for an answer that is not what we asked for. The
/// registry's JSON says why: `{"errors":[{"code":"MANIFEST_UNKNOWN"...`
fn refusal(mut response: Response<Body>) -> anyhow::Error {
    let status = response.status().as_u16();
    let json: serde_json::Value =
        serde_json::from_reader(response.body_mut().as_reader()).unwrap_or_default();
    let code = json["errors"][0]["code"]
        .as_str()
        .unwrap_or("NO_REASON_GIVEN");
    let what_to_do = match status {
        404 => "check the name and tag",
        401 | 403 => {
            "auth refused: the image is private or does not exist; this lesson pulls public \
             images only (ctr logs in with docker's logins)"
        }
        429 => "the registry limits how often you pull: wait, then try again",
        _ => "the registry failed; try again later",
    };
    let code = code.to_lowercase().replace('_', " ");
    anyhow!("registry answered {status} ({code}): {what_to_do}")
}
