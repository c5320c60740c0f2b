//! The transcripts of the runtime's chapters (network, lifecycle, security): what `ctr` and the
//! network plan print, run for real, as a reader would, and compared with
//! the files the book includes (see support/transcript.rs).
mod support;

use std::process::Command;

use support::registry::{self, Auth};
use support::transcript::{self, as_a_reader, SHOW};

/// What varies from run to run, on both sides: container IDs (64 and 12
/// hex digits), digests (the redis layer is made of the host's
/// redis-tools), sizes, times, and `ps`'s column widths, which follow them.
const REDACTIONS: &[(&str, &str)] = &[
    (r"sha256:[0-9a-f]{12,64}", "sha256:<digest>"),
    (r"\b[0-9a-f]{64}\b", "<id>"),
    (r"\b[0-9a-f]{12}\b", "<id>"),
    (r"\(\d+(\.\d+)?[kMG]?B\)", "(<size>)"),
    (
        r"(About a|Less than a|an?|\d+) (second|minute|hour)s?( ago)?",
        "<time>",
    ),
    (r"(?m) {2,}", "  "),
];

/// `cargo run --example net-plan`: the commands `ctr run -p 6379:6379`
/// stands for, printed from the plan (no root: nothing is made).
#[test]
fn the_network_plan_of_a_published_redis() {
    let args = ["run", "--quiet", "--example", "net-plan", "--", "6379:6379"];
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(support::repo())
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "cargo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    transcript::check(
        "ctr-net-plan.txt",
        &format!("cargo {}", args.join(" ")),
        &String::from_utf8_lossy(&out.stdout),
        &[],
    );
}

/// The redis story of the README, typed as a reader would in `just
/// registry` (the fixture registry as docker.io's mirror), root, with ctr
/// on PATH and its store at the default /var/lib/ctr.
#[test]
fn the_redis_story() {
    let out = as_a_reader(
        "ctr",
        &registry::start(Auth::None),
        &format!(
            "{SHOW}\
             show export CTR_REGISTRY_MIRROR=http://{}\n\
             show ctr run -d --name r -p 6379:6379 redis\n\
             for _ in $(seq 250); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.02; done\n\
             show redis-cli ping\n\
             show ctr ps\n\
             show ctr exec r redis-cli ping\n\
             show ctr logs r '| grep -c \"Ready to accept connections\"'\n\
             show 'ctr stop r && ctr rm r'\n\
             show ctr ps -a\n\
             show 'ip -br link show type veth; iptables -t nat -S | grep -c CTR'\n\
             true\n",
            registry::ADDRESS
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    transcript::check_session("ctr-redis.txt", &out.stdout, REDACTIONS);
}

/// The lifecycle chapter: issue 18's story. redis keeps its data in a named
/// volume and comes back after a crash (`--restart on-failure`); a new
/// container on the volume finds the key.
#[test]
fn redis_comes_back_and_keeps_its_data() {
    let out = as_a_reader(
        "ctr",
        &registry::start(Auth::None),
        &format!(
            "{SHOW}\
             export CTR_REGISTRY_MIRROR=http://{}\n\
             ctr pull redis >/dev/null 2>&1\n\
             ping() {{ for _ in $(seq 500); do ctr exec $1 redis-cli ping >/dev/null 2>&1 && return; sleep 0.02; done; }}\n\
             show ctr run -d --name r -v redisdata:/data --restart on-failure redis\n\
             ping r\n\
             show ctr exec r redis-cli set k v\n\
             show ctr exec r redis-cli save\n\
             show 'kill -KILL $(pgrep -x redis-server)'\n\
             for _ in $(seq 500); do [ \"$(ctr inspect -f '{{{{.RestartCount}}}} {{{{.State.Status}}}}' r)\" = '1 running' ] && break; sleep 0.02; done\n\
             ping r\n\
             show ctr inspect -f \"'{{{{.State.Status}}}}, restarted {{{{.RestartCount}}}} time(s)'\" r\n\
             show ctr exec r redis-cli get k\n\
             show ctr rm -f r\n\
             show ctr run -d --name r2 -v redisdata:/data redis\n\
             ping r2\n\
             show ctr exec r2 redis-cli get k\n\
             show ctr rm -f r2\n\
             show ctr volume ls\n\
             true\n",
            registry::ADDRESS
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    transcript::check_session("ctr-redis-restart.txt", &out.stdout, REDACTIONS);
}

/// The lifecycle chapter: a container whose ctr (its monitor) was killed: `ps -a`
/// shows it exited, its lease and rule are kept until `rm` cleans them.
#[test]
fn what_a_crash_leaves_and_rm_cleans() {
    let out = as_a_reader(
        "ctr",
        &registry::start(Auth::None),
        &format!(
            "{SHOW}\
             export CTR_REGISTRY_MIRROR=http://{}\n\
             ctr pull redis >/dev/null 2>&1\n\
             show ctr run -d --name r -p 6379:6379 redis\n\
             show 'kill -KILL $(jq .monitor /var/lib/ctr/containers/*/container.json)'\n\
             for _ in $(seq 250); do ctr ps -a | grep -q Exited && break; sleep 0.02; done\n\
             show ctr ps -a\n\
             show ls /var/lib/ctr/net/leases\n\
             show iptables -t nat -S CTR-DNAT\n\
             show ctr rm r\n\
             show 'ls /var/lib/ctr/net/leases; ip -br link show type veth; iptables-save | grep -c CTR'\n\
             true\n",
            registry::ADDRESS
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    transcript::check_session("ctr-crash.txt", &out.stdout, REDACTIONS);
}

/// The security chapter: a descriptor of the host's /etc held open by
/// ctr's caller does not reach the container (CVE-2024-21626's kind).
#[test]
fn a_descriptor_of_the_caller_does_not_reach_the_container() {
    let out = as_a_reader(
        "ctr",
        &registry::start(Auth::None),
        &format!(
            "{SHOW}\
             export CTR_REGISTRY_MIRROR=http://{}\n\
             ctr pull busybox >/dev/null 2>&1\n\
             root 'exec 7</etc'\n\
             root \"ctr run --rm --network none busybox sh -c \
             'cat /proc/self/fd/7/hostname; ls /proc/self/fd/7/..'; echo \\$?\"\n\
             true\n",
            registry::ADDRESS
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(
        out.stdout.contains("can't open '/proc/self/fd/7/hostname'"),
        "{}",
        out.both()
    );
    transcript::check_session("ctr-descriptor.txt", &out.stdout, REDACTIONS);
}

/// The chapter on the layers: the bundle `ctr run` writes for redis (its
/// config.json, whole), and the same container seen by ctr-runtime, whose
/// state lives under the store's runtime/.
#[test]
fn the_bundle_of_a_redis() {
    let out = as_a_reader(
        "ctr",
        &registry::start(Auth::None),
        &format!(
            "{SHOW}\
             show export CTR_REGISTRY_MIRROR=http://{}\n\
             ctr pull redis >/dev/null 2>&1\n\
             show ctr run -d --name r -p 6379:6379 redis\n\
             show 'ls /var/lib/ctr/containers/*/'\n\
             show 'jq \".linux.seccomp.syscalls |= length\" /var/lib/ctr/containers/*/config.json'\n\
             show ctr-runtime --root /var/lib/ctr/runtime list\n\
             show 'ctr-runtime --root /var/lib/ctr/runtime ps $(ctr-runtime --root /var/lib/ctr/runtime list -q) -o pid,user,args'\n\
             show 'ctr stop r && ctr rm r'\n\
             true\n",
            registry::ADDRESS
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    let mut redactions = REDACTIONS.to_vec();
    // Host PIDs in ps's lines, and list's columns, padded to the PID's width.
    redactions.push((r"(?m)^\s*\d+ root ", "<pid> root "));
    redactions.push((r"<id>\s+\d+\s+running", "<id>  <pid>  running"));
    redactions.push((r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>"));
    transcript::check_session("oci-ctr-redis.txt", &out.stdout, &redactions);
}
