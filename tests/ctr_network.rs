//! `ctr run --network bridge` (the default) and `-p`, from the outside: in
//! a sandbox with an "outside" host (support/network.rs), containers reach
//! the outside through NAT, each other over the bridge, and clients reach
//! published ports from the outside, the host and other containers; and
//! nothing is left once they are removed.
mod support;

use support::ctr_net::{ok, run};
use support::network::{whoami_command, OUTSIDE, UPLINK};

#[test]
fn containers_reach_the_outside_and_each_other() {
    let out = ok(
        false,
        &format!(
            r#"iptables -P FORWARD DROP
        $C run -d --name a busybox sleep 30 >/dev/null
        $C run --hostname b busybox sh -c '
            echo "outside saw $({whoami})"
            ip -4 -o addr show eth0 | awk "{{print \"b=\" \$4}}"
            ping -c 1 -W 2 10.201.0.2 >/dev/null && echo "reached a"
            echo "hostname=$(cat /etc/hostname)"
            grep -w b /etc/hosts
            grep -q "^nameserver" /etc/resolv.conf && echo "resolv.conf has a nameserver"
            grep " /etc/hosts " /proc/self/mountinfo >/dev/null && echo "hosts is bound"'
        $C exec a ip -4 -o addr show eth0 | awk '{{print "a=" $4}}'
        $C run --network none busybox ip -o link | awk '{{print "none:", $2}}'
        $C run --network host busybox sh -c 'ip -4 -o addr show uplink | awk "{{print \"host: \" \$4}}"; hostname'
        "#,
            whoami = whoami_command()
        ),
    );
    let s = &out.stdout;
    for want in [
        format!("outside saw {UPLINK}"),
        "b=10.201.0.3/24".into(),
        "reached a".into(),
        "hostname=b".into(),
        "10.201.0.3\tb".into(),
        "resolv.conf has a nameserver".into(),
        "hosts is bound".into(),
        "a=10.201.0.2/24".into(),
        "none: lo:".into(),
        format!("host: {UPLINK}/24"),
        "sandbox".into(),
    ] {
        assert!(
            s.lines().any(|l| l == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    assert!(!s.contains("none: eth0"), "{}", out.both());
}

#[test]
fn a_published_port_is_reached_from_the_outside_the_host_and_containers() {
    let get = |from: &str, addr: &str| {
        format!("{from} sh -c 'timeout 3 busybox wget -q -O - http://{addr}:8080/hostname || echo unreachable'")
    };
    let out = ok(
        false,
        &format!(
            r#"iptables -P FORWARD DROP
        $C run -d --name web --hostname web -p 8080:80 busybox httpd -f -p 80 -h /etc >/dev/null
        wait_for busybox wget -q -O /dev/null http://127.0.0.1:8080/hostname
        echo "outside: $({outside})"
        echo "loopback: $({loopback})"
        echo "uplink: $({uplink})"
        echo "neighbour: $($C run busybox sh -c 'timeout 3 wget -q -O - http://{UPLINK}:8080/hostname || echo unreachable')"
        echo "itself: $($C exec web sh -c 'timeout 3 wget -q -O - http://{UPLINK}:8080/hostname || echo unreachable')"
        "#,
            outside = get("ip netns exec outside", UPLINK),
            loopback = get("", "127.0.0.1"),
            uplink = get("", UPLINK),
        ),
    );
    for from in ["outside", "loopback", "uplink", "neighbour", "itself"] {
        let want = format!("{from}: web");
        assert!(
            out.stdout.lines().any(|l| l == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
}

#[test]
fn a_taken_port_is_refused_with_a_clear_error() {
    let out = ok(
        false,
        &format!(
            r#"$C run -d --name first -p 8080:80 busybox sleep 30 >/dev/null
        $C run -p 8080:81 busybox true 2>&1; echo "status=$?"
        busybox nc -l -p 9090 & nc=$!; sleep 0.1
        $C run -p 127.0.0.1:9090:80 busybox true 2>&1; echo "status=$?"
        $C run -p 8081:80 -p 8081:81 busybox true 2>&1; echo "status=$?"
        $C run --network host -p 1:1 busybox true 2>&1; echo "status=$?"
        kill $nc
        $C run -p {OUTSIDE}:1234:80 busybox true 2>&1; echo "status=$?"
        "#
        ),
    );
    let s = &out.stdout;
    for want in [
        "ctr: running busybox: publishing port 8080: 0.0.0.0:8080 is already taken by container first: choose another host port",
        "ctr: running busybox: publishing port 9090: 127.0.0.1:9090 is already taken by a program of this host (9090/tcp is in use): stop it or choose another host port",
        "ctr: running busybox: publishing port 8081: 0.0.0.0:8081 is given twice: give it once",
        "ctr: running busybox: -p publishes ports of the bridge network, not of --network host: drop -p (the container uses the host's ports)",
        "ctr: running busybox: publishing port 1234: 198.51.100.1 is not an address of this host: give one of its addresses",
    ] {
        assert!(s.lines().any(|l| l == want), "{want:?} missing:\n{}", out.both());
    }
    assert_eq!(
        s.lines().filter(|l| *l == "status=125").count(),
        5,
        "{}",
        out.both()
    );
}

#[test]
fn removing_containers_leaves_nothing_and_twenty_cycles_neither() {
    let out = run(
        false,
        r#"
        leftovers /run/before
        $C run -d --name a -p 8080:80 busybox sleep 30 >/dev/null
        $C run -d --name b -p 8081:80/udp busybox sleep 30 >/dev/null
        echo "while running: $(iptables -t nat -S CTR-DNAT | grep -c -- '-j DNAT') dnat, $(ls /run/ctr/net/leases | wc -l) leases, $(ip -br link | grep -c '^veth') veths"
        $C rm -f a >/dev/null
        echo "one left: $(iptables -t nat -S CTR-DNAT | grep -c -- '-j DNAT') dnat, $(ls /run/ctr/net/leases | wc -l) leases, $(ip -br link | grep -c '^veth') veths, $(iptables -t nat -S POSTROUTING | grep -c MASQUERADE) masquerade"
        $C rm -f b >/dev/null
        leftovers /run/after-two
        start=$(date +%s%N)
        for i in $(seq 20); do
            $C run -d --name c -p 8080:80 busybox sleep 30 >/dev/null || echo "run $i failed"
            $C rm -f c >/dev/null || echo "rm $i failed"
        done
        echo "20 cycles in $(( ($(date +%s%N) - start) / 1000000 )) ms" >&2
        leftovers /run/after
        diff /run/before /run/after-two && diff /run/before /run/after && echo "nothing left"
    "#,
    );
    let s = &out.stdout;
    assert!(
        s.contains("while running: 2 dnat, 2 leases, 2 veths"),
        "{}",
        out.both()
    );
    assert!(
        s.contains("one left: 1 dnat, 1 leases, 1 veths, 3 masquerade"),
        "{}",
        out.both()
    );
    assert!(s.lines().any(|l| l == "nothing left"), "{}", out.both());
    assert!(!s.contains("failed"), "{}", out.both());
    assert_eq!(out.status, 0, "{}", out.both());
}

/// Issue 6's story, as a user would live it: `redis` pulled from docker.io
/// (here the fixture registry, as CTR_REGISTRY_MIRROR), served through a
/// published port, reached from the outside and by `exec`, then removed
/// without a trace.
#[test]
fn the_redis_story() {
    let out = ok(
        true,
        &format!(
            r#"leftovers /run/before
        $C images | grep -c redis | sed 's/^/images before: /'
        $C run -d --name r -p 6379:6379 redis >/dev/null
        wait_for sh -c "ip netns exec outside redis-cli -h {UPLINK} ping 2>/dev/null | grep -q PONG"
        echo "outside: $(ip netns exec outside redis-cli -h {UPLINK} ping)"
        ip netns exec outside redis-cli -h {UPLINK} set greeting hello >/dev/null
        echo "exec: $($C exec r redis-cli ping)"
        echo "inside: $($C exec r redis-cli get greeting)"
        echo "ps: $($C ps | awk 'NR==2 {{print $2, $NF}}')"
        $C stop r >/dev/null && $C rm r >/dev/null && echo "stopped and removed"
        leftovers /run/after
        diff /run/before /run/after && echo "nothing left"
        "#
        ),
    );
    let s = &out.stdout;
    for want in [
        "images before: 0",
        "outside: PONG",
        "exec: PONG",
        "inside: hello",
        "ps: redis r",
        "stopped and removed",
        "nothing left",
    ] {
        assert!(
            s.lines().any(|l| l == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    // `redis` is docker.io/library/redis:latest, fetched from the mirror.
    assert!(
        out.stderr
            .contains("Unable to find image 'redis:latest' locally")
            && out
                .stderr
                .contains("pulled docker.io/library/redis:latest (sha256:"),
        "{}",
        out.both()
    );
}

/// `ctr run -it redis /bin/sh`, driven through a terminal by `script`
/// (util-linux): a prompt, a command typed and its answer, and the shell's
/// exit status as ctr's.
#[test]
fn run_it_gives_a_working_shell() {
    let out = ok(
        true,
        r#"mkfifo /run/keys
        script -qec "$C run -it redis /bin/sh" /dev/null < /run/keys > /run/screen & term=$!
        exec 3> /run/keys
        wait_for grep -q '/data # ' /run/screen
        echo 'echo $((6*7)); [ -t 0 ] && echo "stdin is a terminal"' >&3
        wait_for grep -q '^42' /run/screen
        echo 'exit 3' >&3
        wait $term; echo "status=$?"
        exec 3>&-
        tr -d '\r' < /run/screen | sed 's/^/screen: /'
        "#,
    );
    let s = &out.stdout;
    for want in ["screen: 42", "screen: stdin is a terminal", "status=3"] {
        assert!(
            s.lines().any(|l| l == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    assert!(
        s.lines()
            .any(|l| l.starts_with("screen: BusyBox") && l.contains("built-in shell")),
        "{}",
        out.both()
    );
}
