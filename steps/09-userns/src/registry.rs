//! The distribution API: every request is a GET under `/v2/NAME/`:
//! `manifests/TAG-OR-DIGEST`, then `blobs/DIGEST` for the config and layers.

use anyhow::{bail, Context, Result};
use ureq::config::RedirectAuthHeaders;
use ureq::http::Response;
use ureq::{Body, BodyReader};

use crate::reference::Reference;

// ANCHOR: media_types
/// What we can read, in the Accept header of every request (a blob is sent
/// whatever we accept). Without the two list types, a registry answers a
/// multi-arch image with 404 (OCI) or converts it to schema 1 (Docker's).
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";
// ANCHOR_END: media_types

/// A session with one repository: where its API is, and `Bearer TOKEN` once
/// the registry has asked for one.
pub struct Registry {
    agent: ureq::Agent,
    pub url: String,
    token: Option<String>,
}

impl Registry {
    // ANCHOR: connect
    pub fn new(reference: &Reference) -> Registry {
        let host = match reference.registry.as_str() {
            "docker.io" => "registry-1.docker.io", // Docker Hub's API is not at docker.io
            other => other,
        };
        // Docker's rule: plain HTTP to a registry on this machine, else HTTPS.
        let scheme = match host.rsplit_once(':').map_or(host, |(name, _)| name) {
            "localhost" | "127.0.0.1" | "[::1]" => "http",
            _ => "https",
        };
        // We read 4xx and 5xx answers ourselves, to say what went wrong. ureq
        // follows redirects (blobs are often sent to a CDN), and takes our
        // token along only to the same host, over HTTPS: never to the CDN.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .redirect_auth_headers(RedirectAuthHeaders::SameHost);
        let (agent, token) = (config.build().into(), None);
        let url = format!("{scheme}://{host}/v2/{}/", reference.repository);
        Registry { agent, url, token }
    }

    /// GET PATH under /v2/NAME/, as a stream: a layer can be gigabytes. A
    /// 401 says how to get in: with a token from where its challenge says;
    /// then we ask again, once.
    pub fn get(&mut self, path: &str) -> Result<BodyReader<'static>> {
        let mut response = self.send(path)?;
        if response.status() == 401 {
            let challenge = response.headers().get("www-authenticate");
            let challenge = challenge.and_then(|h| h.to_str().ok()).unwrap_or_default();
            self.token = Some(token(challenge)?);
            response = self.send(path)?;
        }
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(response.into_body().into_reader());
        }
        // The registry's JSON says why: `{"errors":[{"code":"MANIFEST_UNKNOWN"...`
        let json: serde_json::Value =
            serde_json::from_reader(response.body_mut().as_reader()).unwrap_or_default();
        let code = &json["errors"][0]["code"];
        let code = code.as_str().unwrap_or("NO_REASON_GIVEN");
        let code = code.to_lowercase().replace('_', " ");
        let what_to_do = match status {
            404 => "check the name and tag",
            401 | 403 => {
                "auth refused: the image is private or does not exist; this lesson pulls \
                 public images only (ctr logs in with docker's logins)"
            }
            _ => "the registry failed; try again later",
        };
        bail!("registry answered {status} ({code}): {what_to_do}")
    }

    fn send(&self, path: &str) -> Result<Response<Body>> {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.header("Authorization", token);
        }
        let (url, what_to_do) = (&self.url, "check the name and port, and that it runs");
        let sent = request.header("Accept", ACCEPT).call();
        sent.with_context(|| format!("cannot reach the registry at {url}: {what_to_do}"))
    }
    // ANCHOR_END: connect
}

// ANCHOR: token
/// Answers Docker Hub's kind of challenge: `Bearer realm="https://auth.docker.io/token",
/// service="registry.docker.io",scope="repository:library/busybox:pull"`. The realm
/// gives a token for that service and scope, to anyone if the image is public.
fn token(challenge: &str) -> Result<String> {
    let Some(params) = challenge.strip_prefix("Bearer ") else {
        bail!("the registry asks for a login ({challenge}): this lesson pulls public images only");
    };
    let realm = param(params, "realm").context("the registry's challenge names no realm")?;
    let query = ["service", "scope"].map(|key| Some((key, param(params, key)?)));
    // ureq percent-encodes the query; its default agent takes a 4xx for an error.
    let request = ureq::get(realm).query_pairs(query.into_iter().flatten());
    let asking = format!("asking {realm} for a token");
    let asked = request.call().context(asking)?;
    let json: serde_json::Value = serde_json::from_reader(asked.into_body().as_reader())
        .with_context(|| format!("reading the token from {realm}"))?;
    // Docker Hub sends both fields; the OAuth2 spec names it access_token.
    let token = json["token"].as_str().or(json["access_token"].as_str());
    let token = token.with_context(|| format!("{realm} sent no token"))?;
    Ok(format!("Bearer {token}"))
}

/// The value of KEY in a challenge's `key="value",key="value"` (a value may
/// hold commas, as in `scope="repository:x:pull,push"`, but no quote).
fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    let start = params.find(&format!("{key}=\""))? + key.len() + 2;
    params[start..].split('"').next()
}
// ANCHOR_END: token
