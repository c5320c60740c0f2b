//! Lesson 9, from the outside: the container's root is uid 0 of its own
//! user namespace and someone else on the host. Run by root (the sandbox's),
//! it is host ids 100000 and up; run by an ordinary user (uid 65534, with a
//! home the test makes, no sudo), it is that user. What the user cannot
//! have (the bridge, the cgroup) is left out with a line saying so; and the
//! properties of lessons 1–8 still hold when root runs it.
mod support;

use support::checks::Lesson;
use support::quote;

fn lesson() -> Lesson {
    Lesson::get(9)
}

/// Shell lines run inside the container by both tests: who it is, what it
/// makes, where root of a user namespace is refused.
const INSIDE: &str = r#"exec 2>&1
echo "uid=$(id -u) gid=$(id -g)"
ip -o link show lo | grep -q UP && echo "lo is up"
sed 's/^ */map: /' /proc/self/uid_map
touch /tmp/made && echo "made /tmp/made"
touch /made && echo "made /made"
chown 1000:1000 /tmp/made && echo "chowned to 1000"
ls /root >/dev/null && echo "read /root"
echo 1 > /proc/sys/kernel/hostname || echo "no /proc/sys"
mknod /tmp/kmsg c 1 11 || echo "no mknod"
"#;

/// Shell lines that make uid 65534 a home on the sandbox's /run, define
/// `as_user CMD...` (CMD as that user, with that HOME, no CTR_ROOT, and
/// /run/user9/bin first on PATH) and `$B` (the lesson), then run BODY and
/// list what changed outside the home where a user could write at all
/// (but in this build's target/, where the VM tier's runner writes its own
/// files meanwhile, when the repository is under /tmp).
fn as_user(body: &str) -> String {
    let bin = quote(&lesson().bin.display().to_string());
    let target = quote(&support::target_dir().display().to_string());
    format!(
        r#"H=/run/user9/home B={bin}
mkdir -p $H /run/user9/bin && chown -R 65534:65534 /run/user9
as_user() {{ setpriv --reuid 65534 --regid 65534 --clear-groups env -u CTR_ROOT HOME=$H PATH=/run/user9/bin:$PATH "$@"; }}
touch /run/mark
{body}
find /tmp /var/tmp /dev/shm /run /var/lib/ctr \( -path /run/user9 -o -path {target} \) -prune -o -newer /run/mark -print 2>/dev/null | sed 's/^/outside: /'
"#
    )
}

#[test]
fn an_ordinary_user_runs_it_without_sudo_as_root_inside() {
    let image = lesson().image.unwrap();
    let script = as_user(&format!(
        "as_user $B pull {image} >/dev/null 2>/run/user9/pull.err || cat /run/user9/pull.err\n\
         as_user $B run {image} sh -c {} 2>/run/user9/run.err; echo status=$?\n\
         sed 's/^/said: /' /run/user9/run.err\n\
         store=$(echo $H/.local/share/step-09/images/sha256/*/rootfs)\n\
         echo \"/made: $(stat -c %u:%g $store/made)\"\n\
         echo \"store: $(stat -c %u $H/.local/share/step-09)\"\n",
        quote(INSIDE)
    ));
    let out = lesson().sandbox(&script);
    assert_eq!(out.status, 0, "{}", out.both());
    let lines: Vec<&str> = out.stdout.lines().map(str::trim_end).collect();
    for want in [
        "uid=0 gid=0",
        "lo is up",
        // One id: the user's own.
        "map: 0      65534          1",
        "made /tmp/made",
        // The rootfs is the user's, so root inside may write it...
        "made /made",
        "read /root",
        "no /proc/sys",
        "no mknod",
        "status=0",
        // ...and what it makes is the user's on the host.
        "/made: 65534:65534",
        "store: 65534",
        "said: step-09-userns: the bridge needs root: this container has only a loopback",
        "said: step-09-userns: limits need root or a delegated cgroup: none set",
        "said: step-09-userns: uid_map: 0 65534 1, gid_map: 0 65534 1",
    ] {
        assert!(lines.contains(&want), "{want:?} missing: {}", out.both());
    }
    // 1000 is no one in a namespace that maps one id: chown is EINVAL.
    assert!(
        out.stdout.contains("chown: /tmp/made: Invalid argument"),
        "{}",
        out.both()
    );
    assert!(!out.stdout.contains("chowned"), "{}", out.both());
    assert!(!out.stdout.contains("outside: "), "{}", out.both());
    assert!(!out.stderr.contains("sudo"), "{}", out.both());
}

#[test]
fn root_runs_it_as_host_ids_from_100000() {
    let run = lesson().command(&[], &["sh", "-c", INSIDE]);
    let out = lesson().sandbox(&format!(
        "{run} 2>/run/run.err; echo status=$?\n\
         sed 's/^/said: /' /run/run.err\n\
         root=$(echo {})\n\
         echo \"/tmp/made: $(stat -c %u:%g $root/tmp/made)\"\n",
        lesson().root_in_sandbox.unwrap()
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    let lines: Vec<&str> = out.stdout.lines().map(str::trim_end).collect();
    for want in [
        "uid=0 gid=0",
        "lo is up",
        "map: 0     100000      65536",
        "made /tmp/made",
        // 1000 inside is 101000 outside: mapped, so chown may.
        "chowned to 1000",
        "/tmp/made: 101000:101000",
        "no /proc/sys",
        "no mknod",
        "status=0",
        "said: step-09-userns: uid_map: 0 100000 65536, gid_map: 0 100000 65536",
    ] {
        assert!(lines.contains(&want), "{want:?} missing: {}", out.both());
    }
    // The image's files are host root's, whom the map does not name: the
    // container's root is "others" to them.
    assert!(
        out.stdout.contains("touch: /made: Permission denied"),
        "{}",
        out.both()
    );
    // Root keeps the bridge.
    assert!(
        out.stdout
            .contains("said: step-09-userns: the container's address is 10.200.0."),
        "{}",
        out.both()
    );
}

// --- lessons 1 to 8, run by root -------------------------------------------

recheck!(
    hostname_is_isolated,
    exit_status_is_the_containers,
    signals_reach_the_container,
    signals_start_as_default,
    sigterm_without_a_handler,
    command_is_pid_1,
    command_errors,
    proc_lists_only_the_container,
    host_paths_are_invisible,
    host_mounts_are_unchanged,
    host_descriptors_do_not_reach_the_container,
    image_config_is_applied,
    eth0_is_on_the_bridge,
    the_outside_sees_the_host,
    memory_is_limited,
);

// --- the demo, as the chapter shows it --------------------------------------

/// `just step 9` run by an ordinary user: no sudo, root inside, one id
/// mapped. (The lesson is built by the test: `cargo`, on the user's PATH,
/// is a stand-in that builds nothing, as a user cannot write target/ here.)
#[test]
fn just_step_9_runs_as_an_ordinary_user_without_sudo() {
    let image = lesson().image.unwrap();
    let repo = quote(&support::repo().display().to_string());
    let script = as_user(&format!(
        "cp \"$(command -v just)\" /run/user9/bin/ && printf '#!/bin/sh\\n' > /run/user9/bin/cargo && chmod 755 /run/user9/bin/*\n\
         as_user $B pull {image} >/dev/null 2>&1\n\
         cd {repo} && as_user env CTR_DEMO_IMAGE={image} just step 9 2>&1\n"
    ));
    let out = lesson().sandbox(&script);
    assert_eq!(out.status, 0, "{}", out.both());
    let (ran, outside) = out
        .stdout
        .split_at(out.stdout.find("outside: ").unwrap_or(out.stdout.len()));
    assert_eq!(
        outside,
        "",
        "written outside the user's home: {}",
        out.both()
    );
    for said in [
        "inside: I am uid 0, gid 0; /proc/self/uid_map says:\n         0      65534          1\n",
        "inside: uid 1000 is no one here: chown to it was refused\n",
        "the bridge needs root: this container has only a loopback\n",
        "exited with status 0\n",
    ] {
        assert!(ran.contains(said), "{said}: {}", out.both());
    }
    assert!(!ran.contains("sudo"), "{}", out.both());
    support::transcript::check("step-09-demo.txt", "just step 9", ran, &REDACTIONS);
}

/// What varies from run to run: the host PID of the container.
const REDACTIONS: [(&str, &str); 2] = [
    (r"PID \d+ on the host", "PID <pid> on the host"),
    (r"/proc/\d+/", "/proc/<pid>/"),
];

/// Root's run, as the chapter shows it: the container's root is host id
/// 100000, what it gives to 1000 is 101000's, and the image is not its.
#[test]
fn transcript_of_roots_run() {
    use support::registry::{self, Auth};
    use support::transcript::{as_a_reader, check_session, SHOW};
    let image = lesson().image.unwrap();
    let inside = "exec 2>&1; id -u; touch /tmp/made && chown 1000:1000 /tmp/made; touch /made";
    let script = format!(
        "{SHOW}step-09-userns pull {image} >/dev/null 2>&1\n\
         root \"just step 9 {image} sh -c '{inside}' 2>/dev/null\"\n\
         root \"stat -c '%u:%g %n' /var/lib/ctr/lessons/04/images/sha256/*/rootfs/tmp/made\"\n"
    );
    let out = as_a_reader("step-09-userns", &registry::start(Auth::None), &script);
    assert_eq!(out.status, 0, "{}", out.both());
    for said in [
        "\n0\n",
        "touch: /made: Permission denied\n",
        "101000:101000 /var/lib/ctr/lessons/04/images/sha256/",
    ] {
        assert!(out.stdout.contains(said), "{said}: {}", out.both());
    }
    check_session("step-09-root.txt", &out.stdout, &[]);
}
