//! Lesson 4, from the outside: pulling from a real registry (Debian's
//! docker-registry) in the sandbox, plain and behind Docker Hub's token auth,
//! every bad input the issue lists, and the properties of lessons 1–3.
mod support;

use support::checks::Lesson;
use support::fixtures::fixtures;
use support::registry::{self, Auth, ADDRESS, LOGIN, STATIC};
use support::{binary, quote, sandbox, Outcome};

fn lesson() -> Lesson {
    Lesson::get(4)
}

/// The lesson's binary, quoted for sh.
fn bin() -> String {
    quote(&binary("step-04-pull").display().to_string())
}

/// Where images go in the sandbox (a tmpfs that dies with it).
const STORE: &str = "/run/ctr/lessons/04";

/// Runs SCRIPT in a sandbox where CTR_ROOT is /run/ctr, `$B` is the lesson,
/// and PRELUDE (a registry) has started. Afterwards it prints what the store
/// holds, so a test sees what was left behind.
fn run(prelude: &str, script: &str) -> Outcome {
    sandbox(&format!(
        "export CTR_ROOT=/run/ctr B={}\n{prelude}{script}\n\
         echo \"images: $(ls {STORE}/images/sha256 2>/dev/null | xargs) tmp: $(ls -A {STORE}/tmp 2>/dev/null | xargs)\"",
        bin()
    ))
}

fn image(name: &str) -> String {
    format!("{ADDRESS}/{name}")
}

/// The last line of the script's output: what the store holds.
fn store_left(out: &Outcome) -> &str {
    out.stdout.lines().last().unwrap_or_default()
}

/// Asserts a failed pull: exit 125, MESSAGE said, nothing kept.
fn assert_refused(out: &Outcome, message: &str) {
    assert!(
        out.stdout.contains("status=125\n"),
        "exit status: {}",
        out.both()
    );
    assert!(out.stderr.contains(message), "message: {}", out.both());
    assert_eq!(
        store_left(out),
        "images:  tmp: ",
        "left behind: {}",
        out.both()
    );
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

// --- what lesson 4 adds ------------------------------------------------------

#[test]
fn runs_an_oci_image_with_its_config() {
    let digest = fixtures().digest("latest");
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "HOST_ONLY=1 $B run {} sh -c 'echo $GREETING; pwd; echo ${{HOST_ONLY:-unset}}'; echo status=$?\n\
             cat {STORE}/refs/{ADDRESS}/library/busybox:latest",
            image("library/busybox")
        ),
    );
    assert_eq!(
        out.stdout,
        format!(
            "hello from the image\n/\nunset\nstatus=0\n{digest}\nimages: {} tmp: \n",
            hex(digest)
        ),
        "{}",
        out.both()
    );
    // It says where it put the image.
    let said = format!("pulled {digest} into {STORE}/images/sha256/{}", hex(digest));
    assert!(out.stderr.contains(&said), "{}", out.both());
}

#[test]
fn runs_a_docker_v2s2_image() {
    let digest = fixtures().digest("v2s2");
    assert_ne!(
        digest,
        fixtures().digest("latest"),
        "the same manifest twice"
    );
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {} cat /etc/os-release; echo status=$?",
            image("library/busybox:v2s2")
        ),
    );
    assert!(
        out.stdout.starts_with("NAME=\"ctr busybox rootfs\"\n"),
        "{}",
        out.both()
    );
    assert!(out.stdout.contains("status=0\n"), "{}", out.both());
    assert!(
        out.stderr.contains(&format!("pulled {digest}")),
        "{}",
        out.both()
    );
}

#[test]
fn pull_then_run_reuses_the_image() {
    let digest = fixtures().digest("latest");
    let name = image("library/busybox");
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B pull {name}; echo status=$?; $B pull {name}; echo status=$?; \
             $B run {name} true; echo status=$?"
        ),
    );
    assert_eq!(
        out.stdout,
        format!(
            "status=0\nstatus=0\nstatus=0\nimages: {} tmp: \n",
            hex(digest)
        ),
        "{}",
        out.both()
    );
    let dir = format!("{STORE}/images/sha256/{}", hex(digest));
    assert!(
        out.stderr
            .contains(&format!("already have {digest} in {dir}")),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains(&format!(
            "using {name}:latest ({digest}), pulled before, from {dir}"
        )),
        "{}",
        out.both()
    );
    assert_eq!(out.stderr.matches("layer 1/1").count(), 1, "{}", out.both());
}

#[test]
fn pulls_by_digest() {
    let digest = fixtures().digest("latest");
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {}@{digest} echo ok; echo status=$?",
            image("library/busybox")
        ),
    );
    assert!(out.stdout.starts_with("ok\nstatus=0\n"), "{}", out.both());
    assert_eq!(store_left(&out), format!("images: {} tmp: ", hex(digest)));
}

#[test]
fn entrypoint_cmd_and_working_dir() {
    let name = image("library/busybox:entrypoint");
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {name}; $B run {name} given args; \
             test -d {STORE}/images/sha256/*/rootfs/srv/app && echo workdir made"
        ),
    );
    assert!(
        out.stdout
            .starts_with("entry: default\nentry: given args\nworkdir made\n"),
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
            &format!(
                "curl -s -o /dev/null -w '%{{http_code}}\\n' http://{ADDRESS}/v2/library/busybox/manifests/latest; \
                 $B run {} echo pulled with a token; echo status=$?",
                image("library/busybox")
            ),
        );
        assert!(
            out.stdout
                .starts_with("401\npulled with a token\nstatus=0\n"),
            "{field}: {}",
            out.both()
        );
    }
}

#[test]
fn a_login_from_docker_config() {
    let (user, password) = LOGIN;
    let config = |login: &str| {
        format!(
            "mkdir -p /run/docker; export DOCKER_CONFIG=/run/docker; \
             printf '{{\"auths\":{{\"{ADDRESS}\":{{\"auth\":\"%s\"}}}}}}' $(printf {login} | base64) \
             > /run/docker/config.json\n"
        )
    };
    let private = image("private/busybox");
    let out = run(
        &registry::start(Auth::Token("token")),
        &format!(
            "{}$B run {private} echo logged in; echo status=$?",
            config(&format!("{user}:{password}"))
        ),
    );
    assert!(
        out.stdout.starts_with("logged in\nstatus=0\n"),
        "{}",
        out.both()
    );

    // No login: the token comes, without access; the registry says 401.
    let out = run(
        &registry::start(Auth::Token("token")),
        &format!("$B run {private} true; echo status=$?"),
    );
    assert_refused(
        &out,
        &format!("pulling {private}:latest: registry answered 401 (unauthorized): auth refused: log in with `docker login`"),
    );

    // A wrong password: the token server refuses it.
    let out = run(
        &registry::start(Auth::Token("token")),
        &format!(
            "{}$B run {private} true; echo status=$?",
            config(&format!("{user}:wrong"))
        ),
    );
    assert_refused(
        &out,
        &format!(
            "auth refused: the token server http://{}/token refused the login for {ADDRESS} \
             in /run/docker/config.json: check the user and password",
            registry::ISSUER
        ),
    );
}

#[test]
fn a_multi_arch_index_yields_our_platform() {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("the fixture index has amd64 and arm64 only, not {other}"),
    };
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {} cat /etc/arch; echo status=$?",
            image("library/busybox:multi")
        ),
    );
    assert!(
        out.stdout.starts_with(&format!("{arch}\nstatus=0\n")),
        "{}",
        out.both()
    );
    assert!(
        out.stderr
            .contains("is an index of 3 manifests: taking linux/"),
        "{}",
        out.both()
    );
    if arch == "amd64" {
        let amd64 = fixtures().digest("amd64");
        assert_eq!(store_left(&out), format!("images: {} tmp: ", hex(amd64)));
    }
}

#[test]
fn whiteouts_and_opaque_directories_are_honoured() {
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {} sh -c 'ls /opt/data; cat /opt/keep/x; test -e /etc/motd || echo no motd'",
            image("library/busybox:layers")
        ),
    );
    // a and b (layer 2) are hidden by layer 4's opaque marker, which brings c;
    // layer 3's whiteout removed /etc/motd; /opt/keep is untouched.
    assert!(
        out.stdout.starts_with("c\nkept\nno motd\n"),
        "{}",
        out.both()
    );
    assert!(out.stderr.contains("layer 4/4"), "{}", out.both());
}

// --- bad input ---------------------------------------------------------------

#[test]
fn unknown_image_or_tag() {
    for name in ["library/nope:latest", "library/busybox:nope"] {
        let out = run(
            &registry::start(Auth::None),
            &format!("$B run {} true; echo status=$?", image(name)),
        );
        assert_refused(
            &out,
            &format!(
                "step-04-pull: pulling {}: registry answered 404 (manifest unknown): check the name and tag",
                image(name)
            ),
        );
    }
}

#[test]
fn registry_unreachable() {
    let out = run("", "$B pull 127.0.0.1:5999/library/busybox; echo status=$?");
    assert_refused(
        &out,
        "pulling 127.0.0.1:5999/library/busybox:latest: cannot reach the registry 127.0.0.1:5999",
    );
    assert!(out
        .stderr
        .contains("check the name and port, and that the registry is running"));
}

#[test]
fn a_blob_that_does_not_match_its_digest() {
    // A copy of the storage whose busybox layer has one byte changed: the
    // registry serves it as it is.
    let corrupt = registry::corrupt_copy("/run/storage");
    let prelude = format!(
        "{corrupt}{}",
        registry::start_on(std::path::Path::new("/run/storage"), Auth::None)
    );
    let out = run(
        &prelude,
        &format!("$B run {} true; echo status=$?", image("library/busybox")),
    );
    assert_refused(&out, "does not match its digest");
    assert!(
        out.stderr
            .contains("the download is corrupt or was tampered with; nothing was kept, try again"),
        "{}",
        out.both()
    );
}

#[test]
fn a_layer_entry_with_dotdot_is_refused() {
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {} true; echo status=$?; find /run/ctr -name 'escaped*'",
            image("library/evil:dotdot")
        ),
    );
    assert_refused(
        &out,
        "refusing the entry \"../../../../../escaped-dotdot\": it climbs out of the rootfs with `..`",
    );
    assert!(
        !out.stdout.contains("escaped"),
        "written outside: {}",
        out.both()
    );
}

#[test]
fn writes_through_symlinks_stay_in_the_rootfs() {
    // hostrun -> /run and up -> ../../../../.. : the files written through
    // them land in the rootfs, not in the sandbox's /run or the store.
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {} cat /run/escaped-symlink /escaped-up; echo status=$?; \
             ls /run/escaped-symlink /run/ctr/escaped-up 2>&1 | grep -c 'No such file'",
            image("library/evil:symlink")
        ),
    );
    assert!(
        out.stdout.starts_with(
            "written through an absolute symlink\nwritten through a relative symlink\nstatus=0\n2\n"
        ),
        "{}",
        out.both()
    );
}

#[test]
fn a_hard_link_to_a_host_file_is_refused() {
    // stolen -> hostrun/host-secret, where hostrun -> /run: resolved in the
    // rootfs, where there is no such file. The sandbox's file keeps 1 link.
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "echo secret > /run/host-secret; $B run {} true; echo status=$?; \
             stat -c 'links=%h' /run/host-secret",
            image("library/evil:hardlink")
        ),
    );
    assert_refused(&out, "unpacking stolen: linking to hostrun/host-secret");
    assert!(out.stdout.contains("links=1\n"), "{}", out.both());
}

#[test]
fn a_whiteout_of_dotdot_is_refused() {
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {} true; echo status=$?",
            image("library/evil:whiteout")
        ),
    );
    assert_refused(
        &out,
        "refusing the whiteout \"etc/.wh...\": it names no file of the layers below",
    );
}

#[test]
fn a_malformed_manifest() {
    let out = run(
        &registry::start_static(),
        &format!("$B run {STATIC}/library/broken true; echo status=$?"),
    );
    assert_refused(
        &out,
        &format!("pulling {STATIC}/library/broken:latest: the manifest is not valid JSON: EOF while parsing"),
    );
}

#[test]
fn a_manifest_naming_a_bad_digest() {
    let out = run(
        &registry::start_static(),
        &format!("$B run {STATIC}/library/baddigest true; echo status=$?"),
    );
    assert_refused(
        &out,
        "the manifest names a blob by a bad digest: \"sha256:../../../../escaped\" is not a digest",
    );
}

#[test]
fn no_matching_platform() {
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {} true; echo status=$?",
            image("library/busybox:noplatform")
        ),
    );
    let want = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        other => other,
    };
    // The attestation (unknown/unknown) is not listed: it is not an image.
    assert_refused(
        &out,
        &format!("the image has no linux/{want}: it has linux/arm64/v8, linux/s390x; pull an image built for this machine"),
    );
}

#[test]
fn a_digest_that_is_not_algorithm_hex() {
    for (digest, message) in [
        (
            "sha256:xyz",
            "\"sha256:xyz\" is not a digest: a digest is `sha256:` and 64 lower-case hex digits",
        ),
        (
            "nodigest",
            "\"nodigest\" is not a digest: a digest is `sha256:` and 64 hex digits",
        ),
    ] {
        let out = run(
            "",
            &format!(
                "$B run {}@{digest} true; echo status=$?",
                image("library/busybox")
            ),
        );
        assert_refused(&out, &format!("step-04-pull: {message}"));
    }
}

// --- what lessons 1–3 did still holds ----------------------------------------

recheck!(
    hostname_is_isolated,
    exit_status_is_the_containers,
    signals_reach_the_container,
    sigterm_without_a_handler,
    signals_start_as_default,
    command_is_pid_1,
    command_errors,
    refuses_non_root,
    proc_lists_only_the_container,
    host_paths_are_invisible,
    host_mounts_are_unchanged,
    host_descriptors_do_not_reach_the_container,
);

// --- transcripts for the book ------------------------------------------------

/// Runs SCRIPT as a reader would: see support::transcript::as_a_reader.
fn as_a_reader(prelude: &str, script: &str) -> Outcome {
    support::transcript::as_a_reader("step-04-pull", prelude, script)
}

/// Host PIDs and HTTP dates vary from run to run; digests do not (the
/// fixtures are reproducible).
const VARIES: [(&str, &str); 2] = [
    (r"PID \d+ on the host", "PID <pid> on the host"),
    (r"(?m)^Date: .*$", "Date: <date>"),
];

#[test]
fn transcripts_of_a_pull_and_a_run() {
    let name = image("library/busybox");
    let pull = format!("step-04-pull pull {name}");
    let out = as_a_reader(&registry::start(Auth::None), &format!("{pull} 2>&1"));
    assert_eq!(out.status, 0, "{}", out.both());
    support::transcript::check("step-04-pull.txt", &pull, &out.stdout, &VARIES);

    let run = format!("step-04-pull run {name} sh -c 'echo $GREETING; cat /etc/os-release'");
    let out = as_a_reader(
        &registry::start(Auth::None),
        &format!("step-04-pull pull {name} 2>/dev/null; {run} 2>&1"),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    support::transcript::check("step-04-run.txt", &run, &out.stdout, &VARIES);
}

#[test]
fn transcripts_of_the_api_with_curl() {
    // The 401 and its challenge, from the token registry.
    let challenge = format!("curl -si http://{ADDRESS}/v2/library/busybox/manifests/latest");
    let out = as_a_reader(&registry::start(Auth::Token("token")), &challenge);
    assert!(out.stdout.starts_with("HTTP/1.1 401"), "{}", out.both());
    let crlf = ("\r", "");
    let text = out.stdout.replace(crlf.0, crlf.1);
    support::transcript::check("step-04-curl-401.txt", &challenge, &text, &VARIES);

    // The manifest, from the plain registry, asked for with an Accept header.
    let manifest = format!(
        "curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
         http://{ADDRESS}/v2/library/busybox/manifests/latest | jq ."
    );
    let out = as_a_reader(&registry::start(Auth::None), &manifest);
    assert!(out.stdout.contains("\"layers\""), "{}", out.both());
    support::transcript::check("step-04-curl-manifest.txt", &manifest, &out.stdout, &VARIES);
}
