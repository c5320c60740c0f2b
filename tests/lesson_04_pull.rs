//! Lesson 4, from the outside: pulling from a real registry (Debian's
//! docker-registry) in the sandbox, plain and behind Docker Hub's token auth,
//! every bad input the issue lists, and the properties of lessons 1–3. (The
//! lesson has no unit tests: what they would check is checked here, through
//! the program.)
mod support;

use support::checks::Lesson;
use support::ctr_pull::proxy;
use support::fixtures::fixtures;
use support::registry::{self, Auth, ADDRESS, STATIC};
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
        out.stderr
            .contains(&format!("using {name}:latest, pulled before, from {dir}")),
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
fn a_private_image_needs_a_login_the_lesson_does_not_read() {
    // The token comes, anonymous, without access to private/*: the registry
    // says 401 again. Logins (docker's config.json) are ctr's: see
    // tests/ctr_pull.rs, logins_from_docker_config_json.
    let private = image("private/busybox");
    let out = run(
        &registry::start(Auth::Token("token")),
        &format!("$B run {private} true; echo status=$?"),
    );
    assert_refused(
        &out,
        &format!(
            "pulling {private}:latest: registry answered 401 (unauthorized): auth refused: \
             the image is private or does not exist; this lesson pulls public images only"
        ),
    );
}

#[test]
fn blobs_redirected_to_another_host_get_no_token() {
    // As tests/ctr_faults.rs does for ctr: in front of the token registry, a
    // proxy that redirects every blob to a "CDN" on 127.0.0.2 (a registry
    // without auth on the same storage, behind a logging proxy of its own).
    let prelude = format!(
        "{}\
         sed -e 's/addr: 127.0.0.1:5000/addr: 127.0.0.2:5006/' -e '/^auth:/,$d' /run/registry.yml > /run/cdn.yml\n\
         docker-registry serve /run/cdn.yml > /run/cdn.log 2>&1 &\n\
         {}\n{}{}",
        registry::start(Auth::Token("token")),
        registry::wait_http("127.0.0.2:5006", "/v2/"),
        proxy("127.0.0.2:5004", "127.0.0.2:5006", "/run/cdn-proxy.log", ""),
        proxy(
            "127.0.0.1:5003",
            ADDRESS,
            "/run/proxy.log",
            "--redirect /blobs/:http://127.0.0.2:5004"
        ),
    );
    let out = run(
        &prelude,
        "$B run 127.0.0.1:5003/library/busybox echo redirected; echo status=$?\n\
         echo --- registry; grep /blobs/ /run/proxy.log; echo --- cdn; grep /blobs/ /run/cdn-proxy.log",
    );
    assert!(
        out.stdout
            .starts_with("redirected\nstatus=0\n--- registry\n"),
        "{}",
        out.both()
    );
    let section = |name: &str| -> Vec<String> {
        let text = out.stdout.split(&format!("--- {name}\n")).nth(1);
        let lines = text.unwrap_or_default().lines();
        lines
            .take_while(|l| l.starts_with("GET "))
            .map(String::from)
            .collect()
    };
    let (asked, fetched) = (section("registry"), section("cdn"));
    // The config and the layer: each asked of the registry with the token,
    // redirected, and fetched from the other host without it.
    assert_eq!((asked.len(), fetched.len()), (2, 2), "{}", out.both());
    for (asked, fetched) in asked.iter().zip(&fetched) {
        assert!(asked.ends_with(" 307 auth=yes"), "{}", out.both());
        assert!(fetched.ends_with(" 200 auth=no"), "{}", out.both());
        assert_eq!(asked.split(' ').nth(1), fetched.split(' ').nth(1));
    }
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
        "pulling 127.0.0.1:5999/library/busybox:latest: cannot reach the registry at \
         http://127.0.0.1:5999/v2/library/busybox/: check the name and port, and that it runs: ",
    );
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
    assert_refused(
        &out,
        "unpacking stolen: No such file or directory (os error 2) when hard linking \
         hostrun/host-secret",
    );
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
        // oci-spec's check, as the manifest is read: before any digest is used.
        "reading the image manifest: Invalid encoded value ../../../../escaped",
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
    // Refused before it gets near a path, or the network.
    let mut script = String::new();
    for digest in [
        "sha256:xyz".to_string(),
        "nodigest".to_string(),
        "sha256:../../etc/passwd".to_string(),
        format!("sha256:{}", "0F".repeat(32)),
        format!("sha512:{}", "0f".repeat(64)),
        format!("sha256:{}", "0f".repeat(31)),
    ] {
        let name = image(&format!("library/busybox@{digest}"));
        script.push_str(&format!("$B run {name} true; echo status=$?\n"));
    }
    let out = run("", &script);
    assert_eq!(
        out.stdout.matches("status=125\n").count(),
        6,
        "{}",
        out.both()
    );
    let said = "is not a digest: a digest is `sha256:` and 64 lower-case hex digits";
    assert_eq!(out.stderr.matches(said).count(), 6, "{}", out.both());
    assert!(out
        .stderr
        .contains("step-04-pull: \"nodigest\" is not a digest"));
    assert_eq!(store_left(&out), "images:  tmp: ", "{}", out.both());
}

#[test]
fn names_say_where_an_image_is() {
    // Docker's defaults, and plain HTTP only to this machine. No registry
    // answers (the sandbox has no network): each pull fails after saying
    // where it went.
    let names = [
        (
            "redis",
            "https://registry-1.docker.io/v2/library/redis/",
            "docker.io/library/redis:latest",
        ),
        (
            "redis:7",
            "https://registry-1.docker.io/v2/library/redis/",
            "docker.io/library/redis:7",
        ),
        (
            "grafana/loki:3.0",
            "https://registry-1.docker.io/v2/grafana/loki/",
            "docker.io/grafana/loki:3.0",
        ),
        (
            "docker.io/redis",
            "https://registry-1.docker.io/v2/library/redis/",
            "docker.io/library/redis:latest",
        ),
        (
            "ghcr.io/o/r",
            "https://ghcr.io/v2/o/r/",
            "ghcr.io/o/r:latest",
        ),
        (
            "localhost/x",
            "http://localhost/v2/x/",
            "localhost/x:latest",
        ),
        (
            "localhost:5999/a/b:v1",
            "http://localhost:5999/v2/a/b/",
            "localhost:5999/a/b:v1",
        ),
        (
            "127.0.0.1:5999/a",
            "http://127.0.0.1:5999/v2/a/",
            "127.0.0.1:5999/a:latest",
        ),
        (
            "10.0.0.1:5999/a",
            "https://10.0.0.1:5999/v2/a/",
            "10.0.0.1:5999/a:latest",
        ),
        (
            "localhost.evil.com/a",
            "https://localhost.evil.com/v2/a/",
            "localhost.evil.com/a:latest",
        ),
    ];
    let d = format!("sha256:{}", "ab".repeat(32));
    let by_digest = format!("127.0.0.1:5999/a@{d}");
    let mut script = String::new();
    for (name, _, _) in names {
        script.push_str(&format!("$B pull {name}\n"));
    }
    script.push_str(&format!("$B pull {by_digest}\n"));
    let out = run("", &script);
    for (_, url, reference) in names {
        let said = format!("step-04-pull: pulling {reference} from {url}\n");
        assert!(out.stderr.contains(&said), "{said}{}", out.both());
    }
    let said = format!("pulling {by_digest} from http://127.0.0.1:5999/v2/a/\n");
    assert!(out.stderr.contains(&said), "{said}{}", out.both());
}

#[test]
fn bad_names_are_refused() {
    let mut script = String::new();
    for bad in [
        "Busybox",
        "a//b",
        "-a",
        "a:",
        "a:.x",
        "a/b/",
        "a/../b",
        "''",
        "..:5000/a",
        "a@sha256:xyz",
    ] {
        script.push_str(&format!("$B pull -- {bad}; echo status=$?\n"));
    }
    let out = run("", &script);
    assert_eq!(
        out.stdout.matches("status=125\n").count(),
        10,
        "{}",
        out.both()
    );
    // A bad tag (`a:`, `a:.x`) makes the name a bad one.
    let names = out
        .stderr
        .matches("is not a valid image name: a name is lower-case")
        .count();
    let digests = out.stderr.matches("is not a digest").count();
    assert_eq!((names, digests), (9, 1), "{}", out.both());
}

#[test]
fn the_command_keeps_its_own_flags() {
    let out = run(
        &registry::start(Auth::None),
        &format!(
            "$B run {} echo -la --hostname x; echo status=$?\n\
             $B run 2>&1 | head -1; $B pull 2>&1 | head -1",
            image("library/busybox")
        ),
    );
    assert!(
        out.stdout.starts_with(
            "-la --hostname x\nstatus=0\n\
             error: the following required arguments were not provided:\n\
             error: the following required arguments were not provided:\n"
        ),
        "{}",
        out.both()
    );
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
