//! Lesson 6, from the outside: the container reaches an outside host through
//! the sandbox's NAT, which the outside sees as the sandbox's uplink address;
//! rules added once, working under a DROP policy, a usable resolv.conf, and
//! `net-down` leaving the host as it was; with the properties of lessons 1–5.
mod support;

use support::checks::Lesson;
use support::network::{outside_script, snapshot_command, whoami_command, UPLINK};
use support::{quote, Outcome};

fn lesson() -> Lesson {
    Lesson::get(6)
}

/// Runs SCRIPT in a sandbox with the fixture registry and the outside host,
/// `$B` the lesson and `$IMAGE` the busybox image, already pulled.
fn run(script: &str) -> Outcome {
    let lesson = lesson();
    lesson.sandbox(&format!(
        "{}B={} IMAGE={}\n$B pull $IMAGE >/dev/null 2>&1 || exit 98\n{script}",
        outside_script(),
        quote(&lesson.bin.display().to_string()),
        lesson.image.as_deref().unwrap()
    ))
}

#[test]
fn the_outside_sees_the_host_not_the_container() {
    let out = run(&format!("$B run $IMAGE sh -c '{}'", whoami_command()));
    assert_eq!(out.status, 0, "{}", out.both());
    assert_eq!(out.stdout, format!("{UPLINK}\n"), "{}", out.both());
    for said in [
        "+ sysctl -w net.ipv4.ip_forward=1",
        "+ iptables -t nat -I POSTROUTING -s 10.200.0.0/24 ! -o bridge0 -j MASQUERADE",
    ] {
        assert!(out.stderr.contains(said), "{said}: {}", out.both());
    }
}

#[test]
fn many_runs_leave_one_rule_of_each() {
    let out = run("for i in 1 2 3; do $B run $IMAGE true 2>/dev/null; done
         iptables -t nat -S POSTROUTING | grep -c MASQUERADE
         iptables -S FORWARD | grep -c 'bridge0 -j ACCEPT'
         iptables -S FORWARD | grep -c 'RELATED,ESTABLISHED'
         ip -br link | grep -c veth");
    assert_eq!(out.stdout, "1\n1\n1\n0\n", "{}", out.both());
}

#[test]
fn a_forward_policy_of_drop_still_lets_containers_out_and_meet() {
    // Docker sets FORWARD's policy to DROP; the bridge's traffic goes
    // through FORWARD too (br_netfilter), container to container included.
    let out = run(&format!(
        "iptables -P FORWARD DROP
         $B run $IMAGE sh -c 'sleep 3' 2>/dev/null & pid=$!
         for i in $(seq 50); do busybox ping -c 1 -W 1 10.200.0.2 >/dev/null 2>&1 && break; sleep 0.1; done
         $B run $IMAGE sh -c '{}; ping -c 1 -W 2 10.200.0.2 >/dev/null && echo neighbour reached'
         wait $pid",
        whoami_command()
    ));
    assert_eq!(
        out.stdout,
        format!("{UPLINK}\nneighbour reached\n"),
        "{}",
        out.both()
    );
}

#[test]
fn the_container_gets_a_resolv_conf_it_can_use() {
    // A host behind systemd-resolved: its resolv.conf names the stub on
    // 127.0.0.53, which the container cannot reach; the real servers are
    // in /run/systemd/resolve/resolv.conf. (Bind mounts in the sandbox only.)
    let out = run(
        "printf 'nameserver 127.0.0.53\\noptions edns0\\nsearch example.test\\n' > /run/host-resolv.conf
         mount --bind /run/host-resolv.conf /etc/resolv.conf
         mkdir -p /run/systemd/resolve; echo 'nameserver 192.0.2.53' > /run/systemd/resolve/resolv.conf
         $B run $IMAGE cat /etc/resolv.conf",
    );
    assert_eq!(out.status, 0, "{}", out.both());
    assert_eq!(
        out.stdout,
        "options edns0\nsearch example.test\nnameserver 192.0.2.53\n",
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains("systemd-resolved's upstream servers"),
        "{}",
        out.both()
    );
}

#[test]
fn net_down_leaves_the_host_as_it_was() {
    let out = run(&format!(
        "{before}
         $B run $IMAGE true 2>/dev/null; $B run $IMAGE true 2>/dev/null
         $B net-down; echo status=$?; $B net-down 2>/dev/null; echo again=$?
         {after}; diff /run/before /run/after && echo unchanged; [ -e /run/ctr-lessons ] || echo no state",
        before = snapshot_command("/run/before"),
        after = snapshot_command("/run/after"),
    ));
    assert_eq!(
        out.stdout,
        "status=0\nagain=0\nunchanged\nno state\n",
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains("+ ip link del bridge0"),
        "{}",
        out.both()
    );
}

#[test]
fn net_down_refuses_while_a_container_runs() {
    let out = run(&format!(
        "$B run $IMAGE sleep 3 2>/dev/null & pid=$!
         for i in $(seq 50); do busybox ping -c 1 -W 1 10.200.0.2 >/dev/null 2>&1 && break; sleep 0.1; done
         {before}; $B net-down; echo status=$?; {after}
         diff /run/before /run/after && echo untouched; wait $pid",
        before = snapshot_command("/run/before"),
        after = snapshot_command("/run/after"),
    ));
    assert!(
        out.stdout.contains("status=125\nuntouched"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr
            .contains("containers still run with 10.200.0.2: stop them first"),
        "{}",
        out.both()
    );
}

// --- what lessons 1–5 did still holds ----------------------------------------

recheck!(
    hostname_is_isolated,
    exit_status_is_the_containers,
    signals_reach_the_container,
    signals_start_as_default,
    sigterm_without_a_handler,
    command_is_pid_1,
    command_errors,
    refuses_non_root,
    proc_lists_only_the_container,
    host_paths_are_invisible,
    host_mounts_are_unchanged,
    host_descriptors_do_not_reach_the_container,
);

// --- the chapter's transcripts -----------------------------------------------

#[test]
fn transcripts_of_a_run_and_of_net_down() {
    use support::network::WHOAMI_URL;
    use support::registry::{self, Auth};
    let image = lesson().image.unwrap();
    let run = format!("step-06-nat run {image} wget -q -O - {WHOAMI_URL}");
    // A resolv.conf of our own, so that the host's does not show.
    let resolv = "echo 'nameserver 192.0.2.53' > /run/resolv.conf; \
                  mount --bind /run/resolv.conf /etc/resolv.conf\n";
    let prelude = format!(
        "{resolv}{}{}",
        outside_script(),
        registry::start(Auth::None)
    );
    // One sandbox, two transcripts: the run, then net-down, split by a line.
    let script = format!(
        "step-06-nat pull {image} >/dev/null 2>&1; {run} 2>&1; echo ----; step-06-nat net-down 2>&1"
    );
    let out = support::transcript::as_a_reader("step-06-nat", &prelude, &script);
    assert_eq!(out.status, 0, "{}", out.both());
    let (ran, down) = out.stdout.split_once("----\n").expect("the separator");
    assert!(
        ran.contains(&format!("\n{}\n", support::network::UPLINK)),
        "{}",
        out.both()
    );
    support::transcript::check("step-06-run.txt", &run, ran, &HOST_PIDS);
    support::transcript::check(
        "step-06-net-down.txt",
        "step-06-nat net-down",
        down,
        &HOST_PIDS,
    );
}

/// Host PIDs vary from run to run, and name the veth ends.
const HOST_PIDS: [(&str, &str); 4] = [
    (r"PID \d+ on the host", "PID <pid> on the host"),
    (r"([vc]eth)\d+", "${1}<pid>"),
    (r"(/proc/|netns )\d+", "${1}<pid>"),
    (r"(?m)^\d+: ", "<index>: "),
];
