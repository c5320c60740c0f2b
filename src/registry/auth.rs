//! Getting past a registry's 401: the `WWW-Authenticate` challenge, the
//! token server's answer, and the logins docker keeps in its config.json.
//! Pure parsing only; the requests are the client's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde::Deserialize;

use super::endpoint::DOCKER_HUB;

/// A `WWW-Authenticate` challenge: `Bearer realm="...",service="...",scope="..."`.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Lower case: `bearer` or `basic`.
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

// ANCHOR: challenge
/// Parses a challenge (RFC 7235 auth-params: quoted values may hold commas
/// and `\"`; unquoted ones end at a comma).
pub fn parse_challenge(header: &str) -> Result<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() {
        bail!("the registry's 401 has no WWW-Authenticate challenge");
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let key = key.trim().to_string();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                bail!("the registry's challenge {header:?} has an unterminated quote");
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
            value = value.trim().to_string();
        }
        params.push((key, value));
    }
    Ok(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}
// ANCHOR_END: challenge

/// A token server's answer. Docker Hub sends both fields; OAuth2 servers
/// (and the distribution spec's fallback) only `access_token`.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    /// Seconds; the spec's default is 60.
    expires_in: Option<u64>,
}

/// The bearer token of a token server's JSON, and how long it lasts.
pub fn parse_token(body: &[u8]) -> Result<(String, u64)> {
    let answer: TokenAnswer =
        serde_json::from_slice(body).context("the token server's answer is not valid JSON")?;
    let token = answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            anyhow!("the token server answered without a token (no `token` nor `access_token`)")
        })?;
    Ok((token, answer.expires_in.unwrap_or(60)))
}

/// The query of a token request: `service=...&scope=...`, percent-encoded.
/// Several scopes go space-separated in one `scope=`: that is what Debian's
/// docker-registry (the CNCF distribution registry) asks for a blob mount.
pub fn token_query(service: Option<&str>, scope: &str) -> String {
    let mut query = String::new();
    if let Some(service) = service {
        query.push_str(&format!("service={}&", encode(service)));
    }
    query.push_str(&format!("scope={}", encode(scope)));
    query
}

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

/// A login for one registry, from docker's config.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The file it came from, for errors.
    pub from: PathBuf,
    /// `Basic base64(user:password)`: for the token server, or the registry.
    pub header: String,
    pub user: String,
}

/// Where docker keeps logins: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".docker/config.json")
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The keys under which docker may have kept `host`'s login: Docker Hub's
/// under its old index URL, others as host or URL.
fn keys(host: &str) -> Vec<String> {
    if host == DOCKER_HUB {
        [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
            DOCKER_HUB,
        ]
        .map(String::from)
        .to_vec()
    } else {
        vec![
            host.to_string(),
            format!("https://{host}"),
            format!("http://{host}"),
            format!("https://{host}/v1/"),
            format!("https://{host}/v2/"),
        ]
    }
}

// ANCHOR: login
/// The login for `host` in the config.json text (read from `from`), if
/// any. Logins kept by a credential helper (`credsStore`, `credHelpers`)
/// are refused with what to do: ctr does not run helpers.
pub fn login_from(text: &str, from: &Path, host: &str) -> Result<Option<Login>> {
    let config: DockerConfig = serde_json::from_str(text)
        .with_context(|| format!("reading {}: it is not valid JSON", from.display()))?;
    let keys = keys(host);
    let helper = |name: &str| {
        anyhow!(
            "the login for {host} is kept by the credential helper docker-credential-{name} \
             ({}), which ctr does not run: put it in \"auths\" as {{\"auth\": base64(user:password)}}, \
             or pull without logging in",
            from.display()
        )
    };
    if let Some(name) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
        return Err(helper(name));
    }
    let Some(entry) = keys.iter().find_map(|k| config.auths.get(k)) else {
        return Ok(None);
    };
    let (user, password) = match entry {
        AuthEntry {
            auth: Some(auth), ..
        } if !auth.is_empty() => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    anyhow!(
                        "reading {}: the \"auth\" of {host} is not base64 of user:password",
                        from.display()
                    )
                })?;
            let Some((user, password)) = decoded.split_once(':') else {
                bail!(
                    "reading {}: the \"auth\" of {host} is not base64 of user:password",
                    from.display()
                );
            };
            (user.to_string(), password.to_string())
        }
        AuthEntry {
            username: Some(user),
            password: Some(password),
            ..
        } => (user.clone(), password.clone()),
        // An empty entry: `docker login` with a credsStore leaves one.
        _ => match &config.creds_store {
            Some(name) => return Err(helper(name)),
            None => return Ok(None),
        },
    };
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Ok(Some(Login {
        from: from.to_path_buf(),
        header: format!("Basic {basic}"),
        user,
    }))
}
// ANCHOR_END: login

/// The login for `host` from the config.json at `config_path()`; none when
/// that file does not exist.
pub fn login(host: &str) -> Result<Option<Login>> {
    let path = config_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => login_from(&text, &path, host),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// A 429's `Retry-After`: seconds, or an HTTP date (RFC 9110), as seconds
/// from `now` (seconds since the epoch). None when it says neither.
pub fn parse_retry_after(value: &str, now: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
    let (_, rest) = value.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let rfc3339 = format!("{year}-{month:02}-{day:0>2}T{time}Z");
    let at = crate::show::parse_rfc3339(&rfc3339)?;
    Some(at.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hubs_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("Service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/redis:pull"));
        assert_eq!(c.param("error"), None);
    }

    #[test]
    fn challenges_with_commas_quotes_and_spaces() {
        let c = parse_challenge(
            r#"Bearer realm="http://a/token", scope="repository:a:pull,push repository:b:pull",error=insufficient_scope, x="say \"hi\"""#,
        )
        .unwrap();
        assert_eq!(
            c.param("scope"),
            Some("repository:a:pull,push repository:b:pull")
        );
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        assert_eq!(c.param("x"), Some("say \"hi\""));
        let basic = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(
            (basic.scheme.as_str(), basic.param("realm")),
            ("basic", Some("Registry Realm"))
        );
        assert!(parse_challenge("").is_err());
        assert!(parse_challenge(r#"Bearer realm="open"#).is_err());
        assert_eq!(parse_challenge("Basic").unwrap().params, vec![]);
    }

    #[test]
    fn tokens_in_either_field() {
        assert_eq!(
            parse_token(br#"{"token":"t","expires_in":300}"#).unwrap(),
            ("t".into(), 300)
        );
        assert_eq!(
            parse_token(br#"{"access_token":"a"}"#).unwrap(),
            ("a".into(), 60)
        );
        assert_eq!(
            parse_token(br#"{"token":"t","access_token":"a"}"#)
                .unwrap()
                .0,
            "t"
        );
        assert!(parse_token(br#"{"token":""}"#).is_err());
        assert!(parse_token(b"<html>").is_err());
        assert_eq!(
            token_query(Some("registry.docker.io"), "repository:library/redis:pull"),
            "service=registry.docker.io&scope=repository%3Alibrary%2Fredis%3Apull"
        );
        assert_eq!(token_query(None, "a b"), "scope=a%20b");
    }

    const FROM: &str = "/home/u/.docker/config.json";

    fn login_of(json: &str, host: &str) -> Result<Option<Login>> {
        login_from(json, Path::new(FROM), host)
    }

    #[test]
    fn logins_from_config_json() {
        // base64("learner:s3cret")
        let json = r#"{"auths":{"127.0.0.1:5000":{"auth":"bGVhcm5lcjpzM2NyZXQ="}}}"#;
        let l = login_of(json, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(l.header, "Basic bGVhcm5lcjpzM2NyZXQ=");
        assert_eq!(l.user, "learner");
        assert_eq!(l.from, Path::new(FROM));
        assert_eq!(login_of(json, "127.0.0.1:5001").unwrap(), None);
        let json = r#"{"auths":{"https://reg.example":{"username":"u","password":"p:w"}}}"#;
        let l = login_of(json, "reg.example").unwrap().unwrap();
        assert_eq!(
            l.header,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("u:p:w")
            )
        );
        // Docker Hub's logins are under the old index URL.
        let json = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}}}"#;
        assert_eq!(login_of(json, DOCKER_HUB).unwrap().unwrap().user, "u");
        assert_eq!(login_of("{}", "x").unwrap(), None);
    }

    #[test]
    fn helpers_and_bad_files_are_refused_saying_why() {
        let err = |json: &str| format!("{:#}", login_of(json, "reg.example").unwrap_err());
        let e = err(r#"{"auths":{"reg.example":{}},"credsStore":"desktop"}"#);
        assert!(
            e.contains("docker-credential-desktop") && e.contains(FROM),
            "{e}"
        );
        let e = err(r#"{"credHelpers":{"reg.example":"ecr-login"}}"#);
        assert!(e.contains("docker-credential-ecr-login"), "{e}");
        assert!(err(r#"{"auths":{"reg.example":{"auth":"%%%"}}}"#).contains("not base64"));
        assert!(
            err(r#"{"auths":{"reg.example":{"auth":"bm9jb2xvbg=="}}}"#).contains("user:password")
        );
        assert!(err("{").contains("not valid JSON"));
        // A helper for another host, or a store with no entry: anonymous.
        let other = r#"{"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"}}"#;
        assert_eq!(login_of(other, "reg.example").unwrap(), None);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("3", 0), Some(3));
        assert_eq!(parse_retry_after(" 0 ", 0), Some(0));
        // 1994-11-06T08:49:37Z is 784111777.
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(date, 784_111_770), Some(7));
        assert_eq!(parse_retry_after(date, 784_111_800), Some(0));
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("-1", 0), None);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 CET", 0), None);
    }
}
