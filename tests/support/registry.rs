//! The fixture registry: Debian's `docker-registry` (the CNCF distribution
//! registry) on 127.0.0.1:5000 inside a test's sandbox, serving the fixture
//! images read-only. Each function returns shell lines that start it; put
//! them at the top of the sandbox's script. The registry dies with the
//! sandbox.

use super::fixtures::fixtures;
use super::quote;
use std::path::Path;

/// Where the fixture registry listens, in every sandbox.
pub const ADDRESS: &str = "127.0.0.1:5000";
/// Where the token issuer listens, for the `auth: token` registry.
pub const ISSUER: &str = "127.0.0.1:5001";
/// Where the static file server listens (broken manifests).
pub const STATIC: &str = "127.0.0.1:5002";
/// The login the token issuer accepts (for private/*).
pub const LOGIN: (&str, &str) = ("learner", "s3cret");

/// How the registry wants to be spoken to.
pub enum Auth {
    /// No auth, as a registry on your own machine.
    None,
    /// Docker Hub's: 401 with a Bearer challenge; tokens from our issuer,
    /// which answers with this JSON field (`token` or `access_token`).
    Token(&'static str),
}

/// Shell lines that start the registry on the fixture storage and wait for it.
pub fn start(auth: Auth) -> String {
    start_on(&fixtures().storage(), auth)
}

/// The same, on another storage directory (a copy a test has changed).
pub fn start_on(storage: &Path, auth: Auth) -> String {
    let f = fixtures();
    let mut config = format!(
        "version: 0.1\n\
         log: {{level: error, accesslog: {{disabled: true}}}}\n\
         storage:\n  filesystem: {{rootdirectory: {}}}\n  \
         maintenance: {{uploadpurging: {{enabled: false}}, readonly: {{enabled: true}}}}\n\
         http: {{addr: {ADDRESS}}}\n",
        storage.display()
    );
    let mut issuer = String::new();
    if let Auth::Token(field) = auth {
        config.push_str(&format!(
            "auth:\n  token: {{realm: 'http://{ISSUER}/token', service: fixture-registry, \
             issuer: fixture-issuer, rootcertbundle: {}}}\n",
            f.dir.join("root.crt").display()
        ));
        let server = super::repo().join("tests/support/fixture_server.py");
        issuer = format!(
            "python3 {} token {} {} {} fixture-issuer fixture-registry {}:{} {field} &\n\
             {}\n",
            quote(&server.display().to_string()),
            ISSUER.rsplit(':').next().unwrap(),
            quote(&f.dir.join("key.pem").display().to_string()),
            quote(&f.dir.join("root.crt").display().to_string()),
            LOGIN.0,
            LOGIN.1,
            wait_http(ISSUER, "/token"),
        );
    }
    format!(
        "cat > /run/registry.yml <<'CONFIG'\n{config}CONFIG\n\
         docker-registry serve /run/registry.yml > /run/registry.log 2>&1 &\n\
         {issuer}{}\n",
        wait_http(ADDRESS, "/v2/")
    )
}

/// Shell lines that copy the fixture storage to `dest` and change one byte
/// of library/busybox:latest's layer there: a registry on the copy serves
/// a blob that does not match its digest.
pub fn corrupt_copy(dest: &str) -> String {
    format!(
        "cp -a {} {dest}\n\
         v2={dest}/docker/registry/v2\n\
         data() {{ hex=$(cut -d: -f2); echo $v2/blobs/sha256/$(echo $hex | cut -c1-2)/$hex/data; }}\n\
         manifest=$(data < $v2/repositories/library/busybox/_manifests/tags/latest/current/link)\n\
         blob=$(jq -r '.layers[0].digest' $manifest | data)\n\
         printf X | dd of=$blob bs=1 seek=100000 conv=notrunc 2>/dev/null\n",
        quote(&fixtures().storage().display().to_string())
    )
}

/// Shell lines that serve the fixtures' static/ directory on STATIC: a
/// "registry" that sends what a real one never would.
pub fn start_static() -> String {
    let server = super::repo().join("tests/support/fixture_server.py");
    format!(
        "python3 {} static {} {} &\n{}\n",
        quote(&server.display().to_string()),
        STATIC.rsplit(':').next().unwrap(),
        quote(&fixtures().dir.join("static").display().to_string()),
        wait_http(STATIC, "/v2/"),
    )
}

/// Shell lines that wait (up to 5 s) until something answers HTTP at
/// ADDRESS, whatever its status (a token registry's /v2/ answers 401).
pub fn wait_http(address: &str, path: &str) -> String {
    format!(
        "for i in $(seq 100); do \
         [ \"$(curl -s -o /dev/null -w '%{{http_code}}' http://{address}{path})\" != 000 ] && break; \
         sleep 0.05; done"
    )
}
