//! `ctr pull` and `ctr run`'s pull, from the outside: against the fixture
//! registry (Debian's docker-registry) in a throwaway sandbox, plain and
//! behind Docker Hub's token auth, through a proxy that logs what was
//! fetched and slows or fails requests; and every bad input of issue 5.
mod support;

use support::ctr_pull::{proxy, run, store_left};
use support::fixtures::fixtures;
use support::registry::{self, Auth, ADDRESS, ISSUER, LOGIN};
use support::{quote, Outcome};

/// Where the proxy listens, in front of the fixture registry.
const PROXY: &str = "127.0.0.1:5003";
const LOG: &str = "/run/proxy.log";

fn plain() -> String {
    registry::start(Auth::None)
}

/// The registry with a proxy in front of it, with the proxy's OPTIONS.
fn proxied(options: &str) -> String {
    format!("{}{}", plain(), proxy(PROXY, ADDRESS, LOG, options))
}

/// The script exited 0, and every `status=N` it printed, wherever on a
/// line, is `status=0` (any other status fails, not only those from 1).
fn assert_ok(out: &Outcome) {
    assert_eq!(out.status, 0, "{}", out.both());
    for after in out.stdout.split("status=").skip(1) {
        let code: String = after.chars().take_while(char::is_ascii_digit).collect();
        assert_eq!(code, "0", "a status other than 0:\n{}", out.both());
    }
}

/// A failed pull: exit 125, MESSAGE said, nothing left in the store.
fn assert_refused(out: &Outcome, message: &str) {
    assert!(
        out.stdout.contains("status=125\n"),
        "exit status: {}",
        out.both()
    );
    assert!(out.stderr.contains(message), "message: {}", out.both());
    assert_eq!(
        store_left(out),
        "store: images=0 layers=0 tmp=0",
        "left behind: {}",
        out.both()
    );
}

/// The base layer's digest of library/busybox:latest, in shell.
const BASE_LAYER: &str = "base=$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
     http://$R/v2/library/busybox/manifests/latest | jq -r '.layers[0].digest')";

// --- pull and run --------------------------------------------------------------

#[test]
fn pulls_an_oci_image_and_runs_it() {
    let digest = fixtures().digest("latest");
    let out = run(
        &plain(),
        "$C pull $R/library/busybox; echo status=$?\n\
         $C run --rm $R/library/busybox sh -c 'echo $GREETING'\n\
         $C images | awk '{print $1}'\n\
         ls /run/ctr/blobs/sha256",
    );
    assert_ok(&out);
    let said =
        format!("pulled {ADDRESS}/library/busybox:latest ({digest}): 1 layers new, 0 already here");
    assert!(out.stderr.contains(&said), "{}", out.both());
    assert!(
        out.stderr.contains("pulling layer sha256:"),
        "{}",
        out.both()
    );
    // Not a terminal: quiet lines, no bars.
    assert!(
        !out.stderr.contains('\r') && !out.stderr.contains("\x1b["),
        "{}",
        out.both()
    );
    assert!(
        out.stdout.starts_with(&format!(
            "status=0\nhello from the image\nREFERENCE\n{ADDRESS}/library/busybox:latest\n"
        )),
        "{}",
        out.both()
    );
    // The manifest is kept by its digest, next to the config.
    assert!(out.stdout.contains(&digest[7..]), "{}", out.both());
    assert_eq!(store_left(&out), "store: images=1 layers=1 tmp=0");
}

#[test]
fn run_pulls_a_v2s2_image_it_does_not_have() {
    let digest = fixtures().digest("v2s2");
    let out = run(
        &plain(),
        "$C run --rm $R/library/busybox:v2s2 sh -c 'head -1 /etc/os-release'; echo status=$?\n\
         $C run --rm $R/library/busybox:v2s2 true 2>/run/second; echo status=$?; cat /run/second",
    );
    assert!(
        out.stdout
            .starts_with("NAME=\"ctr busybox rootfs\"\nstatus=0\nstatus=0\n"),
        "{}",
        out.both()
    );
    let unable = format!("Unable to find image '{ADDRESS}/library/busybox:v2s2' locally");
    assert_eq!(out.stderr.matches(&unable).count(), 1, "{}", out.both());
    assert!(
        out.stderr.contains(&format!("({digest})")),
        "{}",
        out.both()
    );
}

#[test]
fn pulls_and_runs_a_zstd_image() {
    // skopeo's zstd (application/vnd.oci.image.layer.v1.tar+zstd), as
    // podman and containerd pull it.
    let digest = fixtures().digest("zstd");
    let out = run(
        &plain(),
        "curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
           http://$R/v2/library/busybox/manifests/zstd | jq -r '.layers[0].mediaType'\n\
         $C run --rm $R/library/busybox:zstd sh -c 'echo $GREETING'; echo status=$?",
    );
    assert!(
        out.stdout.starts_with(
            "application/vnd.oci.image.layer.v1.tar+zstd\nhello from the image\nstatus=0\n"
        ),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains(&format!("({digest})")),
        "{}",
        out.both()
    );
}

#[test]
fn through_the_token_auth_registry() {
    // Docker Hub's flow: 401 + Bearer challenge, a token from the realm, retry.
    for field in ["token", "access_token"] {
        let out = run(
            &registry::start(Auth::Token(field)),
            "curl -s -o /dev/null -w '%{http_code}\\n' http://$R/v2/library/busybox/manifests/latest\n\
             $C pull $R/library/busybox; echo status=$?\n\
             $C run --rm $R/library/busybox echo pulled with a token",
        );
        assert!(
            out.stdout
                .starts_with("401\nstatus=0\npulled with a token\n"),
            "{field}: {}",
            out.both()
        );
    }
}

#[test]
fn an_expired_token_is_renewed_mid_pull() {
    // The proxy strips the token from the first blob request, as if it had
    // expired: the registry answers 401, ctr asks for a new token and goes on.
    let prelude = format!(
        "{}{}",
        registry::start(Auth::Token("token")),
        proxy(PROXY, ADDRESS, LOG, "--unauth /blobs/:1")
    );
    let out = run(
        &prelude,
        &format!("$C pull {PROXY}/library/busybox; echo status=$?; grep /blobs/ {LOG}"),
    );
    assert!(out.stdout.contains("status=0\n"), "{}", out.both());
    let blobs: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("/blobs/"))
        .collect();
    assert!(blobs[0].ends_with(" 401 auth=yes"), "{}", out.both());
    assert!(blobs[1].ends_with(" 200 auth=yes"), "{}", out.both());
    assert!(
        blobs[1].starts_with(blobs[0].split(" 401").next().unwrap()),
        "{}",
        out.both()
    );
}

#[test]
fn a_token_is_renewed_before_it_expires() {
    // Tokens last 3 s; the proxy holds the config's request 4 s, so the
    // layer is asked for after the first token ran out: ctr asks for a new
    // one first, and no request is refused for an expired token.
    let prelude = format!(
        // (The log is emptied of the token that waiting for the issuer got.)
        "export TOKEN_SECONDS=3 TOKEN_LOG=/run/tokens.log\n{}{}: > /run/tokens.log\n",
        registry::start(Auth::Token("token")),
        proxy(PROXY, ADDRESS, LOG, "--delay /blobs/:1:4")
    );
    let out = run(
        &prelude,
        &format!(
            "$C pull {PROXY}/library/busybox; echo status=$?\n\
             cat /run/tokens.log\n\
             cut -d' ' -f3 {LOG} | xargs echo statuses:"
        ),
    );
    // The first manifest request is answered 401 (no token yet); then
    // manifest, config, layer: all 200.
    assert!(
        out.stdout.starts_with(
            "status=0\ntoken for anonymous, 3 s\ntoken for anonymous, 3 s\n\
             statuses: 401 200 200 200\n"
        ),
        "{}",
        out.both()
    );
}

#[test]
fn a_multi_arch_index_yields_amd64() {
    assert_eq!(
        std::env::consts::ARCH,
        "x86_64",
        "the fixture index has amd64 and arm64 only"
    );
    let amd64 = fixtures().digest("amd64");
    let out = run(
        &plain(),
        "$C run --rm $R/library/busybox:multi cat /etc/arch; echo status=$?",
    );
    assert!(
        out.stdout.starts_with("amd64\nstatus=0\n"),
        "{}",
        out.both()
    );
    let said = format!(
        "{ADDRESS}/library/busybox:multi is an index of 3 manifests: taking linux/amd64 ({amd64})"
    );
    assert!(out.stderr.contains(&said), "{}", out.both());
    let digest = fixtures().digest("multi");
    assert!(
        out.stderr.contains(&format!(
            "pulled {ADDRESS}/library/busybox:multi ({digest})"
        )),
        "{}",
        out.both()
    );
}

#[test]
fn an_index_without_our_platform_lists_its_platforms() {
    let out = run(
        &plain(),
        "$C pull $R/library/busybox:noplatform; echo status=$?",
    );
    // The attestation (unknown/unknown) is not listed: it is not an image.
    assert_refused(
        &out,
        &format!(
            "ctr: pulling {ADDRESS}/library/busybox:noplatform: the image has no manifest for linux/amd64: \
             its platforms are linux/arm64/v8, linux/s390x; pull an image built for this machine"
        ),
    );
}

#[test]
fn whiteouts_and_opaque_directories_are_honoured() {
    let out = run(
        &plain(),
        "$C run --rm $R/library/busybox:layers sh -c 'ls /opt/data; cat /opt/keep/x; test -e /etc/motd || echo no motd'",
    );
    // a and b (layer 2) are hidden by layer 4's opaque marker, which brings c;
    // layer 3's whiteout removed /etc/motd; /opt/keep is untouched.
    assert!(
        out.stdout.starts_with("c\nkept\nno motd\n"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains("4 layers new, 0 already here"),
        "{}",
        out.both()
    );
}

#[test]
fn layers_shared_between_images_are_fetched_once() {
    let out = run(
        &proxied(""),
        &format!(
            "{BASE_LAYER}\n\
             $C pull {PROXY}/library/busybox; echo status=$?\n\
             $C pull {PROXY}/library/busybox:layers; echo status=$?\n\
             $C pull {PROXY}/library/busybox; echo status=$?\n\
             echo fetched=$(grep -c \"/blobs/$base \" {LOG}) short=${{base#sha256:}}"
        ),
    );
    assert!(
        out.stdout
            .starts_with("status=0\nstatus=0\nstatus=0\nfetched=1 short="),
        "{}",
        out.both()
    );
    let short = out.stdout.split("short=").nth(1).unwrap()[..12].to_string();
    assert!(
        out.stderr.contains("3 layers new, 1 already here"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr
            .contains(&format!("layer sha256:{short}… already exists")),
        "{}",
        out.both()
    );
    // Pulled again: the manifest is asked for, no layer is fetched.
    assert!(
        out.stderr.contains("0 layers new, 1 already here"),
        "{}",
        out.both()
    );
    assert_eq!(store_left(&out), "store: images=2 layers=4 tmp=0");
}

#[test]
fn concurrent_pulls_of_one_image_fetch_each_layer_once() {
    // Slowed to ~1 s per pull, so that the three overlap.
    let out = run(
        &proxied("--rate 1000000"),
        &format!(
            "{BASE_LAYER}\n\
             for i in 1 2 3; do ($C pull {PROXY}/library/busybox 2>/run/pull$i; echo status$i=$?) & pids=\"$pids $!\"; done\n\
             wait $pids\n\
             echo fetched=$(grep -c \"/blobs/$base \" {LOG})\n\
             cat /run/pull1 /run/pull2 /run/pull3 >&2\n\
             $C run --rm {PROXY}/library/busybox echo runs"
        ),
    );
    for i in 1..=3 {
        assert!(
            out.stdout.contains(&format!("status{i}=0\n")),
            "{}",
            out.both()
        );
    }
    assert!(out.stdout.contains("fetched=1\nruns\n"), "{}", out.both());
    assert_eq!(
        out.stderr.matches("1 layers new").count(),
        1,
        "{}",
        out.both()
    );
    assert_eq!(
        out.stderr.matches("0 layers new, 1 already here").count(),
        2,
        "{}",
        out.both()
    );
    assert_eq!(store_left(&out), "store: images=1 layers=1 tmp=0");
}

// --- where the registry is ----------------------------------------------------

#[test]
fn a_mirror_serves_docker_hub_pulls() {
    let digest = fixtures().digest("latest");
    let out = run(
        &plain(),
        "export CTR_REGISTRY_MIRROR=http://$R\n\
         $C pull busybox; echo status=$?\n\
         $C run --rm busybox sh -c 'echo $GREETING'\n\
         $C images | awk '{print $1}'",
    );
    assert!(
        out.stdout
            .starts_with("status=0\nhello from the image\nREFERENCE\nbusybox:latest\n"),
        "{}",
        out.both()
    );
    let said = format!("pulled docker.io/library/busybox:latest ({digest})");
    assert!(out.stderr.contains(&said), "{}", out.both());

    // A mirror that fails is said to be the cause; nothing else is tried.
    let out = run(
        "",
        "CTR_REGISTRY_MIRROR=http://127.0.0.1:5999 $C pull busybox; echo status=$?",
    );
    assert_refused(
        &out,
        "ctr: pulling docker.io/library/busybox:latest: the mirror http://127.0.0.1:5999 \
         (CTR_REGISTRY_MIRROR) failed, and ctr does not fall back to Docker Hub: fix the mirror, \
         or unset CTR_REGISTRY_MIRROR: cannot reach the registry 127.0.0.1:5999",
    );
}

#[test]
fn insecure_registries_are_spoken_to_over_http() {
    // A registry on an address that is not this machine's loopback: HTTPS,
    // unless CTR_INSECURE_REGISTRIES lists it.
    let prelude = format!(
        "ip addr add 192.0.2.10/32 dev lo\n{}{}",
        plain(),
        proxy("192.0.2.10:5000", ADDRESS, LOG, "")
    );
    let out = run(
        &prelude,
        "$C pull 192.0.2.10:5000/library/busybox; echo status=$?\n\
         ls /run/ctr/images | wc -l\n\
         CTR_INSECURE_REGISTRIES=10.0.0.1:5000,192.0.2.10:5000 $C pull 192.0.2.10:5000/library/busybox; echo status=$?\n\
         $C run --rm 192.0.2.10:5000/library/busybox echo over http",
    );
    assert!(
        out.stdout
            .starts_with("status=125\n0\nstatus=0\nover http\n"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains(
            "ctr: pulling 192.0.2.10:5000/library/busybox:latest: the registry 192.0.2.10:5000 \
             does not speak HTTPS as ctr expects (io: received corrupt message"
        ),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains(
            "): if it speaks plain HTTP, list it in CTR_INSECURE_REGISTRIES=192.0.2.10:5000\n"
        ),
        "{}",
        out.both()
    );
}

// --- logins -------------------------------------------------------------------

/// Shell lines that write docker's config.json with JSON as its `auths`
/// entry for the fixture registry.
fn docker_config(entry: &str) -> String {
    format!(
        "mkdir -p /run/docker; export DOCKER_CONFIG=/run/docker\n\
         cat > /run/docker/config.json <<'JSON'\n{{\"auths\":{{\"{ADDRESS}\":{entry}}}}}\nJSON\n"
    )
}

fn auth_entry(user: &str, password: &str) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("{{\"auth\":\"{auth}\"}}")
}

#[test]
fn logins_from_docker_config_json() {
    let (user, password) = LOGIN;
    let private = format!("{ADDRESS}/private/busybox");
    let token_registry = || registry::start(Auth::Token("token"));
    let pull = format!("$C run --rm {private} echo logged in; echo status=$?");
    for entry in [
        auth_entry(user, password),
        format!("{{\"username\":\"{user}\",\"password\":\"{password}\"}}"),
    ] {
        let out = run(
            &token_registry(),
            &format!("{}{pull}", docker_config(&entry)),
        );
        assert!(
            out.stdout.starts_with("logged in\nstatus=0\n"),
            "{entry}: {}",
            out.both()
        );
    }

    // No login: a token comes, without access; the registry says 401.
    let out = run(&token_registry(), &pull);
    assert_refused(
        &out,
        &format!("pulling {private}:latest: registry answered 401 (unauthorized): auth refused: log in with `docker login`"),
    );

    // A wrong password: the token server refuses it.
    let out = run(
        &token_registry(),
        &format!("{}{pull}", docker_config(&auth_entry(user, "wrong"))),
    );
    assert_refused(
        &out,
        &format!(
            "auth refused: the token server http://{ISSUER}/token refused the login for {ADDRESS} \
             in /run/docker/config.json: check the user and password"
        ),
    );
}

/// Shell lines that install `docker-credential-fixture` on PATH: docker's
/// credential helper protocol (`get`, the server on stdin, JSON on
/// stdout), logging what it was asked; with `found` false it answers as a
/// helper without that login does.
fn credential_helper(found: bool) -> String {
    let (user, password) = LOGIN;
    let answer = if found {
        format!("printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$server\"")
    } else {
        "echo 'credentials not found in native keychain'; exit 1".to_string()
    };
    format!(
        "mkdir -p /run/bin; export PATH=/run/bin:$PATH\n\
         cat > /run/bin/docker-credential-fixture <<'HELPER'\n\
         #!/bin/sh\n\
         [ \"$1\" = get ] || exit 2\n\
         server=$(cat)\n\
         echo \"asked for $server\" >> /run/helper.log\n\
         {answer}\n\
         HELPER\n\
         chmod +x /run/bin/docker-credential-fixture\n"
    )
}

#[test]
fn logins_from_credential_helpers() {
    let private = format!("{ADDRESS}/private/busybox");
    let pull = format!("$C run --rm {private} echo logged in; echo status=$?; cat /run/helper.log");
    let config = |json: &str| {
        format!(
            "mkdir -p /run/docker; export DOCKER_CONFIG=/run/docker\n\
             echo '{json}' > /run/docker/config.json\n"
        )
    };
    // credHelpers for this registry; credsStore for all (with an empty
    // auths entry, as `docker login` leaves one).
    for json in [
        format!("{{\"credHelpers\":{{\"{ADDRESS}\":\"fixture\"}}}}"),
        format!("{{\"auths\":{{\"{ADDRESS}\":{{}}}},\"credsStore\":\"fixture\"}}"),
    ] {
        let out = run(
            &registry::start(Auth::Token("token")),
            &format!("{}{}{pull}", credential_helper(true), config(&json)),
        );
        assert!(
            out.stdout
                .starts_with(&format!("logged in\nstatus=0\nasked for {ADDRESS}\n")),
            "{json}: {}",
            out.both()
        );
    }
    // A helper without the login: pulled anonymously, and refused.
    let json = format!("{{\"credHelpers\":{{\"{ADDRESS}\":\"fixture\"}}}}");
    let out = run(
        &registry::start(Auth::Token("token")),
        &format!("{}{}{pull}", credential_helper(false), config(&json)),
    );
    assert_refused(&out, "registry answered 401 (unauthorized): auth refused");
    // A helper that is not installed: said, with what to do.
    let json = format!("{{\"credHelpers\":{{\"{ADDRESS}\":\"pass\"}}}}");
    let out = run(
        &registry::start(Auth::Token("token")),
        &format!("{}{pull}", config(&json)),
    );
    assert_refused(
        &out,
        "the login for 127.0.0.1:5000 is kept by docker-credential-pass (credHelpers in \
         /run/docker/config.json): docker-credential-pass is not installed (not on PATH)",
    );
}

// --- bad input and failures -------------------------------------------------------

#[test]
fn an_unknown_tag_or_repository() {
    for name in ["library/nope:latest", "library/busybox:nope"] {
        let out = run(&plain(), &format!("$C pull $R/{name}; echo status=$?"));
        assert_refused(
            &out,
            &format!("ctr: pulling {ADDRESS}/{name}: registry answered 404 (manifest unknown): check the name and tag\n"),
        );
    }
    // `run` says the same, after docker's line, with the other way to get it.
    let out = run(&plain(), "$C run $R/library/nope true; echo status=$?");
    assert_refused(
        &out,
        &format!(
            "ctr: running {ADDRESS}/library/nope: unable to find image \"{ADDRESS}/library/nope:latest\" \
             locally: load it with `ctr import FILE` (see `ctr images` for what is here); and pulling it \
             failed: pulling {ADDRESS}/library/nope:latest: registry answered 404 (manifest unknown)"
        ),
    );
}

#[test]
fn the_registry_is_down() {
    let out = run("", "$C pull 127.0.0.1:5999/library/busybox; echo status=$?");
    assert_refused(
        &out,
        "ctr: pulling 127.0.0.1:5999/library/busybox:latest: cannot reach the registry 127.0.0.1:5999 \
         (io: Connection refused (os error 111)): check the name and port, and that the registry is running\n",
    );
}

#[test]
fn a_blob_that_does_not_match_its_digest_leaves_nothing() {
    // A copy of the storage whose busybox layer has one byte changed: the
    // registry serves it as it is.
    let corrupt = registry::corrupt_copy("/run/storage");
    let prelude = format!(
        "{corrupt}{}",
        registry::start_on(std::path::Path::new("/run/storage"), Auth::None)
    );
    let out = run(
        &prelude,
        "$C pull $R/library/busybox; echo status=$?\n$C images | tail -n +2 | wc -l",
    );
    assert_refused(&out, "does not match its digest");
    assert!(
        out.stderr
            .contains("the download is corrupt or was tampered with; nothing was kept, try again"),
        "{}",
        out.both()
    );
    assert!(out.stdout.contains("status=125\n0\n"), "{}", out.both());
}

#[test]
fn a_pull_killed_mid_download_is_followed_by_one_that_succeeds() {
    // ~100 kB/s: the 1 MB layer takes ten seconds, and is killed after a few
    // hundred kB have been unpacked into tmp/.
    let out = run(
        &proxied("--rate 100000"),
        &format!(
            "$C pull {PROXY}/library/busybox 2>/dev/null & pid=$!\n\
             wait_for sh -c 'ls /run/ctr/tmp | grep -q ^layer- && [ $(du -s /run/ctr/tmp | cut -f1) -gt 100 ]'\n\
             kill -9 $pid; wait $pid; echo killed=$?\n\
             echo \"after kill: images=$(ls /run/ctr/images | wc -l) layers=$(ls /run/ctr/layers | wc -l) tmp=$(ls /run/ctr/tmp | wc -l)\"\n\
             $C pull $R/library/busybox; echo status=$?\n\
             $C run --rm $R/library/busybox echo whole"
        ),
    );
    assert!(
        out.stdout
            .starts_with("killed=137\nafter kill: images=0 layers=0 tmp=1\nstatus=0\nwhole\n"),
        "{}",
        out.both()
    );
    // The killed pull's leftovers are gone.
    assert_eq!(store_left(&out), "store: images=1 layers=1 tmp=0");
}

#[test]
fn a_full_disk_leaves_the_store_as_it_was() {
    // A store on a 1 MiB tmpfs, holding a small image; busybox does not fit.
    let dir = support::ctr::scratch("pull-full-disk");
    let small = support::ctr::plain(&[support::ctr::Entry::File("hello", "hi\n")]);
    support::ctr::write_layout(&dir, "latest", &[small], &["cat", "/hello"]);
    let out = run(
        &plain(),
        &format!(
            "mkdir -p /run/ctr && mount -t tmpfs -o size=1m ctr-full /run/ctr\n\
             $C import {} small >/dev/null || exit 99\n\
             $C images > /run/before\n\
             $C pull $R/library/busybox; echo status=$?\n\
             $C images | diff /run/before - && echo images unchanged",
            quote(&dir.display().to_string())
        ),
    );
    assert!(
        out.stdout.starts_with("status=125\nimages unchanged\n"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains(&format!(
            "ctr: pulling {ADDRESS}/library/busybox:latest: no space left on the disk of /run/ctr: \
             nothing was kept; free some space, or choose another store with --root or CTR_ROOT"
        )),
        "{}",
        out.both()
    );
    assert_eq!(store_left(&out), "store: images=1 layers=1 tmp=0");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failures_that_pass_are_tried_again() {
    // The first manifest request fails with 500, the first blob request is
    // rate-limited with Retry-After: 1.
    let out = run(
        &proxied("--fail 500:/manifests/:1 --fail 429:/blobs/:1:1"),
        &format!(
            "start=$(date +%s%N)\n\
             $C pull {PROXY}/library/busybox; echo status=$?\n\
             echo waited_ms=$(( ($(date +%s%N) - start) / 1000000 ))\n\
             cut -d' ' -f3 {LOG} | xargs echo statuses:"
        ),
    );
    assert!(out.stdout.contains("status=0\n"), "{}", out.both());
    // manifest 500, 200; config blob 429, 200; layer 200.
    assert!(
        out.stdout.contains("statuses: 500 200 429 200 200\n"),
        "{}",
        out.both()
    );
    let waited: u64 = out
        .stdout
        .split("waited_ms=")
        .nth(1)
        .and_then(|s| s.lines().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(
        waited >= 1000,
        "Retry-After: 1 was not honoured ({waited} ms)\n{}",
        out.both()
    );

    // Too long a wait is not waited for.
    let out = run(
        &proxied("--fail 429:/manifests/:1:3600"),
        &format!("$C pull {PROXY}/library/busybox; echo status=$?"),
    );
    assert_refused(
        &out,
        "registry answered 429 (injected): the registry limits how often you pull: wait, or log in \
         for a higher limit; it asks us to wait 3600 s, more than the 30 s ctr waits",
    );
}

#[test]
fn parallel_runs_of_an_image_not_pulled_yet_all_start() {
    // The issue's case: six `run -d` at once of an image not here, five
    // rounds, each in a fresh store. Each pulls (the first to lock a layer
    // fetches it), writes its container's record, and the pulls clean
    // tmp/ as they finish: no writer may lose its file to another. (No
    // network: what is raced for here is the store.)
    let out = run(
        &plain(),
        "for round in 1 2 3 4 5; do\n\
           export CTR_ROOT=/run/ctr-$round pids=\n\
           for i in 1 2 3 4 5 6; do\n\
             ( $C run -d --network none --name c$i $R/library/busybox sleep 60 >/dev/null \
               2>/run/err-$round-$i; echo $? > /run/status-$round-$i ) & pids=\"$pids $!\"\n\
           done\n\
           wait $pids\n\
           $C rm -f c1 c2 c3 c4 c5 c6 >/dev/null\n\
         done\n\
         echo statuses: $(cat /run/status-* | sort | uniq -c | xargs)\n\
         echo \"seconds: $SECONDS\" >&2\n\
         cat /run/err-* >&2\n\
         export CTR_ROOT=/run/ctr",
    );
    assert!(out.stdout.starts_with("statuses: 30 0\n"), "{}", out.both());
    assert!(!out.stderr.contains("ctr:"), "{}", out.both());
}
