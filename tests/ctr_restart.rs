//! Starting a container again: `--restart` kept by its monitor (docker's
//! policies and back-off), `ctr start`, `restart` and `wait`, and the stop
//! signal and timeout a container is given at `run`.
mod support;

use support::ctr_net::ok;

#[test]
fn on_failure_restarts_a_killed_container_until_it_is_stopped() {
    let out = ok(
        false,
        r#"
        $C run -d --name r --restart on-failure busybox sh -c 'echo "up $$"; while :; do sleep 0.05; done' >/dev/null
        wait_for sh -c "$C logs r | grep -q '^up'"
        pid() { jq -r .pid /run/ctr/runtime/*/state.json; }
        first=$(pid)
        # Killed from the host, as a crash would: its monitor starts it again.
        kill -KILL "$first"
        wait_for sh -c "[ \$($C logs r | grep -c '^up') = 2 ]"
        wait_for sh -c "$C ps | grep -q ' Up '"
        second=$(pid)
        [ "$first" != "$second" ] && echo "a new process"
        jq -r '"restarts: \(.restart_count) policy: \(.restart.name)"' /run/ctr/containers/*/container.json
        echo "address: $($C ps --format json | jq -r .IPAddress)"
        # Stopped on purpose: not started again.
        $C stop -t 1 r >/dev/null
        sleep 0.5
        $C ps -a --format json | jq -r '"after stop: " + .State'
        $C wait r | sed 's/^/wait: /'
        # start brings it back, on its own rootfs.
        $C start r
        wait_for sh -c "[ \$($C logs r | grep -c '^up') = 3 ]"
        $C ps --format json | jq -r '"after start: " + .State'
        $C restart -t 1 r
        wait_for sh -c "[ \$($C logs r | grep -c '^up') = 4 ]"
        $C ps --format json | jq -r '"after restart: " + .State'
        $C rm -f r >/dev/null
        echo "left: $(ls /run/ctr/containers | wc -l) containers, $(ls /run/ctr/net/leases | wc -l) leases, $(ls /run/ctr/runtime | grep -vc :) runtime states"
    "#,
    );
    let s = &out.stdout;
    for want in [
        "a new process",
        "restarts: 1 policy: on-failure",
        "address: 10.201.0.",
        "after stop: exited",
        "wait: 137",
        "r\nafter start: running",
        "r\nafter restart: running",
        "left: 0 containers, 0 leases, 0 runtime states",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
}

#[test]
fn on_failure_gives_up_after_its_maximum_and_a_success_is_not_restarted() {
    let out = ok(
        false,
        r#"
        $C run -d --name f --restart on-failure:2 busybox sh -c 'echo try; exit 3' >/dev/null
        $C wait f | sed 's/^/wait f: /'
        echo "tries: $($C logs f | grep -c try)"
        jq -r 'select(.name == "f") | "f: restarts \(.restart_count), exit \(.exit.code)"' /run/ctr/containers/*/container.json
        $C run -d --name ok --restart on-failure busybox true >/dev/null
        $C wait ok | sed 's/^/wait ok: /'
        jq -r 'select(.name == "ok") | "ok: restarts \(.restart_count)"' /run/ctr/containers/*/container.json
        # always: a success too, with docker's back-off between (100, 200,
        # 400 ms...): three runs take 0.3 s and more.
        start=$(date +%s%N)
        $C run -d --name a --restart always busybox sh -c 'echo run' >/dev/null
        wait_for sh -c "[ \$($C logs a | grep -c run) -ge 3 ]"
        echo "always: three runs in >= 300 ms: $(( ($(date +%s%N) - start) / 1000000 >= 300 ))"
        $C kill a 2>/dev/null; $C stop a >/dev/null
        $C rm -f f ok a >/dev/null
        $C run --restart always busybox true 2>&1; echo "no -d: $?"
        $C run -d --rm --restart always busybox true 2>&1; echo "--rm: $?"
        $C run -d --restart sometimes busybox true 2>&1; echo "bad: $?"
        echo "left: $(ls /run/ctr/containers | wc -l) containers"
    "#,
    );
    let s = &out.stdout;
    for want in [
        "wait f: 3",
        "tries: 3",
        "f: restarts 2, exit 3",
        "wait ok: 0",
        "ok: restarts 0",
        "always: three runs in >= 300 ms: 1",
        "ctr: running busybox: --restart always keeps the container running in the background: add -d\nno -d: 125",
        "ctr: running busybox: --restart always and --rm conflict: a container removed when it ends cannot be started again\n--rm: 125",
        "ctr: running busybox: --restart sometimes: use no, on-failure[:N], always or unless-stopped\nbad: 125",
        "left: 0 containers",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
}

#[test]
fn start_keeps_the_rootfs_and_stop_uses_the_signal_and_timeout_given_at_run() {
    let out = ok(
        false,
        r#"
        $C run -d --name n busybox sh -c 'n=$(cat /n 2>/dev/null || echo 0); echo $((n + 1)) > /n; echo "run $((n + 1))"' >/dev/null
        $C wait n >/dev/null
        $C start n
        $C wait n >/dev/null
        $C logs n | sed 's/^/n: /'
        $C run -d --name s --stop-signal USR1 --stop-timeout 1 busybox sh -c 'trap "echo got USR1" USR1; echo ready; while :; do sleep 0.05; done' >/dev/null
        wait_for sh -c "$C logs s | grep -q ready"
        start=$(date +%s%N)
        $C stop s >/dev/null
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        echo "stop waited 1 s: $(( ms >= 900 && ms < 5000 ))"
        $C logs s | grep USR1
        $C wait s | sed 's/^/s: /'
        $C run -d --stop-signal NOPE busybox true 2>&1; echo "bad signal: $?"
        $C rm n s >/dev/null
    "#,
    );
    let s = &out.stdout;
    for want in [
        "n\n",
        "n: run 1\nn: run 2",
        "stop waited 1 s: 1",
        "got USR1",
        "s: 137",
        "bad signal: 125",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
}
