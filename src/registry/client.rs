//! One repository's API, over HTTP: GETs under `/v2/NAME/`, through the
//! registry's auth, redirects, rate limits and passing failures.
//!
//! - a 401 is answered once per request with the challenge's credentials
//!   (a Bearer token from the realm, or Basic), so a token that expires in
//!   the middle of a pull is renewed by the request that finds it expired;
//! - redirects are followed here, not by ureq, so that Authorization goes
//!   only to the registry's own origin, never to the CDN a blob is sent to;
//! - connection errors and 5xx are retried with backoff, a 429 after its
//!   `Retry-After` (bounded), each a few times;
//! - connecting, the answer's headers and a body's bytes each have a
//!   timeout ([`super::timeouts`]), so a registry that hangs fails in
//!   seconds, saying which; a request that timed out is tried once more.

use std::io::{self, Read};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use ureq::http::Response;
use ureq::Body;
use url::Url;

use super::auth;
use super::endpoint::Endpoint;
use super::manifest;
use super::timeouts::{self, Timeouts};
use crate::digest::Digest;

/// Tries of one request, counting the first.
const ATTEMPTS: u32 = 4;
/// Tries of one request that timed out: a registry that hangs once
/// likely hangs again, and each try costs a whole timeout.
const TIMEOUT_ATTEMPTS: u32 = 2;
/// The first pause between tries; doubled at each.
const BACKOFF: Duration = Duration::from_millis(250);
/// The longest a 429's Retry-After may ask us to wait.
const MAX_RETRY_AFTER: u64 = 30;
const MAX_REDIRECTS: u32 = 10;

pub struct Client {
    agent: ureq::Agent,
    endpoint: Endpoint,
    timeouts: Timeouts,
    /// The Authorization header for the registry's origin, once a 401 told
    /// us what it wants. Shared by the threads that fetch layers.
    authorization: Mutex<Option<Authorization>>,
}

/// What answers the registry's challenge, and until when.
struct Authorization {
    header: String,
    /// The challenge answered, to answer it again for a new token.
    challenge: String,
    /// When a Bearer token should be renewed: before its `expires_in` runs
    /// out, so that no request is refused for it. None: Basic, for good.
    renew_at: Option<Instant>,
}

/// How long before a token expires it is renewed: a fifth of its life,
/// at least a second and at most 30 (a request sent just in time may
/// still reach the registry late).
fn renewal_margin(lasts: u64) -> u64 {
    (lasts / 5).clamp(1, 30).min(lasts)
}

/// A manifest as fetched: its bytes, type and verified digest.
pub struct Fetched {
    pub body: Vec<u8>,
    pub content_type: String,
    pub digest: Digest,
}

impl Client {
    pub fn new(endpoint: Endpoint, timeouts: Timeouts) -> Client {
        let agent = ureq::Agent::config_builder()
            // 4xx and 5xx are read here, to say what went wrong.
            .http_status_as_error(false)
            // Redirects are followed here, to decide who sees our token.
            .max_redirects(0)
            .user_agent(concat!("ctr/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(timeouts.connect))
            .timeout_recv_response(Some(timeouts.response))
            // A stalled transfer fails (and is resumed) instead of hanging.
            .timeout_per_read(Some(timeouts.stall))
            .build()
            .into();
        Client {
            agent,
            endpoint,
            timeouts,
            authorization: Mutex::new(None),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    // ANCHOR: manifest
    /// GET /v2/NAME/manifests/REF (a tag or a digest), with every manifest
    /// type in Accept; at most 4 MiB; its digest checked against the one
    /// asked for, or the one the registry says (Docker-Content-Digest).
    pub fn manifest(&self, version: &str) -> Result<Fetched> {
        let mut response = self.get(&format!("manifests/{version}"), &manifest::accept())?;
        let content_type = header(&response, "content-type").unwrap_or_default();
        let said = header(&response, "docker-content-digest");
        let body = response
            .body_mut()
            .with_config()
            .limit(manifest::MAX_MANIFEST)
            .read_to_vec()
            .map_err(|err| match err {
                ureq::Error::BodyExceedsLimit(_) => anyhow!(
                    "the manifest {version} is larger than {} MiB: refused",
                    manifest::MAX_MANIFEST >> 20
                ),
                err => anyhow!(err).context(format!("reading the manifest {version}")),
            })?;
        let digest = Digest::of(&body);
        let expected = match Digest::parse(version) {
            Ok(asked) => Some((asked, "asked for")),
            Err(_) => said
                .and_then(|s| Digest::parse(&s).ok())
                .map(|d| (d, "the registry says")),
        };
        if let Some((expected, who)) = expected {
            if expected != digest {
                bail!(
                    "the manifest has the digest {digest}, not {expected} as {who}: \
                     the download is corrupt or was tampered with; nothing was kept, try again"
                );
            }
        }
        Ok(Fetched {
            body,
            content_type,
            digest,
        })
    }
    // ANCHOR_END: manifest

    // ANCHOR: blob
    /// GET /v2/NAME/blobs/DIGEST, as a stream (a layer can be gigabytes)
    /// that survives a dropped connection: see [`Resuming`]. `size` is the
    /// manifest's (0: unknown); `resumed` hears of each new try (the byte
    /// it starts at, the try's number, why). The caller verifies what it
    /// reads.
    pub fn blob<'a>(
        &'a self,
        digest: &Digest,
        size: u64,
        resumed: impl Fn(u64, u32, &str) + Send + 'a,
    ) -> Result<Resuming<'a>> {
        let body = self.blob_from(digest, 0)?;
        Ok(Resuming {
            client: self,
            digest: digest.clone(),
            size,
            at: 0,
            body,
            tries: 1,
            resumed: Box::new(resumed),
            failed: None,
        })
    }

    /// The blob's bytes from `at` on: `Range: bytes=AT-`, which registries
    /// serve (206); one that ignores it sends the whole blob (200), whose
    /// first `at` bytes are skipped here.
    fn blob_from(&self, digest: &Digest, at: u64) -> Result<Box<dyn Read + Send>> {
        let range = (at > 0).then(|| format!("bytes={at}-"));
        let response = self.get_range(&format!("blobs/{digest}"), "*/*", range.as_deref())?;
        let status = response.status().as_u16();
        let said = header(&response, "content-range").unwrap_or_default();
        let mut body = response.into_body().into_reader();
        match status {
            206 if said.starts_with(&format!("bytes {at}-")) => {}
            206 => bail!("the registry answered bytes={at}- of {digest} with {said:?}"),
            _ if at > 0 => {
                let skipped = io::copy(&mut (&mut body).take(at), &mut io::sink())
                    .with_context(|| format!("reading {digest} again up to byte {at}"))?;
                if skipped != at {
                    bail!("{digest} is {skipped} bytes long this time, not more than {at}");
                }
            }
            _ => {}
        }
        Ok(Box::new(body))
    }
    // ANCHOR_END: blob

    /// A small blob (a config), read whole, at most `limit` bytes, verified.
    pub fn small_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let mut response = self.get(&format!("blobs/{digest}"), "*/*")?;
        let body = response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .with_context(|| format!("reading the blob {digest}"))?;
        let got = Digest::of(&body);
        if &got != digest {
            bail!(
                "the blob {digest} does not match its digest (it is {got}): \
                 the download is corrupt or was tampered with; nothing was kept, try again"
            );
        }
        Ok(body)
    }

    // ANCHOR: get
    /// One GET under /v2/NAME/, through auth and redirects.
    fn get(&self, path: &str, accept: &str) -> Result<Response<Body>> {
        self.get_range(path, accept, None)
    }

    /// [`Client::get`], with a Range header when given.
    fn get_range(&self, path: &str, accept: &str, range: Option<&str>) -> Result<Response<Body>> {
        let mut url = self.endpoint.url(path);
        let mut authenticated = false;
        for _ in 0..=MAX_REDIRECTS {
            // Our credentials are for the registry's origin only: a blob is
            // often redirected to a CDN on another host, which must not see them.
            let ours = same_origin(&url, &self.endpoint.base);
            let authorization = if ours { self.authorization()? } else { None };
            let mut headers = vec![("Accept", accept.to_string())];
            if let Some(range) = range {
                headers.push(("Range", range.to_string()));
            }
            if let Some(value) = &authorization {
                headers.push(("Authorization", value.clone()));
            }
            let response = self.send(&url, &headers)?;
            match response.status().as_u16() {
                200..=299 => return Ok(response),
                // Credentials wanted, or the token expired: answer the
                // challenge once for this request.
                401 if ours && !authenticated => {
                    let challenge = header(&response, "www-authenticate").unwrap_or_default();
                    let value = self.authenticate(&challenge)?;
                    *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
                    authenticated = true;
                }
                301 | 302 | 303 | 307 | 308 => {
                    let location = header(&response, "location").ok_or_else(|| {
                        anyhow!("the registry redirected {path} without a Location")
                    })?;
                    url = absolute(&url, &location)?;
                }
                _ => bail!("{}", refusal(response, authorization.is_some())),
            }
        }
        bail!(
            "{}: more than {MAX_REDIRECTS} redirects",
            self.endpoint.url(path)
        )
    }
    // ANCHOR_END: get

    /// The Authorization header to send, renewing a token that is about
    /// to expire first (the threads that fetch layers wait for the one that
    /// renews it).
    fn authorization(&self) -> Result<Option<String>> {
        let mut held = self.authorization.lock().unwrap_or_else(|e| e.into_inner());
        let Some(current) = held.as_ref() else {
            return Ok(None);
        };
        if current.renew_at.is_some_and(|at| Instant::now() >= at) {
            let challenge = current.challenge.clone();
            *held = Some(
                self.authenticate(&challenge)
                    .context("renewing the token")?,
            );
        }
        Ok(held.as_ref().map(|a| a.header.clone()))
    }

    // ANCHOR: send
    /// One request, tried again after connection errors and 5xx (with
    /// backoff) and after a 429 (when its Retry-After says).
    fn send(&self, url: &str, headers: &[(&str, String)]) -> Result<Response<Body>> {
        let mut attempt = 0;
        let mut timed_out = 0;
        loop {
            attempt += 1;
            let last = attempt >= ATTEMPTS;
            let pause = BACKOFF * 2u32.pow(attempt - 1);
            let mut request = self.agent.get(url);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let response = match request.call() {
                Ok(response) => response,
                Err(err) if transient(&err) && !last => {
                    if matches!(err, ureq::Error::Timeout(_)) {
                        timed_out += 1;
                        if timed_out >= TIMEOUT_ATTEMPTS {
                            return Err(self.unreachable(url, err));
                        }
                    }
                    std::thread::sleep(pause);
                    continue;
                }
                Err(err) => return Err(self.unreachable(url, err)),
            };
            let status = response.status().as_u16();
            if status == 429 && !last {
                let now = crate::image::store::now();
                let wait = header(&response, "retry-after")
                    .and_then(|v| auth::parse_retry_after(&v, now))
                    .map_or(pause, Duration::from_secs);
                if wait.as_secs() > MAX_RETRY_AFTER {
                    bail!(
                        "{}; it asks us to wait {} s, more than the {MAX_RETRY_AFTER} s ctr waits",
                        refusal(response, false),
                        wait.as_secs()
                    );
                }
                std::thread::sleep(wait);
                continue;
            }
            if (500..=599).contains(&status) && status != 501 && !last {
                std::thread::sleep(pause);
                continue;
            }
            return Ok(response);
        }
    }
    // ANCHOR_END: send

    // ANCHOR: authenticate
    /// Answers a 401's challenge with an Authorization header.
    fn authenticate(&self, header_value: &str) -> Result<Authorization> {
        let host = &self.endpoint.host;
        let challenge =
            auth::parse_challenge(header_value).with_context(|| format!("{host} answered 401"))?;
        let login = auth::login(host)?;
        match challenge.scheme.as_str() {
            // Docker Hub's way: a token for this repository from the realm,
            // anonymous or with our login.
            "bearer" => {
                let realm = challenge
                    .param("realm")
                    .ok_or_else(|| anyhow!("{host}'s challenge names no realm: {header_value}"))?;
                let default_scope = format!("repository:{}:pull", self.endpoint.repository);
                let scope = challenge.param("scope").unwrap_or(&default_scope);
                let separator = if realm.contains('?') { '&' } else { '?' };
                let url = format!(
                    "{realm}{separator}{}",
                    auth::token_query(challenge.param("service"), scope)
                );
                let mut headers = Vec::new();
                if let Some(login) = &login {
                    headers.push(("Authorization", login.header.clone()));
                }
                // Its life counts from the asking: the answer may come late.
                let asked = Instant::now();
                let mut response = self
                    .send(&url, &headers)
                    .with_context(|| format!("asking {realm} for a token"))?;
                match response.status().as_u16() {
                    200 => {}
                    401 | 403 => bail!(
                        "auth refused: the token server {realm} refused {}: \
                         check the user and password (docker login writes them)",
                        match &login {
                            Some(l) => format!("the login for {host} in {}", l.from),
                            None => "an anonymous token".to_string(),
                        }
                    ),
                    status => bail!("asking {realm} for a token: it answered {status}"),
                }
                let body = response
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .with_context(|| format!("reading the token from {realm}"))?;
                let (token, lasts) = auth::parse_token(&body)
                    .with_context(|| format!("asking {realm} for a token"))?;
                let renew = Duration::from_secs(lasts - renewal_margin(lasts));
                Ok(Authorization {
                    header: format!("Bearer {token}"),
                    challenge: header_value.to_string(),
                    renew_at: Some(asked + renew),
                })
            }
            "basic" => match login {
                Some(login) => Ok(Authorization {
                    header: login.header,
                    challenge: header_value.to_string(),
                    renew_at: None,
                }),
                None => bail!(
                    "auth refused: {host} asks for a user and password, and {} has none for it: \
                     log in with `docker login {host}`",
                    auth::config_path().display()
                ),
            },
            other => bail!(
                "{host} asks for an authentication ctr does not speak ({other}): {header_value}"
            ),
        }
    }
    // ANCHOR_END: authenticate

    /// Why a body broke off, in words: a stall says how long it was silent.
    fn describe(&self, err: &io::Error) -> String {
        let stalled = err.kind() == io::ErrorKind::TimedOut
            || err
                .get_ref()
                .and_then(|e| e.downcast_ref::<ureq::Error>())
                .is_some_and(|e| matches!(e, ureq::Error::Timeout(_)));
        if stalled {
            format!(
                "the registry sent nothing for {} ({})",
                timeouts::show(self.timeouts.stall),
                timeouts::VARIABLE
            )
        } else {
            err.to_string()
        }
    }

    /// An error to read, for a request that got no answer.
    fn unreachable(&self, url: &str, err: ureq::Error) -> anyhow::Error {
        let host = host_of(url);
        let variable = timeouts::VARIABLE;
        match &err {
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                return anyhow!(
                    "cannot connect to the registry {host} within {} ({variable}): check the \
                     name and port, and that nothing drops the connection on the way",
                    timeouts::show(self.timeouts.connect)
                )
            }
            ureq::Error::Timeout(which) => {
                let waited = match which {
                    ureq::Timeout::PerRead => self.timeouts.stall.min(self.timeouts.response),
                    _ => self.timeouts.response,
                };
                return anyhow!(
                    "the registry {host} accepted the connection but sent no answer within {} \
                     ({variable}): it is overloaded or stuck; try again later, or wait longer \
                     with {variable}=SECONDS",
                    timeouts::show(waited)
                );
            }
            _ => {}
        }
        let tls_failed = match &err {
            ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
            _ => false,
        };
        if url.starts_with("https://") && tls_failed {
            let insecure = if self.endpoint.mirror {
                String::new()
            } else {
                format!(": if it speaks plain HTTP, list it in CTR_INSECURE_REGISTRIES={host}")
            };
            return anyhow!(
                "the registry {host} does not speak HTTPS as ctr expects ({err}){insecure}"
            );
        }
        anyhow!(
            "cannot reach the registry {host} ({err}): check the name and port, \
             and that the registry is running"
        )
    }
}

/// Tries of one blob whose body breaks off, counting the first: docker
/// tries a layer five times.
pub const BLOB_ATTEMPTS: u32 = 5;

/// Told of each new try of a blob: the byte it starts at, the try's
/// number, why the last one broke off.
pub type Resumed<'a> = dyn Fn(u64, u32, &str) + Send + 'a;

// ANCHOR: resuming
/// A blob's body that, when the connection breaks off (reset, closed short
/// of the manifest's size, or silent past the stall timeout), asks for the
/// rest from the byte where it stopped and goes on, at most
/// [`BLOB_ATTEMPTS`] tries in all. Its reader sees one stream: whatever
/// hashes it checks the digest of the whole blob, end to end.
pub struct Resuming<'a> {
    client: &'a Client,
    digest: Digest,
    size: u64,
    /// Bytes handed out so far: where the next try starts.
    at: u64,
    body: Box<dyn Read + Send>,
    tries: u32,
    resumed: Box<Resumed<'a>>,
    /// Why it gave up: every read after that says so again.
    failed: Option<(io::ErrorKind, String)>,
}

impl Read for Resuming<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((kind, why)) = &self.failed {
                return Err(io::Error::new(*kind, why.clone()));
            }
            let broke = match self.body.read(buf) {
                Ok(0) if !buf.is_empty() && self.size != 0 && self.at < self.size => {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed early")
                }
                Ok(n) => {
                    self.at += n as u64;
                    return Ok(n);
                }
                Err(err) if broken(&err) => err,
                Err(err) => return Err(err),
            };
            let why = self.client.describe(&broke);
            if self.tries >= BLOB_ATTEMPTS {
                self.failed = Some((
                    broke.kind(),
                    format!(
                        "the download broke off {} times, the last at byte {} ({why}): \
                         nothing was kept, try again",
                        self.tries, self.at
                    ),
                ));
                continue;
            }
            self.tries += 1;
            (self.resumed)(self.at, self.tries, &why);
            std::thread::sleep(BACKOFF * 2u32.pow(self.tries - 2));
            match self.client.blob_from(&self.digest, self.at) {
                Ok(body) => self.body = body,
                // Counted as a try: the next read asks again, or gives up.
                Err(err) => {
                    self.body = Box::new(Failing(Some(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("{err:#}"),
                    ))))
                }
            }
        }
    }
}

/// A body that fails once with its error, then ends: a try that could not
/// even start.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(err) => Err(err),
            None => Ok(0),
        }
    }
}
// ANCHOR_END: resuming

/// A body's read that broke off in transit (reset, cut short, timed out),
/// worth a new try; not a full disk or a refused request.
fn broken(err: &io::Error) -> bool {
    if err.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
        return true;
    }
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::TimedOut
            | io::ErrorKind::BrokenPipe
    )
}

/// Worth trying again: the connection failed or broke, not the request.
/// A name that does not resolve is not retried (docker does not either):
/// it is a typo or no network, and each try can take seconds.
fn transient(err: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match err {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | NotConnected
                | BrokenPipe
                | TimedOut
                | UnexpectedEof
                | Interrupted
        ),
        ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_)
        | ureq::Error::BodyStalled => true,
        _ => false,
    }
}

/// An error to read, for an answer that is not what we asked for. The
/// registry's JSON errors say why: `{"errors":[{"code":"MANIFEST_UNKNOWN"...`
fn refusal(mut response: Response<Body>, sent_credentials: bool) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        code: String,
    }
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    let code = serde_json::from_str::<Errors>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
        .map(|e| e.code.to_lowercase().replace('_', " "))
        .unwrap_or_else(|| "no reason given".to_string());
    let advice = match (status, code.as_str()) {
        (404, "blob unknown") => "the registry lacks a blob its manifest names",
        (404, _) => "check the name and tag",
        (401 | 403, _) if sent_credentials => {
            "auth refused: log in with `docker login`, or check that the image is yours to pull"
        }
        (401 | 403, _) => "auth refused: log in with `docker login`",
        (429, _) => "the registry limits how often you pull: wait, or log in for a higher limit",
        (500..=599, _) => "the registry failed; try again later",
        _ => "the registry refused the request",
    };
    format!("registry answered {status} ({code}): {advice}")
}

fn header(response: &Response<Body>, name: &str) -> Option<String> {
    Some(response.headers().get(name)?.to_str().ok()?.to_string())
}

/// host[:port] of a URL, as an error names the registry; the URL itself
/// when it does not parse.
fn host_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => url.to_string(),
        },
        Err(_) => url.to_string(),
    }
}

/// Same scheme, host and port (RFC 6454's origin, default ports made
/// explicit): HTTPS to HTTP on the same host is not ours either (the token
/// would cross the network in the clear).
fn same_origin(url: &str, base: &str) -> bool {
    match (Url::parse(url), Url::parse(base)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// A Location resolved against the URL redirected, as RFC 3986 §5 says: it
/// may be absolute, absolute-path (`/v2/...`), relative (`blob?x`) or
/// scheme-relative (`//cdn.example/blob`, another host over the same
/// scheme). Only HTTP and HTTPS are followed.
fn absolute(from: &str, location: &str) -> Result<String> {
    let base = Url::parse(from).with_context(|| format!("the URL {from} is invalid"))?;
    let url = base
        .join(location)
        .with_context(|| format!("the registry redirected {from} to {location:?}, not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("the registry redirected {from} to {url}: ctr follows only http and https");
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_a_little_before_they_expire() {
        assert_eq!(renewal_margin(300), 30);
        assert_eq!(renewal_margin(60), 12);
        assert_eq!(renewal_margin(3), 1);
        assert_eq!(renewal_margin(1), 1);
        assert_eq!(renewal_margin(0), 0);
    }

    #[test]
    fn which_failures_are_tried_again() {
        let kind = |k| io::Error::from(k);
        assert!(broken(&kind(io::ErrorKind::ConnectionReset)));
        assert!(broken(&kind(io::ErrorKind::UnexpectedEof)));
        assert!(broken(&kind(io::ErrorKind::TimedOut)));
        assert!(broken(&io::Error::other(ureq::Error::BodyStalled)));
        assert!(!broken(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(!broken(&io::Error::other(
            "the blob does not match its digest"
        )));
    }

    #[test]
    fn origins_and_redirects() {
        assert_eq!(host_of("https://r.io:5000/v2/x?y"), "r.io:5000");
        assert_eq!(host_of("http://[::1]:5000/v2/"), "[::1]:5000");
        assert_eq!(host_of("https://r.io/v2/"), "r.io");
        assert!(same_origin("http://a:1/v2/x", "http://a:1"));
        assert!(same_origin("https://a:443/v2/x", "https://A"));
        assert!(!same_origin("http://a:2/v2/x", "http://a:1"));
        assert!(!same_origin("http://a/v2/x", "https://a"));
        assert!(!same_origin(
            "https://cdn.example/x",
            "https://registry-1.docker.io"
        ));
        let join = |from, to| absolute(from, to).unwrap();
        assert_eq!(join("http://a:1/v2/x", "/v2/y"), "http://a:1/v2/y");
        assert_eq!(join("http://a:1/v2/x/b", "c?d"), "http://a:1/v2/x/c?d");
        assert_eq!(join("http://a:1/v2/x", "https://cdn/z"), "https://cdn/z");
        // Scheme-relative: another host, the same scheme.
        assert_eq!(
            join("https://registry/v2/x", "//cdn.example/blob"),
            "https://cdn.example/blob"
        );
        assert!(!same_origin(
            &join("https://registry/v2/x", "//cdn.example/blob"),
            "https://registry"
        ));
        assert!(absolute("http://a/v2/x", "file:///etc/passwd").is_err());
        assert!(absolute("http://a/v2/x", "http://[::1").is_err());
    }
}
