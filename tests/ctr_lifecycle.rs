//! A container's life after `run -d`, from the outside: `ps`, `logs`,
//! `exec`, `kill`, `stop`, `rm`; and a container whose ctr was killed,
//! shown as exited and removed without a trace.
mod support;

use support::ctr_net::ok;

#[test]
fn ps_logs_exec_kill_stop_and_rm() {
    let out = ok(
        false,
        r#"
        $C run -d --name w busybox sh -c 'echo hello; echo oops >&2; trap "echo got TERM; exit 3" TERM; while :; do sleep 0.05; done' >/dev/null
        wait_for sh -c "$C logs w 2>&1 | grep -q oops"
        $C logs w 2>/dev/null | sed 's/^/log: /'
        $C logs w 2>&1 >/dev/null | sed 's/^/log stderr: /'
        $C logs --tail 1 --timestamps w 2>&1 | sed 's/^/tail: /'
        $C ps | awk 'NR > 1 && $NF == "w" && / Up / {print "ps: w Up"}'
        $C ps --format json | jq -r '"json: " + .Names + " " + .State + " " + .IPAddress + " " + .Networks'
        $C exec w sh -c 'echo "exec: pid=$$ hostname=$(hostname) ppid=$PPID"'
        $C exec w nope; echo "exec nope: $?"
        echo hi | $C exec -i w cat | sed 's/^/exec -i: /'
        $C rm w 2>&1 | sed 's/^/rm running: /'
        $C kill -s TERM w >/dev/null
        wait_for sh -c "$C ps -a | grep -q 'Exited (3)'"
        $C logs w | tail -1 | sed 's/^/log after kill: /'
        $C run -d --name s busybox sleep 30 >/dev/null
        start=$(date +%s)
        $C stop -t 1 s >/dev/null
        echo "stop took $(( $(date +%s) - start ))s"
        $C ps -a --format json | jq -r '"after: " + .Names + " " + .Status' | sed 's/ [^ ]* ago$//; s/ Less than a$//'
        $C run -d --name f busybox sh -c 'echo one; sleep 0.3; echo two' >/dev/null
        $C logs -f f | sed 's/^/follow: /'
        $C run -d --name g busybox sleep 30 >/dev/null
        $C rm -f w s f g >/dev/null
        echo "left: $(ls /run/ctr/containers | wc -l) containers, $(ls /run/ctr/net/leases | wc -l) leases"
        $C logs nosuch 2>&1; echo "logs nosuch: $?"
    "#,
    );
    let s = &out.stdout;
    for want in [
        "log: hello",
        "log stderr: oops",
        "ps: w Up",
        "json: w running 10.201.0.2 bridge",
        "exec: pid=",
        "exec nope: 127",
        "exec -i: hi",
        "rm running: ctr: removing w: container w is running: stop it first (`ctr stop w`), or use `ctr rm -f`",
        "log after kill: got TERM",
        "after: s Exited (137)",
        "after: w Exited (3)",
        "follow: one",
        "follow: two",
        "left: 0 containers, 0 leases",
        "ctr: no such container: nosuch: see `ctr ps -a` for their names",
        "logs nosuch: 125",
    ] {
        assert!(
            s.lines().any(|l| l.starts_with(want)),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    // The streams apart, and --tail counts the lines of both.
    assert!(
        !s.contains("log: oops") && !s.contains("log stderr: hello"),
        "{}",
        out.both()
    );
    let tail: Vec<&str> = s.lines().filter(|l| l.starts_with("tail: ")).collect();
    assert!(
        tail.len() == 1 && tail[0].starts_with("tail: 20") && tail[0].ends_with("Z oops"),
        "{}",
        out.both()
    );
    // A process of exec is in the container's PID namespace, its parent (ctr) outside.
    let exec = s.lines().find(|l| l.starts_with("exec: ")).unwrap();
    assert!(
        exec.ends_with(" ppid=0") && !exec.contains("hostname= "),
        "{}",
        out.both()
    );
    // PID 1 in the sleep container ignores SIGTERM: stop waited, then killed.
    assert!(
        s.lines()
            .any(|l| l == "stop took 1s" || l == "stop took 2s"),
        "{}",
        out.both()
    );
}

#[test]
fn a_container_whose_ctr_was_killed_is_exited_and_rm_cleans_everything() {
    let out = ok(
        false,
        r#"
        leftovers /run/before
        $C run -d --name k -p 8080:80 busybox sleep 30 >/dev/null
        monitor=$(jq -r .monitor /run/ctr/containers/*/container.json)
        kill -KILL "$monitor"
        wait_for sh -c "$C ps -a | grep -q 'Exited (137)'"
        $C ps -a --format json | jq -r '"ps -a: " + .Names + " " + .Status'
        echo "ps: $($C ps | wc -l) line"
        echo "kept: $(ls /run/ctr/net/leases | wc -l) lease, $(iptables -t nat -S CTR-DNAT | grep -c -- '-j DNAT') dnat"
        # A new container reclaims what the dead one held: its port too.
        $C run -d --name n -p 8080:80 busybox sleep 30 >/dev/null && echo "port reclaimed"
        $C rm k && $C rm -f n >/dev/null
        leftovers /run/after
        diff /run/before /run/after && echo "nothing left"
    "#,
    );
    let s = &out.stdout;
    assert!(
        s.lines().any(|l| l.starts_with("ps -a: k Exited (137) ")),
        "{}",
        out.both()
    );
    for want in [
        "ps: 1 line",
        "kept: 1 lease, 1 dnat",
        "port reclaimed",
        "k",
        "nothing left",
    ] {
        assert!(
            s.lines().any(|l| l == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
}
