//! `ctr run`'s limits (`--memory`, `--pids-limit`, `--cpus`...), from the
//! outside: each container gets a cgroup, `/ctr/ID` in the sandbox's own
//! cgroup tree (scripts/sandbox roots the trees at a cgroup it makes and
//! removes), the limits hold, and nothing of ctr's is left in the tree
//! afterwards. These run on this machine's cgroup v1; the VM tier runs
//! the same properties on cgroup v2.
mod support;

use support::ctr::ok;

/// The container's cgroup directory in the tree of CONTROLLER, from the
/// sandbox; and a check that no cgroup of ctr's is left.
const HELPERS: &str = r#"
cg() { if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo /sys/fs/cgroup/ctr/$2; else echo /sys/fs/cgroup/$1/ctr/$2; fi; }
ctr_cgroups() { find /sys/fs/cgroup -path '*/ctr*' -type d | wc -l; }
"#;

#[test]
fn a_fork_loop_gets_no_more_than_the_pids_limit_and_the_host_is_unaffected() {
    let out = ok(&format!(
        r#"{HELPERS}
        # The loop's shell dies at its first failed fork; PID 1 then execs
        # (no fork) and holds the container while it is counted.
        id=$($C run -d --network none --pids-limit 20 busybox sh -c \
            'sh -c "for i in \$(seq 40); do sleep 60 & done" 2>/dev/null; exec sleep 60')
        # pids.events counts the forks refused at the limit: one is enough
        # (the count itself may be down to 19 by then, the loop's shell gone).
        wait_for grep -q 'max [1-9]' $(cg pids $id)/pids.events
        sleep 0.3
        echo "current=$(cat $(cg pids $id)/pids.current) max=$(cat $(cg pids $id)/pids.max)"
        echo "sleeps=$(pgrep -x sleep | wc -l)"
        # The sandbox, the host here, still forks freely.
        sh -c 'for i in $(seq 50); do true & done; wait' && echo "host forks"
        $C rm -f $id >/dev/null
        echo "left=$(ctr_cgroups)"
    "#
    ));
    let s = &out.stdout;
    let number = |key: &str| -> usize {
        s.lines()
            .find_map(|l| l.split(' ').find_map(|w| w.strip_prefix(key)))
            .and_then(|n| n.parse().ok())
            .unwrap_or(99)
    };
    // The limit was reached (the loop's shell, gone since, counted too)
    // and never passed.
    assert_eq!(number("max="), 20, "{}", out.both());
    assert!((18..=20).contains(&number("current=")), "{}", out.both());
    assert!((18..=20).contains(&number("sleeps=")), "{}", out.both());
    assert!(s.contains("host forks\nleft=0\n"), "{}", out.both());
}

#[test]
fn a_memory_limit_ends_in_an_oom_kill_that_ps_shows() {
    let out = ok(&format!(
        r#"{HELPERS}
        $C run --name hog --network none --memory 32m busybox \
            sh -c 'x=$(head -c 200000000 /dev/zero | tr "\0" a); echo survived'
        echo "status=$?"
        $C ps -a --format json | jq -r '"\(.State) \(.OOMKilled)"'
        $C ps -a | grep -c 'Exited (137).*(OOM killed)'
        $C run --rm --network none --memory 32m busybox sh -c 'x=$(head -c 1000000 /dev/zero | tr "\0" a); echo fine'
        $C ps -a --format json | jq -r 'select(.Names=="hog") | .OOMKilled'
        $C rm hog >/dev/null
        echo "left=$(ctr_cgroups)"
    "#
    ));
    assert_eq!(
        out.stdout,
        "status=137\nexited true\n1\nfine\ntrue\nleft=0\n",
        "{}",
        out.both()
    );
}

#[test]
fn half_a_cpu_is_at_most_half_of_one_core() {
    // Measured by the cgroup's own counters: the CPU time it used, over
    // the periods of 100 ms that went by (cpu.stat's nr_periods), so the
    // share does not hang on a clock (the VM's, emulated, wanders).
    let out = ok(&format!(
        r#"{HELPERS}
        id=$($C run -d --network none --cpus 0.5 busybox sh -c 'while :; do :; done')
        stat() {{ awk -v k=$2 '$1 == k {{print $2}}' $(cg cpu $id)/cpu.stat; }}
        usage() {{ if [ -e /sys/fs/cgroup/cgroup.controllers ]; then stat cpu usage_usec;
          else echo $(( $(cat $(cg cpuacct $id)/cpuacct.usage) / 1000 )); fi; }}
        sleep 0.5; a=$(usage); pa=$(stat cpu nr_periods)
        sleep 2
        b=$(usage); pb=$(stat cpu nr_periods)
        echo "periods=$((pb - pa)) share=$(( (b - a) * 1000 / ((pb - pa) * 100000) ))"
        $C rm -f $id >/dev/null
        echo "left=$(ctr_cgroups)"
    "#
    ));
    let number = |key: &str| -> u64 {
        out.stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key}: {}", out.both()))
    };
    // Per mille of one core over the periods: at most 55%, and it did run.
    // (Whether it was throttled hangs on the machine's load: a busy machine
    // may give it less than its half anyway.)
    let share = number("share=");
    assert!(
        (20..=550).contains(&share),
        "share {share}‰: {}",
        out.both()
    );
    assert!(number("periods=") >= 10, "{}", out.both());
    assert!(out.stdout.ends_with("left=0\n"), "{}", out.both());
}

#[test]
fn the_container_sees_its_own_limits_and_stats_shows_them() {
    let out = ok(&format!(
        r#"{HELPERS}
        $C run --rm --network none --memory 48m --pids-limit 30 --cpu-shares 512 busybox sh -c '
            if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
                cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; cat /sys/fs/cgroup/cpu.weight
            else
                cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares
            fi'
        $C run -d --name s --network none --memory 32m busybox sleep 60 >/dev/null
        $C stats --no-stream | sed 's/  */ /g' | cut -d' ' -f2,4-6,8 | tail -1
        $C stats --no-stream s | head -1
        $C rm -f s >/dev/null
    "#
    ));
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("50331648"), "{}", out.both());
    assert_eq!(lines.next(), Some("30"), "{}", out.both());
    let shares = lines.next().unwrap_or_default();
    assert!(shares == "512" || shares == "59", "{}", out.both());
    let stats = lines.next().unwrap_or_default();
    assert!(
        stats.starts_with("s ") && stats.contains(" / 32MiB ") && stats.ends_with(" 1"),
        "{stats:?}: {}",
        out.both()
    );
    let header = lines.next().unwrap_or_default();
    let words: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(
        words,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "PIDS"
        ],
        "{}",
        out.both()
    );
}

#[test]
fn limits_are_checked_as_docker_checks_them() {
    let out = ok(r#"
        for flags in "--memory 4m" "--memory-swap 64m" "--memory 64m --memory-swap 32m" \
                     "--cpus 9" "--cpuset-cpus 0-64" "--memory lots"; do
            $C run --rm --network none $flags busybox true 2>&1; echo "status=$?"
        done
        ls /run/ctr/containers | wc -l
    "#);
    let s = &out.stdout;
    for want in [
        "--memory 4194304: the minimum memory limit allowed is 6MB",
        "--memory-swap needs --memory",
        "--memory-swap 33554432 is below --memory 67108864",
        "the range of CPUs is from 0.01 to",
        "--cpuset-cpus 0-64: CPU 64 does not exist",
        "--memory lots: \"lots\" is not a size",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
    assert_eq!(s.matches("status=125").count(), 6, "{}", out.both());
    assert!(s.ends_with("0\n"), "nothing was made:\n{}", out.both());
}
