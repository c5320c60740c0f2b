//! Lesson 5, from the outside: a bridge, a veth pair and an address per
//! container, in a sandbox whose "host" has an uplink to an outside host
//! (support/network.rs); with the properties of lessons 1–4.
mod support;

use support::checks::Lesson;
use support::network::{outside_script, snapshot_command, whoami_command};
use support::{quote, Outcome};

fn lesson() -> Lesson {
    Lesson::get(5)
}

/// Runs SCRIPT in a sandbox with the fixture registry and the outside host,
/// `$B` the lesson and `$IMAGE` the busybox image.
fn run(script: &str) -> Outcome {
    let lesson = lesson();
    lesson.sandbox(&format!(
        "{}B={} IMAGE={}\n{script}",
        outside_script(),
        quote(&lesson.bin.display().to_string()),
        lesson.image.as_deref().unwrap()
    ))
}

/// Shell lines that wait (up to 5 s) until the host can ping ADDRESS.
fn wait_for_ping(address: &str) -> String {
    format!(
        "for i in $(seq 50); do busybox ping -c 1 -W 1 {address} >/dev/null 2>&1 && break; sleep 0.1; done"
    )
}

#[test]
fn the_container_gets_eth0_an_address_and_a_default_route() {
    let out = run("$B run $IMAGE sh -c 'ip -4 -o addr show eth0; ip route; ip link show lo'");
    assert_eq!(out.status, 0, "{}", out.both());
    let lines: Vec<_> = out.stdout.lines().collect();
    assert!(
        lines[0].contains("eth0    inet 10.200.0.2/24"),
        "{}",
        out.both()
    );
    assert!(
        lines.contains(&"default via 10.200.0.1 dev eth0 "),
        "{}",
        out.both()
    );
    assert!(
        lines.iter().any(|l| l.contains(": lo: <LOOPBACK,UP")),
        "{}",
        out.both()
    );
    // It says what it does on the host, command by command.
    for command in [
        "+ ip link add bridge0 type bridge",
        "+ ip addr add 10.200.0.1/24 dev bridge0",
        "ip route add default via 10.200.0.1",
    ] {
        assert!(out.stderr.contains(command), "{command}: {}", out.both());
    }
}

#[test]
fn the_host_and_the_container_reach_each_other() {
    let wait = wait_for_ping("10.200.0.2");
    let out = run(&format!(
        "$B run $IMAGE sh -c 'ping -c 1 -W 2 10.200.0.1 >/dev/null && echo gateway reached; sleep 2' & pid=$!
         {wait}
         busybox ping -c 1 -W 2 10.200.0.2 >/dev/null && echo container reached
         wait $pid"
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(out.stdout.contains("gateway reached"), "{}", out.both());
    assert!(out.stdout.contains("container reached"), "{}", out.both());
}

#[test]
fn two_containers_get_different_addresses_and_reach_each_other() {
    let wait = wait_for_ping("10.200.0.2");
    let out = run(&format!(
        "$B run --hostname a $IMAGE sh -c 'ip -4 -o addr show eth0; sleep 3' > /run/a.out 2>&1 & pid=$!
         {wait}
         $B run --hostname b $IMAGE sh -c 'ip -4 -o addr show eth0; ping -c 1 -W 2 10.200.0.2 >/dev/null && echo a reached'
         wait $pid; cat /run/a.out"
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(
        out.stdout.contains("eth0    inet 10.200.0.3/24"),
        "b: {}",
        out.both()
    );
    assert!(out.stdout.contains("a reached"), "{}", out.both());
    assert!(
        out.stdout.contains("eth0    inet 10.200.0.2/24"),
        "a: {}",
        out.both()
    );
}

#[test]
fn nothing_is_left_after_the_container_exits() {
    let out = run(
        "$B run $IMAGE true; $B run $IMAGE sh -c 'exit 3'; echo status=$?
         ip -br link | grep -c veth; ls -A /run/ctr-lessons/leases | wc -l",
    );
    assert_eq!(out.stdout, "status=3\n0\n0\n", "{}", out.both());
}

#[test]
fn the_way_out_is_still_closed() {
    // No NAT yet (lesson 6): the outside cannot answer 10.200.0.2.
    let out = run(&format!("$B run $IMAGE sh -c '{}'", whoami_command()));
    assert_eq!(out.stdout, "unreachable\n", "{}", out.both());
}

#[test]
fn an_existing_bridge0_is_reused_or_refused() {
    let out = run(
        "ip link add bridge0 type bridge; ip addr add 10.200.0.1/24 dev bridge0; ip link set bridge0 up
         $B run $IMAGE true",
    );
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(
        out.stderr
            .contains("bridge0 is already there, with 10.200.0.1/24: using it"),
        "{}",
        out.both()
    );

    let out = run("ip link add bridge0 type bridge; $B run $IMAGE true");
    assert_eq!(out.status, 125, "{}", out.both());
    assert!(
        out.stderr
            .contains("bridge0 exists but does not have the address 10.200.0.1/24"),
        "{}",
        out.both()
    );
}

#[test]
fn a_subnet_that_collides_with_a_host_route_is_refused() {
    let out = run(&format!(
        "ip route add 10.200.0.0/16 via 198.51.100.1
         {}; $B run $IMAGE true; echo status=$?; {}; diff /run/before /run/after && echo unchanged",
        snapshot_command("/run/before"),
        snapshot_command("/run/after"),
    ));
    assert!(
        out.stdout.contains("status=125\nunchanged"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr
            .contains("overlaps a route the host already has (10.200.0.0/16 via 198.51.100.1"),
        "{}",
        out.both()
    );
}

#[test]
fn leases_of_dead_lessons_are_taken_back_and_live_ones_kept() {
    // .2 is held by a process that is gone, .3 by one that runs (this shell).
    let out = run(
        "mkdir -p /run/ctr-lessons/leases; echo 999999 > /run/ctr-lessons/leases/10.200.0.2
         echo $$ > /run/ctr-lessons/leases/10.200.0.3
         $B run $IMAGE ip -4 -o addr show eth0; cat /run/ctr-lessons/leases/10.200.0.3 | grep -c $$",
    );
    assert!(out.stdout.contains("inet 10.200.0.2/24"), "{}", out.both());
    assert!(out.stdout.ends_with("1\n"), "{}", out.both());
}

#[test]
fn a_lease_outlives_a_killed_lesson_while_its_container_runs() {
    // SIGKILL leaves the lesson no time to clean up, and its container runs
    // on with 10.200.0.2: the next container must not get that address too.
    let wait = wait_for_ping("10.200.0.2");
    let out = run(&format!(
        "$B run $IMAGE sleep 5 2>/dev/null & pid=$!
         {wait}
         kill -KILL $pid
         $B run $IMAGE ip -4 -o addr show eth0 2>/dev/null"
    ));
    assert!(out.stdout.contains("inet 10.200.0.3/24"), "{}", out.both());
}

#[test]
fn a_failed_network_setup_leaves_nothing_behind() {
    // An nsenter that fails: the veth exists by then, and must go.
    let out = run(&format!(
        "mkdir /run/bin; printf '#!/bin/sh\\nexit 1\\n' > /run/bin/nsenter; chmod +x /run/bin/nsenter
         $B pull $IMAGE 2>/dev/null
         {before}; PATH=/run/bin:$PATH $B run $IMAGE true; echo status=$?
         ip link del bridge0; {after}; diff /run/before /run/after && echo unchanged
         ls -A /run/ctr-lessons/leases | wc -l",
        before = snapshot_command("/run/before"),
        after = snapshot_command("/run/after"),
    ));
    assert_eq!(out.stdout, "status=125\nunchanged\n0\n", "{}", out.both());
    assert!(
        out.stderr
            .contains("plugging the container into the network: `nsenter"),
        "{}",
        out.both()
    );
}

// --- what lessons 1–4 did still holds ----------------------------------------

recheck!(
    hostname_is_isolated,
    exit_status_is_the_containers,
    signals_reach_the_container,
    signals_start_as_default,
    command_is_pid_1,
    command_errors,
    refuses_non_root,
    proc_lists_only_the_container,
    host_paths_are_invisible,
    host_mounts_are_unchanged,
    sigterm_without_a_handler,
    host_descriptors_do_not_reach_the_container,
);

// --- the chapter's transcript ------------------------------------------------

#[test]
fn transcript_of_a_run() {
    use support::registry::{self, Auth};
    let image = lesson().image.unwrap();
    let run = format!(
        "step-05-bridge-veth run {image} sh -c 'ip -4 -o addr show eth0; ip route; \
         ping -c 1 10.200.0.1 >/dev/null && echo the gateway answers'"
    );
    let prelude = format!("{}{}", outside_script(), registry::start(Auth::None));
    let script = format!("step-05-bridge-veth pull {image} >/dev/null 2>&1; {run} 2>&1");
    let out = support::transcript::as_a_reader("step-05-bridge-veth", &prelude, &script);
    assert_eq!(out.status, 0, "{}", out.both());
    support::transcript::check("step-05-run.txt", &run, &out.stdout, &HOST_PIDS);
}

/// Host PIDs vary from run to run, and name the veth ends.
const HOST_PIDS: [(&str, &str); 4] = [
    (r"PID \d+ on the host", "PID <pid> on the host"),
    (r"([vc]eth)\d+", "${1}<pid>"),
    (r"(/proc/|netns )\d+", "${1}<pid>"),
    (r"(?m)^\d+: ", "<index>: "),
];
