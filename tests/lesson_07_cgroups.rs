//! Lesson 7, from the outside: a cgroup per container, placed before CMD
//! starts, with the limits asked for; what the kernel does at each limit
//! (fork fails, the OOM killer, throttling), measured from the cgroup's own
//! files by the sandbox, which plays the host; no cgroup left after any run;
//! with the properties of lessons 1–6.
//!
//! Each sandbox has a cgroup tree of its own (scripts/sandbox), so the
//! lesson runs with its learner's defaults (`step-07` at the top of the
//! tree) without touching the host's. The tests ask the sandbox which
//! version it has and hold the lesson to that version's files: on this
//! machine v1; in a v2 machine, v2 (the VM tier, tests/vm_stock.rs, runs
//! the limits' tests there, unchanged; the transcript's too, when v2's is
//! recorded: see chapter_7_sessions in tests/transcripts.rs).
mod support;

use support::checks::{Lesson, CGROUPS_LEFT};
use support::{quote, Outcome};

fn lesson() -> Lesson {
    Lesson::get(7)
}

/// Shell lines for the sandbox's side: `$V`, the cgroup version (1 or 2);
/// `$MEM`, `$PIDS`, `$CPU`, `$ACCT`, where `step-07` is in the tree of each
/// controller; `container_cgroup`, which waits for the container's cgroup
/// to hold a process and names it `$C`; `usage_ns`, the CPU time its
/// processes used so far, in nanoseconds.
const CGROUP_TOOLS: &str = r#"
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
    V=2; MEM=/sys/fs/cgroup/step-07; PIDS=$MEM; CPU=$MEM; ACCT=$MEM
else
    V=1; MEM=/sys/fs/cgroup/memory/step-07; PIDS=/sys/fs/cgroup/pids/step-07
    CPU=/sys/fs/cgroup/cpu/step-07; ACCT=/sys/fs/cgroup/cpuacct/step-07
fi
container_cgroup() {
    for i in $(seq 200); do
        C=$(ls "$PIDS" 2>/dev/null | grep -E '^[0-9]+$' | head -n 1)
        [ -n "$C" ] && [ -n "$(cat "$PIDS/$C/cgroup.procs" 2>/dev/null)" ] && return 0
        sleep 0.05
    done
    echo "the container's cgroup never held a process" >&2; exit 99
}
usage_ns() {
    if [ $V = 2 ]; then awk '$1 == "usage_usec" { printf "%d\n", $2 * 1000 }' "$ACCT/$C/cpu.stat"
    else cat "$ACCT/$C/cpuacct.usage"; fi
}
"#;

/// Runs SCRIPT in a sandbox with the fixture registry, `$B` the lesson and
/// `$IMAGE` the busybox image, already pulled, and the [`CGROUP_TOOLS`].
fn run(script: &str) -> Outcome {
    let lesson = lesson();
    lesson.sandbox(&format!(
        "B={} IMAGE={}\n$B pull $IMAGE >/dev/null 2>&1 || exit 98\n{CGROUP_TOOLS}{script}",
        quote(&lesson.bin.display().to_string()),
        lesson.image.as_deref().unwrap()
    ))
}

/// The version the sandbox has, as the lesson names it.
fn version(out: &Outcome) -> &'static str {
    if out.stderr.contains("/sys/fs/cgroup is cgroup v2") {
        "v2"
    } else {
        assert!(
            out.stderr.contains("/sys/fs/cgroup is cgroup v1"),
            "the lesson does not say which version it found: {}",
            out.both()
        );
        "v1"
    }
}

// --- what lesson 7 adds -------------------------------------------------------

#[test]
fn the_limits_are_written_where_the_kernel_reads_them() {
    // The sandbox reads the container's cgroup while it runs; the command,
    // PID 1, reads its own /proc/self/cgroup with shell builtins only: it
    // was in the cgroup when it started, not moved in later.
    let out = run(r#"$B run --memory 32M --pids 20 --cpus 0.5 $IMAGE sh -c '
            while read -r line; do case $line in *step-07*) echo "inside: $line";; esac; done < /proc/self/cgroup
            sleep 2' &
        container_cgroup
        echo "stat: $(stat -f -c %T /sys/fs/cgroup)"
        if [ $V = 2 ]; then
            cat $MEM/$C/memory.max $MEM/$C/memory.swap.max $PIDS/$C/pids.max $CPU/$C/cpu.max
        else
            cat $MEM/$C/memory.limit_in_bytes $MEM/$C/memory.memsw.limit_in_bytes $PIDS/$C/pids.max \
                $CPU/$C/cpu.cfs_quota_us $CPU/$C/cpu.cfs_period_us
        fi
        wait $!; echo status=$?"#);
    assert_eq!(out.status, 0, "{}", out.both());
    let (limits, inside) = match version(&out) {
        "v2" => (
            "stat: cgroup2fs\n33554432\n0\n20\n50000 100000\n",
            vec!["0::/step-07/"],
        ),
        _ => (
            "stat: tmpfs\n33554432\n33554432\n20\n50000\n100000\n",
            vec![
                ":cpu:/step-07/",
                ":cpuacct:/step-07/",
                ":memory:/step-07/",
                ":pids:/step-07/",
            ],
        ),
    };
    // The container prints while the sandbox reads: on a loaded machine
    // their lines interleave, so each side is compared on its own.
    let (lines, outside): (Vec<_>, Vec<_>) =
        out.stdout.lines().partition(|l| l.starts_with("inside: "));
    let outside: String = outside.iter().map(|l| format!("{l}\n")).collect();
    assert!(outside.contains(limits), "{}", out.both());
    assert_eq!(lines.len(), inside.len(), "{}", out.both());
    for want in inside {
        assert!(
            lines.iter().any(|l| l.contains(want)),
            "{want}: {}",
            out.both()
        );
    }
    assert!(out.stdout.ends_with("status=0\n"), "{}", out.both());
}

#[test]
fn under_pids_20_a_loop_of_40_gets_no_more_and_the_host_is_unaffected() {
    // busybox sh opens /dev/null for each background job, and the image's
    // /dev is empty: the container makes one first.
    let out = run(r#"$B run --pids 20 $IMAGE sh -c '
            [ -e /dev/null ] || mknod -m 666 /dev/null c 1 3
            sh -c "i=0; while [ \$i -lt 40 ]; do sleep 4 & i=\$((i+1)); done"; echo "loop: status $?"
            set -- /proc/[0-9]*; echo "container: $# processes"; sleep 2' > /run/out 2> /run/err &
        container_cgroup
        for i in $(seq 100); do [ "$(cat $PIDS/$C/pids.current)" -ge 19 ] && break; sleep 0.05; done
        echo "cgroup: $(cat $PIDS/$C/pids.current) of $(cat $PIDS/$C/pids.max)"
        echo "refused forks: $(awk '$1 == "max" { print ($2 > 0) ? "some" : "none" }' $PIDS/$C/pids.events)"
        # The host, meanwhile, starts as many as it likes.
        n=0; for i in $(seq 40); do sleep 1 & n=$((n+1)); done; echo "host: started $n"
        wait; cat /run/out; grep -c "can't fork" /run/err"#);
    assert_eq!(out.status, 0, "{}", out.both());
    let cgroup = out.stdout.lines().next().unwrap_or_default();
    assert!(
        cgroup == "cgroup: 19 of 20" || cgroup == "cgroup: 20 of 20",
        "{}",
        out.both()
    );
    // PID 1, the shell, and 18 sleeps make 20: the 19th sleep is refused
    // (EAGAIN), and the shell gives up. PID 1 and the 18 sleeps are left.
    let rest: Vec<_> = out.stdout.lines().skip(1).collect();
    assert_eq!(
        rest,
        [
            "refused forks: some",
            "host: started 40",
            "loop: status 2",
            "container: 19 processes",
            "1"
        ],
        "{}",
        out.both()
    );
}

#[test]
fn over_memory_32m_a_200_mb_allocation_ends_with_137() {
    // awk makes a string of 200,000,000 spaces. It is PID 1: the OOM
    // killer's SIGKILL ends the container, 128 + 9. Without the limit, the
    // same command succeeds.
    let fill = r#"awk 'BEGIN { x = sprintf("%200000000s", ""); print "survived, with", length(x), "bytes" }'"#;
    let out = run(&format!(
        "$B run --memory 32M $IMAGE {fill}; echo status=$?\n$B run $IMAGE {fill}; echo status=$?"
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    assert_eq!(
        out.stdout,
        "status=137\nsurvived, with 200000000 bytes\nstatus=0\n",
        "{}",
        out.both()
    );
}

#[test]
fn the_oom_killer_is_what_kills_and_the_cgroup_counts_it() {
    // A child takes the 200 MB, so that PID 1 survives to be asked. The
    // sandbox reads the count from the cgroup while the container lasts:
    // v2's memory.events, v1's memory.oom_control.
    let out = run(r#"$B run --memory 32M $IMAGE sh -c '
            awk "BEGIN { x = sprintf(\"%200000000s\", \"\") }"; echo "child: status $?"; sleep 2' > /run/out &
        container_cgroup
        for i in $(seq 100); do
            kills=$(cat $MEM/$C/memory.events $MEM/$C/memory.oom_control 2>/dev/null |
                awk '$1 == "oom_kill" { print $2 }')
            [ "${kills:-0}" -gt 0 ] && break; sleep 0.05
        done
        echo "oom_kill: $kills"; wait $!; echo status=$?; cat /run/out"#);
    assert_eq!(
        out.stdout,
        "oom_kill: 1\nstatus=0\nchild: status 137\n",
        "{}",
        out.both()
    );
}

#[test]
fn under_cpus_half_a_busy_loop_gets_at_most_55_percent_of_a_core() {
    // The cgroup's own count of CPU time, read twice, 2 s apart, against
    // the clock; and the cgroup's count of periods it was throttled in.
    // (The loop is not PID 1, which would ignore timeout's SIGTERM.) The
    // container is in its cgroup before its network is made: the clock
    // starts once the loop runs, which takes seconds on an emulated machine.
    let out = run(
        r#"$B run --cpus 0.5 $IMAGE sh -c 'timeout 4 sh -c "while :; do :; done"; true' 2>/dev/null &
        container_cgroup
        for i in $(seq 600); do pgrep -x timeout >/dev/null && break; sleep 0.05; done; sleep 0.5
        u0=$(usage_ns); t0=$(date +%s%N); sleep 2; u1=$(usage_ns); t1=$(date +%s%N)
        echo "$u0 $u1 $t0 $t1"
        awk '$1 == "nr_periods" || $1 == "nr_throttled" { print $2 }' $CPU/$C/cpu.stat
        wait"#,
    );
    let lines: Vec<_> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.both());
    let n: Vec<f64> = lines[0]
        .split(' ')
        .map(|v| v.parse().expect("a number"))
        .collect();
    let share = (n[1] - n[0]) / (n[3] - n[2]);
    eprintln!(
        "--cpus 0.5: the busy loop used {:.1}% of a core",
        share * 100.0
    );
    assert!(
        share <= 0.55,
        "{:.1}% of a core: {}",
        share * 100.0,
        out.both()
    );
    // It did run: the measure measures something.
    assert!(
        share >= 0.05,
        "{:.1}% of a core: {}",
        share * 100.0,
        out.both()
    );
    // The kernel counted periods for it: a quota is in force. (Throttled
    // periods, those it used up its quota in, depend on how busy the
    // machine is: on a loaded one, the loop may not even get its half.)
    let periods: u64 = lines[1].parse().expect("nr_periods");
    let throttled: u64 = lines[2].parse().expect("nr_throttled");
    eprintln!("--cpus 0.5: throttled in {throttled} of {periods} periods");
    assert!(periods > 0, "no quota periods: {}", out.both());
}

#[test]
fn no_cgroup_is_left_after_any_ending() {
    // A failure after the cgroup was made (a bridge0 that is not the
    // lessons': refused), exit 0, a command not found, the OOM killer.
    let out = run(&format!(
        r#"echo v$V; find /sys/fs/cgroup -type d | sort > /run/before
        ip link add bridge0 type bridge; $B run --pids 20 $IMAGE true 2>/run/err; echo $?; ip link del bridge0
        grep -c 'rmdir /sys/fs/cgroup/.*step-07/[0-9]' /run/err
        $B run --memory 32M --pids 20 --cpus 0.5 $IMAGE true 2>/dev/null; echo $?
        $B run --pids 20 $IMAGE no-such-command 2>/dev/null; echo $?
        $B run --memory 32M $IMAGE awk 'BEGIN {{ x = sprintf("%200000000s", "") }}' 2>/dev/null; echo $?
        {CGROUPS_LEFT}
        find /sys/fs/cgroup -type d | sort > /run/after; diff /run/before /run/after && echo unchanged"#
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    // The container's cgroup, once per tree.
    let removed = if out.stdout.starts_with("v2\n") { 1 } else { 4 };
    assert_eq!(
        out.stdout.lines().skip(1).collect::<Vec<_>>(),
        ["125", &removed.to_string(), "0", "127", "137", "unchanged"],
        "{}",
        out.both()
    );
}

#[test]
fn a_parent_holding_processes_cannot_hand_controllers_down_in_v2() {
    // cgroup v2's "no internal processes" rule: a cgroup other than the
    // root cannot both hold processes and enable controllers for its
    // children. v1 has no such rule.
    let out = run(
        r#"echo v$V; P=$PIDS; mkdir -p $P; sleep 30 & echo $! > $P/cgroup.procs
        $B run --pids 20 $IMAGE true 2>/run/err; echo status=$?
        kill $!; wait $! 2>/dev/null
        for i in $(seq 100); do rmdir $P 2>/dev/null && break; sleep 0.02; done
        cat /run/err"#,
    );
    if out.stdout.starts_with("v2\n") {
        assert!(out.stdout.starts_with("v2\nstatus=125\n"), "{}", out.both());
        assert!(
            out.stdout.contains(
                "/sys/fs/cgroup/step-07 holds processes, so it cannot hand controllers to children \
                 (cgroup v2's \"no internal processes\" rule)"
            ),
            "{}",
            out.both()
        );
    } else {
        assert!(out.stdout.starts_with("v1\nstatus=0\n"), "{}", out.both());
    }
}

#[test]
fn bad_limits_are_refused_before_anything_is_made() {
    let out = run(&format!(
        r#"$B run --memory lots $IMAGE true; echo status=$?
        $B run --cpus 0.001 $IMAGE true; echo status=$?
        $B run --pids 0 $IMAGE true; echo status=$?
        {CGROUPS_LEFT}"#
    ));
    assert_eq!(
        out.stdout,
        "status=2\nstatus=2\nstatus=2\n",
        "{}",
        out.both()
    );
    for said in [
        "\"lots\" is not a size: give bytes, or a number and k, m or g (32M)",
        "0.001: give at least 0.01 (the kernel's smallest quota is 1 ms in 100)",
        "invalid value '0' for '--pids <PIDS>'",
    ] {
        assert!(out.stderr.contains(said), "{said}: {}", out.both());
    }
}

// --- what lessons 1–6 did still holds ----------------------------------------

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
    image_config_is_applied,
    eth0_is_on_the_bridge,
    the_outside_sees_the_host,
);

// --- the chapter's transcript and the demo -----------------------------------

/// What `just step 7` with limits and a shell prints, as the chapter shows
/// it (a transcript for each cgroup version); then the demo, `just step 7`
/// alone, which must run as well.
#[test]
fn transcript_of_a_shell_under_limits_and_the_demo() {
    use support::registry::{self, Auth};
    let image = lesson().image.unwrap();
    let run = format!(
        "just step 7 --memory 32M --pids 20 {image} sh <<'EOF'\n\
         grep step-07 /proc/self/cgroup\n\
         awk 'BEGIN {{ x = sprintf(\"%200000000s\", \"\") }}'; echo \"a child that took 200 MB: status $?\"\n\
         export CHAIN='N=$((N + 1)); echo -n \"$N \"; sh -c \"$CHAIN\"; exit $?'\n\
         N=0 sh -c \"$CHAIN\"\n\
         echo \"PID 1 is still here\"\n\
         EOF"
    );
    let script = format!(
        "step-07-cgroups pull {image} >/dev/null 2>&1\n{{\n{run}\n}} 2>&1\necho ----\n\
         CTR_DEMO_IMAGE={image} just step 7 2>&1\n{CGROUPS_LEFT}"
    );
    let out =
        support::transcript::as_a_reader("step-07-cgroups", &registry::start(Auth::None), &script);
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(!out.stderr.contains("cgroups left"), "{}", out.both());
    let (ran, demo) = out.stdout.split_once("----\n").expect("the separator");
    for said in [
        "a child that took 200 MB: status 137\n",
        " 19 sh: can't fork: Resource temporarily unavailable\nPID 1 is still here\n",
    ] {
        assert!(ran.contains(said), "{said}: {}", out.both());
    }
    for said in [
        "inside: a child that took 200 MB ended with status 137\n",
        " 19 sh: can't fork: Resource temporarily unavailable\ninside: PID 1 is still here\n",
        "exited with status 0\n",
    ] {
        assert!(demo.contains(said), "{said}: {}", out.both());
    }
    // The chapter shows both: v2, what readers have, and v1. Each machine
    // checks the one of its version.
    let name = if ran.contains("/sys/fs/cgroup is cgroup v2") {
        "step-07-run.txt"
    } else {
        "step-07-run-v1.txt"
    };
    support::transcript::check(name, &run, ran, &REDACTIONS);
}

/// Host PIDs vary from run to run: they name the container's cgroup (the
/// lesson's), the veth ends, and what is written into cgroup.procs.
const REDACTIONS: [(&str, &str); 6] = [
    (r"PID \d+ on the host", "PID <pid> on the host"),
    (r"([vc]eth)\d+", "${1}<pid>"),
    (r"(/proc/|netns )\d+", "${1}<pid>"),
    (r"step-07/\d+", "step-07/<pid>"),
    (r"echo \d+ > ", "echo <pid> > "),
    (r"(?m)^\d+: ", "<index>: "),
];
