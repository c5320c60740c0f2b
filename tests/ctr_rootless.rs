//! `ctr` run by an ordinary user (rootless, as podman): in a sandbox, as
//! uid 65534 with a home and an XDG_RUNTIME_DIR of its own on the
//! sandbox's /run, and /etc/subuid and /etc/subgid written for the test
//! (over a copy of /etc bound on the sandbox's /etc: the host's files are
//! never touched). The user pulls, runs, publishes a port, and is refused
//! what a user namespace cannot give, by name. `the_rootless_story` writes
//! the transcripts of the book's chapter on it (book/src/12b-rootless.md).
mod support;

use support::ctr_net::run;
use support::network::UPLINK;
use support::registry::{self, Auth, ADDRESS};
use support::transcript::{self, SHOW};

/// Shell lines that make the user's directories and its subordinate ids
/// (SUBIDS: the lines of /etc/subuid and /etc/subgid, or empty), define
/// `as_user CMD...` (CMD as uid 65534, with HOME and XDG_RUNTIME_DIR its
/// own and no CTR_ROOT), copy the busybox layout to $H/busybox-oci, and
/// touch /run/mark, for `written_outside`.
fn user(subids: &str) -> String {
    format!(
        r#"H=/run/rootless/home X=/run/rootless/xdg
mkdir -p $H $X && cp -r "$L" $H/busybox-oci
chown -R 65534:65534 /run/rootless && chmod 700 $X
cp -a /etc /run/etc && printf '{subids}' > /run/etc/subuid && cp /run/etc/subuid /run/etc/subgid
mount --bind /run/etc /etc
# pasta opens /dev/net/tun as the user: 0666 where udev made it; made so
# here, on the sandbox's own node, where it is not.
mknod -m 666 /run/tun c 10 200 && mount --bind /run/tun /dev/net/tun
as_user() {{ setpriv --reuid 65534 --regid 65534 --clear-groups env -u CTR_ROOT HOME=$H XDG_RUNTIME_DIR=$X "$@"; }}
touch /run/mark
# What the user wrote outside its directories, where a user can write at
# all (the world-writable directories, the sandbox's /run), and whatever
# changed in the stores of root (the sandbox's /run/ctr, /var/lib/ctr).
written_outside() {{
    find /tmp /var/tmp /dev/shm /run -path /run/rootless -prune -o \
        \( -uid 65534 -o -uid +99999 \) -newer /run/mark -print 2>/dev/null
    find /run/ctr /var/lib/ctr -newer /run/mark -print 2>/dev/null
}}
"#
    )
}

const RANGE: &str = "nobody:100000:65536\n";

#[test]
fn a_user_pulls_and_runs_as_root_inside_owning_what_it_writes() {
    let out = run(
        false,
        &format!(
            r#"{registry}{user}
as_user $C pull {ADDRESS}/library/busybox >/dev/null || echo "pull failed"
echo "id=$(as_user $C run --rm {ADDRESS}/library/busybox id -u)"
as_user $C run --name keep {ADDRESS}/library/busybox sh -c 'touch /made; touch /theirs; chown 1000:1000 /theirs; cat /proc/self/uid_map' | sed 's/^ */map: /'
upper=$(echo $H/.local/share/ctr/containers/*/upper)
echo "made: $(stat -c %u:%g $upper/made)"
echo "theirs: $(stat -c %u:%g $upper/theirs)"
as_user $C ps -a | grep -q 'Exited (0).* keep$' && echo "keep exited"
as_user $C rm keep >/dev/null
echo "store: $(stat -c %u $H/.local/share/ctr)"
echo "state: $(ls $X/ctr)"
written_outside | sed 's/^/outside: /'
"#,
            registry = registry::start(Auth::None),
            user = user(RANGE),
        ),
    );
    let s = &out.stdout;
    assert_eq!(out.status, 0, "{}", out.both());
    for want in [
        "id=0",
        "map: 0      65534          1",
        "map: 1     100000      65536",
        // root inside is the user; uid 1000 inside is its sub-id 100999.
        "made: 65534:65534",
        "theirs: 100999:100999",
        "keep exited",
        "store: 65534",
    ] {
        assert!(
            s.lines().any(|l| l.trim_end() == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    assert!(s.contains("state: runtime"), "{}", out.both());
    assert!(
        !s.contains("outside: "),
        "written outside the user's directories:\n{}",
        out.both()
    );
}

#[test]
fn a_published_port_of_a_rootless_container_answers_on_the_host() {
    let out = run(
        false,
        &format!(
            r#"{user}
as_user $C import $H/busybox-oci busybox >/dev/null
as_user $C run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /etc >/dev/null
get() {{ timeout 3 busybox wget -q -O - http://$1:8080/hostname 2>/dev/null; }}
wait_for get 127.0.0.1 >/dev/null
echo "loopback: $(get 127.0.0.1)"
echo "uplink: $(get {UPLINK})"
as_user $C ps | grep -q '0.0.0.0:8080->80/tcp *web$' && echo "ps shows the port"
as_user $C exec web id -u | sed 's/^/exec: /'
as_user $C stop web >/dev/null
as_user $C rm web >/dev/null
echo "pasta left: $(pgrep -c -x pasta || true)"
echo "left: $(ls -A $H/.local/share/ctr/containers)"
written_outside | sed 's/^/outside: /'
"#,
            user = user(RANGE),
        ),
    );
    let s = &out.stdout;
    assert_eq!(out.status, 0, "{}", out.both());
    let hostname = s
        .lines()
        .find_map(|l| l.strip_prefix("loopback: "))
        .unwrap_or_default();
    assert_eq!(hostname.len(), 12, "{}", out.both());
    for want in [
        format!("uplink: {hostname}"),
        "ps shows the port".into(),
        "exec: 0".into(),
        "pasta left: 0".into(),
        "left: ".into(),
    ] {
        assert!(
            s.lines().any(|l| l.trim_end() == want.trim_end()),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    assert!(
        !s.contains("outside: "),
        "written outside the user's directories:\n{}",
        out.both()
    );
}

#[test]
fn what_a_user_namespace_cannot_give_is_refused_by_name() {
    let out = run(
        false,
        &format!(
            r#"{user}
as_user $C import $H/busybox-oci busybox >/dev/null
try() {{ as_user $C run --rm "$@" busybox true; echo "status=$?"; }}
try -m 32m
try --network bridge
try -p 80:80
as_user $C system check; echo "status=$?"
"#,
            user = user(RANGE),
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    let statuses: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("status="))
        .collect();
    assert_eq!(statuses, ["status=125"; 4], "{}", out.both());
    for want in [
        // v1 here; v2 without a delegated subtree says it in its own words.
        "run the container without limits, or as root (sudo)",
        "--network bridge makes a bridge, veths and iptables rules on the host, which needs root",
        "host port 80 cannot be published",
        "sysctl net.ipv4.ip_unprivileged_port_start=80",
        "ctr system looks for what ctr left on the host",
    ] {
        assert!(
            out.stderr.contains(want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
}

/// Limits without root, where cgroup v2 lets a user have them: in a
/// subtree delegated to the user as systemd delegates user@UID.service's
/// (made by root, the controllers handed down to it, the directory and the
/// three files that let its owner make cgroups, move processes and hand
/// controllers down chowned to the user; the user's processes in a cgroup
/// below, as a top that holds processes can hand nothing down). Without
/// the delegation the same run is refused, saying why. On cgroup v1 there
/// is no delegation to make: the run is refused, in v1's words. The VM tier
/// runs it on v2. No subordinate ids: the VM has no newuidmap, and the
/// cgroup is the same with one id or a range.
#[test]
fn limits_without_root_need_a_delegated_cgroup_v2_subtree() {
    let out = run(
        false,
        &format!(
            r#"{user}
as_user $C import $H/busybox-oci busybox >/dev/null
limited() {{ as_user $C run --rm --network none --memory 32m --pids-limit 20 busybox "$@"; }}
G=/sys/fs/cgroup D=/sys/fs/cgroup/user-65534.delegated
[ -e $G/cgroup.controllers ] && echo v2 || echo v1
limited true; echo "undelegated status=$?"
if [ -e $G/cgroup.controllers ]; then
    for c in cpuset cpu memory pids; do
        grep -qw $c $G/cgroup.controllers && echo +$c > $G/cgroup.subtree_control
    done
    mkdir $D && chown 65534:65534 $D $D/cgroup.procs $D/cgroup.subtree_control $D/cgroup.threads
    as_user mkdir $D/session && echo $$ > $D/session/cgroup.procs
    id=$(as_user $C run -d --network none --memory 32m --pids-limit 20 busybox sleep 600)
    echo "memory.max $(cat $D/ctr/$id/memory.max)"
    echo "pids.max $(cat $D/ctr/$id/pids.max)"
    echo "in it: $(for p in $(cat $D/ctr/$id/cgroup.procs); do cat /proc/$p/comm; done)"
    as_user $C rm -f $id >/dev/null
    limited sh -c 'x=$(head -c 200000000 /dev/zero | tr "\0" a); echo survived'
    echo "hog status=$?"
    limited sh -c 'x=$(head -c 1000000 /dev/zero | tr "\0" a); echo fine'
    echo "left: $(cd $D && find . -mindepth 1 -type d)"
    echo $$ > $G/init/cgroup.procs && rmdir $D/session $D && echo "delegation removed"
fi
"#,
            user = user(""),
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    let lines: Vec<&str> = out.stdout.lines().collect();
    if lines.first() == Some(&"v2") {
        assert_eq!(
            lines[1..],
            [
                "undelegated status=125",
                "memory.max 33554432",
                "pids.max 20",
                "in it: sleep",
                "hog status=137",
                "fine",
                // ctr's cgroups gone, ctr's parent of them too.
                "left: ./session",
                "delegation removed",
            ],
            "{}",
            out.both()
        );
        assert!(
            out.stderr.contains(
                "no cgroup above /init is the user's: run the container without limits, \
                 or as root (sudo)"
            ),
            "{}",
            out.both()
        );
    } else {
        assert_eq!(lines, ["v1", "undelegated status=125"], "{}", out.both());
        assert!(
            out.stderr
                .contains("this host has cgroup v1, where only root makes cgroups"),
            "{}",
            out.both()
        );
    }
}

#[test]
fn without_subordinate_ids_root_inside_is_the_only_user() {
    let out = run(
        false,
        &format!(
            r#"{user}
as_user $C import $H/busybox-oci busybox >/dev/null
as_user $C run --rm --network none busybox sh -c 'id -u; cat /proc/self/uid_map; touch /x; chown 1000 /x || echo "chown refused"' | sed 's/^ */single: /'
as_user $C run --rm --network none -u 1000 busybox id; echo "status=$?"
"#,
            user = user(""),
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    for want in [
        "single: 0",
        "single: 0      65534          1",
        "single: chown refused",
        "status=125",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.trim_end() == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    for want in [
        "ctr: note: no subordinate ids for this user",
        "setting the uid 1000 (no such uid in this user namespace",
    ] {
        assert!(
            out.stderr.contains(want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
}

#[test]
fn root_remaps_a_containers_root_to_a_subordinate_range() {
    let out = run(
        false,
        r#"cp -a /etc /run/etc && printf 'root:200000:65536\n' > /run/etc/subuid
cp /run/etc/subuid /run/etc/subgid && mount --bind /run/etc /etc
$C run --name r --userns remap busybox sh -c 'id -u; touch /made /x; chown 1000:1000 /x; cat /proc/self/uid_map' | sed 's/^ */remap: /'
upper=$(echo /run/ctr/containers/*/upper)
echo "made: $(stat -c %u:%g $upper/made)"
echo "x: $(stat -c %u:%g $upper/x)"
echo "bin: $(stat -c %u $(echo /run/ctr/remapped/*/*)/bin)"
$C run -d --name d --userns remap busybox sleep 30 >/dev/null
$C exec d cat /proc/self/uid_map | sed 's/^ */exec: /'
$C rm -f d r >/dev/null
$C run --rm --userns remap:nobody busybox true; echo "status=$?"
$C rmi busybox busybox:entry busybox:bare >/dev/null
echo "remapped left: $(find /run/ctr/remapped -mindepth 2 -maxdepth 2 | wc -l)"
"#,
    );
    assert_eq!(out.status, 0, "{}", out.both());
    for want in [
        "remap: 0",
        "remap: 0     200000      65536",
        "made: 200000:200000",
        "x: 201000:201000",
        "bin: 200000",
        "exec: 0     200000      65536",
        "status=125",
        "remapped left: 0",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.trim_end() == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    assert!(
        out.stderr.contains("/etc/subuid has no range for nobody"),
        "{}",
        out.both()
    );
}

#[test]
fn fuse_overlayfs_serves_when_asked_for() {
    let out = run(
        false,
        &format!(
            r#"{user}
# fuse-overlayfs opens /dev/fuse as the user (0666 where udev made it).
mknod -m 666 /run/fuse c 10 229 && mount --bind /run/fuse /dev/fuse
as_user $C import $H/busybox-oci busybox >/dev/null
as_user env CTR_OVERLAY=fuse-overlayfs $C run --name f --network none busybox sh -c \
    'grep -o " - fuse.fuse-overlayfs " /proc/self/mountinfo | head -1; touch /made; rm /bin/ls; ls /bin/ls || echo "ls gone"'
upper=$(echo $H/.local/share/ctr/containers/*/upper)
echo "made: $(stat -c %u $upper/made)"
echo "whiteout: $(stat -c %F $upper/bin/ls)"
as_user $C rm f >/dev/null && echo removed
"#,
            user = user(RANGE),
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    for want in [
        " - fuse.fuse-overlayfs ",
        "ls gone",
        "made: 65534",
        "whiteout: character special file",
        "removed",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
}

/// What varies from run to run in the transcripts of the chapter on
/// rootless ctr: container IDs, digests, sizes, times, `ps`'s column widths;
/// and why a limit is refused, which is the host's cgroup version's (v1:
/// no delegation at all; v2: no subtree delegated to the user here).
const REDACTIONS: &[(&str, &str)] = &[
    (r"sha256:[0-9a-f]{12,64}", "sha256:<digest>"),
    (r"\b[0-9a-f]{64}\b", "<id>"),
    (r"\b[0-9a-f]{12}\b", "<id>"),
    (r"\(\d+(\.\d+)?[kMG]?B\)", "(<size>)"),
    (
        r"(About a|Less than a|an?|\d+) (second|minute|hour)s?( ago)?",
        "<time>",
    ),
    (
        r"limits (\(--memory|without root need a cgroup v2 subtree)[^\n]*?: run the container without limits",
        "limits <refused: the host's cgroups>: run the container without limits",
    ),
    (r"(?m) {2,}", "  "),
];

/// The chapter "Without root": an ordinary user (nobody, with the range
/// 100000-165535) pulls and runs busybox, sees its maps and who owns what it
/// wrote, finds the keeper, is refused what needs root, by name
/// (ctr-rootless.txt); then publishes a port through pasta
/// (ctr-rootless-pasta.txt). Commands typed as the user, `ctr` on PATH.
#[test]
fn the_rootless_story() {
    let out = run(
        false,
        &format!(
            r#"{registry}{user}{SHOW}
export PATH="$(dirname "$C"):$PATH"
you() {{ printf '$ %s\n' "$*"; as_user sh -c "$*" 2>&1; }}
show export CTR_REGISTRY_MIRROR=http://{ADDRESS}
you id
you grep nobody /etc/subuid /etc/subgid
you ctr pull busybox
you ctr run --rm busybox id
you ctr run --rm busybox cat /proc/self/uid_map /proc/self/gid_map
you "ctr run --name keep busybox sh -c 'touch /made /theirs; chown 1000:1000 /theirs; stat -c \"%u:%g %n\" /made /theirs'"
you 'cd ~/.local/share/ctr/containers/*/upper && stat -c "%u:%g %n" made theirs'
you ctr rm keep
you 'ls $XDG_RUNTIME_DIR/ctr'
you ps -o user,comm -C ctr-userns
you 'ctr run --rm -m 32m busybox true; echo $?'
you 'ctr run --rm --network bridge busybox true; echo $?'
echo '--- pasta'
you ctr run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /etc
wait_for curl -sf -o /dev/null http://127.0.0.1:8080/hostname
you curl -s http://127.0.0.1:8080/hostname
you ctr ps
you 'ps -o user,args -p $(cat ~/.local/share/ctr/containers/*/pasta.pid)'
you ctr rm -f web
you 'ctr run --rm -p 80:80 busybox true; echo $?'
"#,
            registry = registry::start(Auth::None),
            user = user(RANGE),
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    let (story, pasta) = out
        .stdout
        .split_once("--- pasta\n")
        .unwrap_or_else(|| panic!("the script ended early:\n{}", out.both()));
    for want in [
        "0 65534 1",
        "1 100000 65536",
        "0:0 /made",
        "1000:1000 /theirs",
        "65534:65534 made",
        "100999:100999 theirs",
        "nobody ctr-userns",
    ] {
        let squeezed = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            story.lines().any(|l| squeezed(l) == want),
            "{want:?} missing:\n{}",
            out.both()
        );
    }
    assert!(
        pasta.contains(" -t 8080:80 "),
        "pasta's listener missing:\n{}",
        out.both()
    );
    transcript::check_session("ctr-rootless.txt", story, REDACTIONS);
    transcript::check_session("ctr-rootless-pasta.txt", pasta, REDACTIONS);
}
