//! Crashes and concurrency (issue 7): ctr killed in the middle of setting up
//! a container's network, and many containers started or removed at once.
//! Afterwards the next commands work, `ctr system check` is clean once the
//! leftovers are removed, and the sandbox that plays the host is as before.
//! (A pull killed mid-download, its layer half unpacked, is in ctr_pull.rs.)

mod support;

use support::ctr::in_sandbox;
use support::network::host_command;

#[test]
fn ctr_killed_after_the_veth_exists_is_cleaned_by_rm() {
    // A wrapper around `ip` that, once the batch that makes the veth pair
    // has run, holds ctr there: the moment to kill it.
    let script = format!(
        r#"host() {{ {host}; }}
host /run/before
real_ip=$(command -v ip)
mkdir -p /run/fakebin
cat > /run/fakebin/ip <<EOF
#!/bin/sh
cat > /run/ip-in.\$\$
$real_ip "\$@" < /run/ip-in.\$\$; status=\$?
if grep -q 'type veth' /run/ip-in.\$\$; then touch /run/ip-ran; sleep 60; fi
exit \$status
EOF
chmod +x /run/fakebin/ip
PATH=/run/fakebin:$PATH $C run --name victim busybox sleep 300 2>/dev/null & pid=$!
wait_for test -e /run/ip-ran
echo "veths while held: $(ip -br link | grep -c '^veth')"
kill -KILL $pid; wait $pid; echo "killed=$?"
pkill -KILL -f '^sleep 60$'
$C system check >/dev/null; echo "check=$?"
# The next command works, leftovers or not (it takes back a dead
# container's lease and rules), and rm removes the rest.
$C run --rm busybox true; echo "next run=$?"
$C rm -f victim >/dev/null; echo "rm=$?"
$C system check; echo "check=$?"
host /run/after
diff /run/before /run/after && echo "host as before"
"#,
        host = host_command("$1"),
    );
    let out = in_sandbox(true, &script);
    let s = &out.stdout;
    let wanted = [
        "veths while held: 1",
        "killed=137",
        "check=1",
        "next run=0",
        "rm=0",
        "check=0",
        "host as before",
    ];
    let got: Vec<&str> = s.lines().filter(|l| wanted.contains(l)).collect();
    assert_eq!(got, wanted, "in this order:\n{}", out.both());
}

#[test]
fn eight_containers_at_once_get_eight_addresses_and_give_them_back() {
    // Each holds its address 5 s, so that all eight hold one at once (an
    // address given back may be leased again, as docker does).
    let script = format!(
        r#"host() {{ {host}; }}
host /run/before
pids=""
for i in 1 2 3 4 5 6 7 8; do
    $C run --rm busybox sh -c 'ip -4 -o addr show eth0 | awk "{{print \$4}}"; sleep 5' > /run/out.$i 2>/run/err.$i &
    pids="$pids $!"
done
failed=0
for p in $pids; do wait $p || failed=$((failed+1)); done
echo "failed=$failed"
echo "distinct=$(cat /run/out.* | sort -u | grep -c '^10\.')"
echo "leases=$(ls /run/ctr/net/leases | wc -l)"
$C system check >/dev/null; echo "check=$?"
host /run/after
diff /run/before /run/after && echo "host as before"
"#,
        host = host_command("$1"),
    );
    let out = in_sandbox(true, &script);
    for want in [
        "failed=0",
        "distinct=8",
        "leases=0",
        "check=0",
        "host as before",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "{want}:\n{}",
            out.both()
        );
    }
}

#[test]
fn containers_removed_at_once_leave_nothing() {
    let script = format!(
        r#"host() {{ {host}; }}
host /run/before
for i in 1 2 3 4 5 6; do
    $C run -d --name c$i -p 808$i:80 busybox sleep 300 >/dev/null || echo "run c$i failed"
done
echo "running=$($C ps | grep -c ' c[1-6]')"
pids=""
for i in 1 2 3 4 5 6; do $C rm -f c$i >/dev/null & pids="$pids $!"; done
failed=0
for p in $pids; do wait $p || failed=$((failed+1)); done
echo "failed=$failed"
echo "left=$($C ps -a | grep -c ' c[1-6]')"
$C system check >/dev/null; echo "check=$?"
host /run/after
diff /run/before /run/after && echo "host as before"
"#,
        host = host_command("$1"),
    );
    let out = in_sandbox(true, &script);
    for want in [
        "running=6",
        "failed=0",
        "left=0",
        "check=0",
        "host as before",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "{want}:\n{}",
            out.both()
        );
    }
}

#[test]
fn a_slow_network_setup_does_not_hold_up_another_start() {
    // `ip` as on a loaded host: the first batch that adds a veth takes 5 s
    // more. The network's lock is held only for the lease and the rules,
    // so a container started a second later gets its own veth and starts
    // while the slow one is still plugging in; then both work, with two
    // addresses, and leave nothing.
    let script = r#"host() { HOST; }
host /run/before
$C run -d --name first busybox sleep 60 >/dev/null   # the bridge and shared rules
real=$(command -v ip)
mkdir -p /run/slow
cat > /run/slow/ip <<SLOW
#!/bin/sh
if [ "\$1" = -batch ]; then
    lines=\$(cat)
    case "\$lines" in *"type veth"*)
        [ -e /run/slow/once ] || { touch /run/slow/once; sleep 5; } ;;
    esac
    printf '%s\n' "\$lines" | exec $real "\$@"
fi
exec $real "\$@"
SLOW
chmod +x /run/slow/ip
( PATH=/run/slow:$PATH $C run -d --name slow busybox sleep 60 >/dev/null; echo "slow=$?" >> /run/order ) &
pid=$!
sleep 1
$C run -d --name quick busybox sleep 60 >/dev/null; echo "quick=$?" >> /run/order
wait $pid
cat /run/order
for c in first slow quick; do $C exec $c ip -4 -o addr show eth0 | awk '{print $4}'; done | sort -u | wc -l
$C rm -f first slow quick >/dev/null
$C system check >/dev/null; echo "check=$?"
host /run/after
diff /run/before /run/after && echo "host as before"
"#
    .replace("HOST", &host_command("$1"));
    let out = in_sandbox(true, &script);
    assert_eq!(
        out.stdout,
        "quick=0\nslow=0\n3\ncheck=0\nhost as before\n",
        "{}",
        out.both()
    );
}
