//! `ctr system check` and `ctr system reset` (issue 7, host safety): what a
//! killed ctr leaves is listed, and removed, until the sandbox that plays the
//! host is as it was before the first container.

mod support;

use support::ctr::in_sandbox;
use support::network::{host_command, outside_script};

#[test]
fn a_clean_store_checks_clean() {
    let out = in_sandbox(true, "$C system check; echo \"check=$?\"\n");
    assert!(
        out.stdout.contains("nothing left over\ncheck=0\n"),
        "{}",
        out.both()
    );
}

#[test]
fn check_lists_what_a_killed_ctr_left_and_reset_removes_it_all() {
    let script = format!(
        r#"{outside}
host() {{ {host}; }}
host /run/before
$C system check >/dev/null || {{ echo "not clean at first"; exit 1; }}
id=$($C run -d --name victim -p 8080:80 busybox sleep 300)
wait_for test -e /sys/class/net/veth${{id%${{id#?????????}}}}
monitor=$(jq -r .monitor /run/ctr/containers/$id/container.json)
pid=$(jq -r .pid /run/ctr/runtime/$id/state.json)
kill -KILL "$monitor" "$pid"
wait_for sh -c "$C ps -a | grep -q 'Exited (137)'"
# The killed monitor left the container's rootfs mounted, its cgroup, and
# the runtime's state behind. What else a crash can leave: a veth on the bridge whose
# container's namespace is gone, a pull's temporary file.
ip link add vethfeedc0ffe type veth peer name feedpeer
ip link set vethfeedc0ffe master ctr0
touch /run/ctr/tmp/layer-123-456
echo "--- check"
$C system check; echo "check=$?"
echo "--- reset"
$C system reset; echo "reset=$?"
echo "--- check again"
$C system check; echo "check=$?"
echo "--- reset again"
$C system reset; echo "reset=$?"
host /run/after
diff /run/before /run/after && echo "host as before"
test -e /run/ctr/images || echo "no images"
"#,
        outside = outside_script(),
        host = host_command("\"$1\""),
    );
    let out = in_sandbox(true, &script);
    assert_eq!(out.status, 0, "{}", out.both());
    let s = &out.stdout;
    let section = |name: &str| -> &str {
        let start = s
            .find(&format!("--- {name}\n"))
            .unwrap_or_else(|| panic!("no {name}:\n{}", out.both()));
        let rest = &s[start + name.len() + 5..];
        &rest[..rest.find("--- ").unwrap_or(rest.len())]
    };
    let id = s
        .lines()
        .find_map(|l| l.strip_prefix("lease 10.201.0.2: held by container "))
        .map(|rest| rest[..12].to_string())
        .unwrap_or_else(|| panic!("no lease listed:\n{}", out.both()));
    let check = section("check");
    for want in [
        "veth vethfeedc0ffe: no live container has the ID feedc0ffe...".to_string(),
        "bridge ctr0: no live container is on the bridge network".to_string(),
        "lease 10.201.0.2: held by container ".to_string() + &id + ", which is gone",
        format!("mount /run/ctr/containers/{id}"),
        format!("runtime {id}"),
        format!("cgroup /ctr/{id}"),
        "tmp /run/ctr/tmp/layer-123-456: left by an interrupted pull, import or run".to_string(),
        "check=1".to_string(),
    ] {
        assert!(
            check.contains(&want),
            "{want:?} not in check:\n{}",
            out.both()
        );
    }
    // The container's DNAT rule, and the shared chains and rules.
    let rule = check
        .lines()
        .find(|l| l.starts_with("iptables -t nat -A CTR-DNAT") && l.contains(&format!("ctr:{id}")))
        .unwrap_or_else(|| panic!("no DNAT rule listed:\n{}", out.both()));
    assert!(rule.ends_with(&format!("container {id} is gone")), "{rule}");
    for chain in ["-t nat chain CTR-DNAT", "-t filter chain CTR-FORWARD"] {
        assert!(check.contains(chain), "{chain} not listed:\n{}", out.both());
    }
    assert!(
        check.contains("iptables -t nat -A POSTROUTING -s 10.201.0.0/24 ! -o ctr0 -j MASQUERADE"),
        "{}",
        out.both()
    );
    let reset = section("reset");
    for want in [
        "removed container victim (".to_string() + &id + ")",
        "removed veth vethfeedc0ffe".to_string(),
        "removed bridge ctr0, its NAT and FORWARD rules".to_string(),
        "removed store /run/ctr (images, layers, blobs)".to_string(),
        "reset=0".to_string(),
    ] {
        assert!(
            reset.contains(&want),
            "{want:?} not in reset:\n{}",
            out.both()
        );
    }
    assert!(
        section("check again").contains("nothing left over\ncheck=0\n"),
        "{}",
        out.both()
    );
    // Idempotent: only the empty store that check opened is left to go.
    let again = section("reset again");
    assert!(again.contains("reset=0\n"), "{}", out.both());
    assert!(
        !again.contains("container") && !again.contains("ctr0"),
        "{}",
        out.both()
    );
    assert!(s.contains("host as before\n"), "{}", out.both());
    assert!(s.contains("no images\n"), "{}", out.both());
}
