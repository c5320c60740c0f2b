//! The lessons' transcripts that the book shows: what `just step N` prints,
//! and the sessions of the chapters' "Check it yourself" and "What can go
//! wrong", each typed as a reader would, in a sandbox (whose hostname is
//! "sandbox"), and checked with insta (see support/transcript.rs).
mod support;

use std::collections::BTreeMap;

use support::network::outside_script;
use support::registry::{self, Auth};
use support::transcript::{self, SHOW};
use support::{quote, repo, sandbox, sandbox_file};

/// Makes ./rootfs, as `just rootfs` does, and builds every lesson, outside
/// the sandbox, so that neither is part of a transcript (nor of its time).
fn prepare() {
    static PREPARED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    PREPARED.get_or_init(|| {
        if !repo().join("rootfs/bin/busybox").exists() {
            let status = std::process::Command::new(repo().join("scripts/mkrootfs"))
                .arg(repo().join("rootfs"))
                .status()
                .expect("running scripts/mkrootfs");
            assert!(status.success(), "scripts/mkrootfs rootfs failed");
        }
        support::binary("step-01-uts"); // builds every lesson
                                        // `just step N` builds its lesson alone, whose dependencies then have
                                        // fewer features than in the workspace's build: build that variant
                                        // too, now, rather than in the middle of a session.
        for lesson in std::fs::read_dir(repo().join("steps")).unwrap() {
            let name = lesson.unwrap().file_name().to_string_lossy().into_owned();
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--package", &format!("step-{name}")])
                .current_dir(repo())
                .status()
                .expect("running cargo build");
            assert!(status.success(), "cargo build --package step-{name} failed");
        }
    });
}

/// Runs `just step N` in a sandbox, as a reader would, output and errors merged.
fn just_step(n: u8) -> String {
    prepare();
    let out = sandbox(&format!("just step {n} 2>&1"));
    assert_eq!(out.status, 0, "just step {n}: {}", out.both());
    out.stdout
}

/// The reader's place in a session: the repository at /home/you/ctr (a
/// bind of this one, shared as the sandbox's / is, but in a peer group of
/// its own, so that a mount under it does not show under the real path),
/// and a /tmp of the sandbox's own, unless the repository is under /tmp (a
/// clone in /tmp/x): a tmpfs there would hide its target/, fixtures and all.
const READER: &str = "\
mount -t tmpfs reader-home /home
mkdir -p /home/you/ctr
mount --bind \"$PWD\" /home/you/ctr
mount --make-private /home/you/ctr
mount --make-shared /home/you/ctr
cd /home/you/ctr
case $OLDPWD in /tmp | /tmp/*) ;; *) mount -t tmpfs reader-tmp /tmp ;; esac
";

/// What the network lessons' sessions need first: the lessons' store on a
/// tmpfs, the outside host, the fixture registry, and its busybox pulled.
fn network_prelude() -> String {
    format!(
        "mount -t tmpfs reader-var-lib /var/lib\n{}{}\
         export CTR_DEMO_IMAGE={}/library/busybox:latest\n\
         target/debug/step-05-bridge-veth pull $CTR_DEMO_IMAGE >/dev/null 2>&1\n",
        outside_script(),
        registry::start(Auth::None),
        registry::ADDRESS
    )
}

/// Shell lines that wait (up to 5 s) until `pgrep -x NAME` finds a process.
fn wait_for(name: &str) -> String {
    format!("for i in $(seq 100); do pgrep -x {name} >/dev/null && break; sleep 0.05; done\n")
}

/// Starts the transcript NAME of a session.
fn part(name: &str) -> String {
    format!("echo '----- {name}'\n")
}

/// A command of a session, typed as root in the sandbox (`# CMD`).
fn root(command: &str) -> String {
    format!("root {}\n", quote(command))
}

/// Runs a session in a sandbox, as a reader in the repository: PRELUDE
/// (not shown), then SCRIPT, whose `----- NAME` lines start the transcript
/// NAME. Returns each transcript's text.
fn session(name: &str, prelude: &str, script: &str) -> BTreeMap<String, String> {
    prepare();
    let file = format!("target/sessions/{name}.sh");
    std::fs::create_dir_all(repo().join("target/sessions")).expect("making target/sessions");
    std::fs::write(
        repo().join(&file),
        format!("{READER}{prelude}{SHOW}{script}true\n"),
    )
    .expect("writing the session's script");
    let out = sandbox_file(&file);
    assert_eq!(out.status, 0, "{}", out.both());
    let mut parts = BTreeMap::new();
    let mut name = None;
    for line in out.stdout.lines() {
        if let Some(next) = line.strip_prefix("----- ") {
            name = Some(next.to_string());
            parts.insert(next.to_string(), String::new());
        } else if let Some(name) = &name {
            let text = parts.get_mut(name).unwrap();
            text.push_str(line);
            text.push('\n');
        }
    }
    for text in parts.values_mut() {
        let end = text.trim_end().len();
        text.truncate(end);
        text.push('\n');
    }
    parts
}

/// Checks each transcript of a session, with the same filters.
fn check_all(parts: &BTreeMap<String, String>, names: &[&str], filters: &[(&str, &str)]) {
    for name in names {
        let text = parts
            .get(*name)
            .unwrap_or_else(|| panic!("the session printed no {name}: {parts:?}"));
        transcript::check_session(&format!("{name}.txt"), text, filters);
    }
}

/// Host PIDs vary from run to run.
const HOST_PID: (&str, &str) = (r"PID \d+ on the host", "PID <pid> on the host");
/// So do namespaces' inode numbers...
const INODE: (&str, &str) = (r"\b40265\d{5}\b", "<inode>");
/// ...the line of the justfile that just names when a recipe fails...
const JUST_LINE: (&str, &str) = (r"on line \d+ with", "on line <n> with");
/// ...and the width of columns (lsns, findmnt), which follows them.
const COLUMNS: (&str, &str) = (r"(?m) {2,}", " ");
/// The container's namespaces in `lsns -o TYPE,PID,COMMAND`, after COLUMNS.
const LSNS_PID: (&str, &str) = (r"(?m)^(mnt|uts|pid) \d+ sleep", "$1 <pid> sleep");

#[test]
fn step_01() {
    transcript::check("step-01.txt", "just step 1", &just_step(1), &[]);
}

#[test]
fn step_02() {
    // The host's PIDs of the container's shell and of the processes around it.
    let proc_says = (r"/proc says I am \d+", "/proc says I am <pid>");
    let ps_rows = (r"(?m)^ +\d+ ", "<pid> ");
    let redactions = [HOST_PID, proc_says, ps_rows];
    transcript::check("step-02.txt", "just step 2", &just_step(2), &redactions);
}

#[test]
fn step_03() {
    transcript::check("step-03.txt", "just step 3", &just_step(3), &[HOST_PID]);
}

/// Chapter 1: unshare(1), a container seen from outside, exit statuses,
/// and the lesson refusing to run as an ordinary user.
#[test]
fn chapter_1_sessions() {
    let script = [
        part("step-01-unshare"),
        root("unshare --uts sh -c 'hostname box; hostname'"),
        root("hostname"),
        part("step-01-outside"),
        root("just step 1 sleep 60 2>/dev/null &"),
        wait_for("sleep"),
        root("pid=$(pgrep -x sleep)"),
        root("readlink /proc/$pid/ns/uts /proc/$$/ns/uts"),
        root("lsns -t uts -o NS,PID,COMMAND | sort -n -k 2"),
        root("nsenter --target $pid --uts hostname"),
        root("kill -INT $(pgrep -x step-01-uts); wait $!; echo $?"),
        part("step-01-status"),
        root("just step 1 sh -c 'exit 7'; echo $?"),
        root("just step 1 no-such-command; echo $?"),
        root("just step 1 /etc/passwd; echo $?"),
        part("step-01-not-root"),
        "user 'target/debug/step-01-uts run hostname; echo $?'\n".into(),
    ]
    .concat();
    let parts = session("chapter-1", "", &script);
    // lsns: the sandbox's PID 1 and the container's sleep, by host PID.
    let lsns_pid = (r"(?m)^(<inode>) (\d{2,})", "$1 <pid>");
    check_all(
        &parts,
        &[
            "step-01-unshare",
            "step-01-outside",
            "step-01-status",
            "step-01-not-root",
        ],
        &[INODE, COLUMNS, lsns_pid, JUST_LINE],
    );
}

/// Chapter 2: the command is PID 1; a container seen from outside, deaf to
/// SIGTERM without a handler; PID 1 takes its namespace with it; and ps
/// confused by the host's /proc.
#[test]
fn chapter_2_sessions() {
    let script = [
        part("step-02-pid1"),
        root("just step 2 sh -c 'echo $$'"),
        root("just step 1 sh -c 'echo $$'"),
        part("step-02-outside"),
        root("just step 2 sleep 60 2>/dev/null &"),
        wait_for("sleep"),
        root("pid=$(pgrep -x sleep)"),
        root("grep NSpid /proc/$pid/status"),
        root("readlink /proc/$pid/ns/pid /proc/$$/ns/pid"),
        root("lsns -p $pid -o TYPE,PID,COMMAND | sort -n -k 2"),
        root("pkill -TERM -x step-02-pid; sleep 1; pgrep -x sleep >/dev/null && echo still there"),
        root("kill -KILL $pid; wait $!; echo $?"),
        root(
            "just step 2 sh -c 'trap \"echo got TERM; exit 3\" TERM; while :; do sleep 1; done' \
             2>/dev/null &",
        ),
        // The loop's first `sleep 1` runs once the shell's trap is set.
        wait_for("sleep"),
        root("pkill -TERM -x step-02-pid; wait $!; echo $?"),
        part("step-02-orphan"),
        root("just step 2 sh -c 'sleep 100 & echo started $!'"),
        root("pgrep -x sleep || echo gone"),
        part("step-02-ps"),
        root("just step 2 sh -c 'ps; echo status $?'"),
    ]
    .concat();
    let parts = session("chapter-2", "", &script);
    let nspid = (r"NSpid:\s+\d+\s+1", "NSpid: <pid> 1");
    let lesson_1_pid = (r"(?m)^\d{2,}$", "<pid>");
    check_all(
        &parts,
        &[
            "step-02-pid1",
            "step-02-outside",
            "step-02-orphan",
            "step-02-ps",
        ],
        &[
            HOST_PID,
            INODE,
            COLUMNS,
            LSNS_PID,
            nspid,
            lesson_1_pid,
            JUST_LINE,
        ],
    );
}

/// Chapter 3: the host's files out of sight, /proc and mountinfo, the host's
/// mount table unchanged, a container seen from outside, a leaked mount
/// (made with unshare, as a lesson without its first mount would), and a
/// rootfs that is not one.
#[test]
fn chapter_3_sessions() {
    let script = [
        part("step-03-host-files"),
        root("echo secret > /tmp/host-only"),
        root("just step 3 rootfs cat /tmp/host-only"),
        root("just step 3 rootfs cat /etc/os-release"),
        part("step-03-proc"),
        root("just step 3 rootfs ls /proc | grep '^[0-9]'"),
        root("just step 3 rootfs cat /proc/self/mountinfo"),
        root("findmnt -o TARGET,PROPAGATION -t proc"),
        part("step-03-unchanged"),
        root("findmnt > /tmp/before.txt"),
        root("just step 3 >/dev/null 2>&1"),
        root("findmnt > /tmp/after.txt"),
        root("diff /tmp/before.txt /tmp/after.txt && echo same"),
        part("step-03-outside"),
        root("just step 3 rootfs sleep 60 2>/dev/null &"),
        "lesson=$!\n".into(),
        wait_for("sleep"),
        root("pid=$(pgrep -x sleep)"),
        root("lsns -p $pid -o TYPE,PID,COMMAND | sort -n -k 2"),
        root("readlink /proc/$pid/root"),
        root("ls rootfs/proc"),
        root("ls /proc/$pid/root/proc | grep '^[0-9]'"),
        "kill -KILL $pid; wait $lesson\n".into(),
        part("step-03-leak"),
        root(
            "unshare --mount --propagation unchanged \
             mount -t proc -o nosuid,nodev,noexec proc rootfs/proc",
        ),
        root("findmnt rootfs/proc"),
        root("findmnt -o TARGET,PROPAGATION rootfs/proc"),
        root("umount rootfs/proc"),
        root("findmnt rootfs/proc || echo not mounted"),
        part("step-03-errors"),
        root("just step 3 /no/such/rootfs sh; echo $?"),
        root("just step 3 /etc/hostname sh; echo $?"),
        root("just step 3 rootfs bash; echo $?"),
    ]
    .concat();
    let parts = session("chapter-3", "", &script);
    // mountinfo: a mount's ID, its parent's and its device vary.
    let mountinfo = (r"(?m)^\d+ \d+ \d+:\d+ ", "<id> <parent> <dev> ");
    let shared = (r"shared:\d+", "shared:<n>");
    check_all(
        &parts,
        &[
            "step-03-host-files",
            "step-03-proc",
            "step-03-unchanged",
            "step-03-outside",
            "step-03-leak",
            "step-03-errors",
        ],
        &[
            HOST_PID, INODE, COLUMNS, LSNS_PID, mountinfo, shared, JUST_LINE,
        ],
    );
}

/// What varies in the network lessons: host PIDs and the names made of
/// them, interface indexes, MAC addresses and the link-local addresses made
/// of them, times, and TCP's ports and sequence numbers.
const NETWORK: &[(&str, &str)] = &[
    HOST_PID,
    (r"([vc]eth)\d+", "${1}<pid>"),
    (r"(/proc/|netns )\d+", "${1}<pid>"),
    (r"@if\d+", "@if<n>"),
    (r"(?m)^\d+: ", "<index>: "),
    (r"\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b", "<mac>"),
    (r"fe80::[0-9a-f:]+", "fe80::<from-mac>"),
    // Until duplicate address detection is done, a second or two.
    (r" tentative", ""),
    (r"(leases/[\d.]+:)\d+", "${1}<pid>"),
    (r"\b\d\d:\d\d:\d\d\.\d{6}\b", "<time>"),
    (r"time=[\d.]+ ms", "time=<t> ms"),
    (r"= [\d.]+/[\d.]+/[\d.]+ ms", "= <t> ms"),
    (r"\.\d{4,5}\b", ".<port>"),
    (r"(sport|dport)=\d{4,5}", "$1=<port>"),
    (r"(seq|ack|win|val|ecr) \d+(:\d+)?", "$1 <n>"),
    (r"(?m)^(tcp +6) \d+", "$1 <timeout>"),
    (r"length \d+", "length <n>"),
    (r"wscale \d+", "wscale <n>"),
    (r"(?m) {2,}", " "),
];

/// Chapter 5: the collision refused, a container seen from the host, two
/// containers, the frames on the bridge, and no way out yet.
#[test]
fn chapter_5_sessions() {
    let script = [
        part("step-05-collision"),
        root("ip route add 10.200.0.0/16 via 198.51.100.1"),
        root("just step 5 $CTR_DEMO_IMAGE true; echo $?"),
        root("ip route del 10.200.0.0/16 via 198.51.100.1"),
        part("step-05-outside"),
        root("just step 5 $CTR_DEMO_IMAGE sleep 60 2>/dev/null &"),
        "lesson=$!\n".into(),
        wait_for("sleep"),
        "for i in $(seq 100); do [ -e /run/ctr-lessons/leases/10.200.0.2 ] && ip link show type veth | grep -q veth && break; sleep 0.05; done; sleep 0.3\n".into(),
        root("pid=$(pgrep -x sleep)"),
        root("nsenter --net=/proc/$pid/ns/net ip addr"),
        root("ip -br link"),
        root("bridge link"),
        root("grep -H . /run/ctr-lessons/leases/*"),
        root("ip netns attach ctr $pid"),
        root("ip -n ctr -br addr"),
        root("ip -n ctr route"),
        root("ip netns delete ctr"),
        part("step-05-ping"),
        root("busybox ping -c 1 10.200.0.2"),
        root("just step 5 $CTR_DEMO_IMAGE ping -c 1 10.200.0.2 2>/dev/null"),
        part("step-05-tcpdump"),
        root("tcpdump -i bridge0 -n -l 'arp or icmp' 2>/dev/null &"),
        "sleep 1\n".into(),
        root("just step 5 $CTR_DEMO_IMAGE ping -c 1 10.200.0.2 >/dev/null 2>&1"),
        "sleep 0.5\n".into(),
        root("pkill tcpdump"),
        "sleep 0.2; kill -KILL $pid; wait $lesson\n".into(),
        part("step-05-unreachable"),
        root(
            "just step 5 $CTR_DEMO_IMAGE sh -c \
             'timeout 3 wget -q -O - http://198.51.100.1/cgi-bin/ip || echo unreachable' 2>/dev/null",
        ),
    ]
    .concat();
    let parts = session("chapter-5", &network_prelude(), &script);
    check_all(
        &parts,
        &[
            "step-05-collision",
            "step-05-outside",
            "step-05-ping",
            "step-05-tcpdump",
            "step-05-unreachable",
        ],
        NETWORK,
    );
}

/// Chapter 6: the translation seen on both sides of the host, the
/// connection table, and a host behind systemd-resolved.
#[test]
fn chapter_6_sessions() {
    let w = "timeout 3 wget -q -O - http://198.51.100.1/cgi-bin/ip || echo unreachable";
    let script = [
        part("step-06-conntrack"),
        root(&format!("W='{w}'")),
        root("just step 6 $CTR_DEMO_IMAGE sh -c \"$W\" 2>/dev/null"),
        root("conntrack -L -p tcp --dport 80 2>/dev/null"),
        // bridge0 exists now, made by the run above: tcpdump can listen on it.
        part("step-06-tcpdump"),
        root("tcpdump -i bridge0 -n -l 'tcp port 80' > /run/bridge.txt 2>/dev/null &"),
        root("tcpdump -i uplink -n -l 'tcp port 80' > /run/uplink.txt 2>/dev/null &"),
        "sleep 1\n".into(),
        root("just step 6 $CTR_DEMO_IMAGE sh -c \"$W\" 2>/dev/null"),
        "sleep 0.5\n".into(),
        root("pkill tcpdump; sleep 0.2; head -3 /run/bridge.txt /run/uplink.txt"),
        part("step-06-resolv"),
        root("echo 'nameserver 127.0.0.53' > /run/stub.conf"),
        root("mount --bind /run/stub.conf /etc/resolv.conf"),
        root("just step 6 $CTR_DEMO_IMAGE cat /etc/resolv.conf 2>&1 | grep -v '^step-06-nat: +'"),
        root(
            "mkdir -p /run/systemd/resolve; \
             echo 'nameserver 192.0.2.53' > /run/systemd/resolve/resolv.conf",
        ),
        root("just step 6 $CTR_DEMO_IMAGE cat /etc/resolv.conf 2>&1 | grep -v '^step-06-nat: +'"),
    ]
    .concat();
    let parts = session("chapter-6", &network_prelude(), &script);
    check_all(
        &parts,
        &["step-06-tcpdump", "step-06-conntrack", "step-06-resolv"],
        NETWORK,
    );
}

/// Whether this machine has cgroup v2 (the sandbox has the host's kind).
fn cgroup_v2() -> bool {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%T", "/sys/fs/cgroup"])
        .output()
        .expect("running stat");
    String::from_utf8_lossy(&out.stdout).trim() == "cgroup2fs"
}

/// Chapter 7: a container's cgroup come and gone, a fork bomb held to its
/// pids limit, the OOM killer counted, throttling read from cpu.stat. The
/// chapter shows v2's sessions (what readers have) and v1's in a fold; each
/// machine checks those of its version, named `-v1` on v1. v2's were
/// recorded in the `just vm` machine: this test's binary, built on the
/// host, run there with `CTR_TESTS_PREBUILT=1 INSTA_UPDATE=always`, and the
/// files it wrote (in the guest's overlay) printed and copied back. The VM
/// tier leaves this test out: it takes minutes under emulation.
#[test]
fn chapter_7_sessions() {
    let v2 = cgroup_v2();
    // Where step-07 is for a controller: v2's one tree, or v1's tree of it.
    let tree = |controller: &str| {
        if v2 {
            "/sys/fs/cgroup/step-07".to_string()
        } else {
            format!("/sys/fs/cgroup/{controller}/step-07")
        }
    };
    let (pids, memory, cpu, cpuacct) = (tree("pids"), tree("memory"), tree("cpu"), tree("cpuacct"));
    let limits = if v2 {
        format!("cat {memory}/[0-9]*/memory.max {cpu}/[0-9]*/cpu.max")
    } else {
        format!("cat {memory}/[0-9]*/memory.limit_in_bytes {cpu}/[0-9]*/cpu.cfs_quota_us")
    };
    let oom_file = if v2 {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    let cpu_stat = if v2 {
        "cat $G/cpu.stat".to_string()
    } else {
        format!("cat $G/cpu.stat {cpuacct}/[0-9]*/cpuacct.usage")
    };
    // Waits (up to 30 s: an emulated machine is slow) until FILE of the container's cgroup holds a line
    // that matches PATTERN.
    let wait_until = |file: String, pattern: &str| {
        format!(
            "for i in $(seq 600); do grep -qE '{pattern}' {file} 2>/dev/null && break; sleep 0.05; done\n"
        )
    };
    let fill = r#"awk "BEGIN { x = sprintf(\"%200000000s\", \"\") }""#;
    let script = [
        part("step-07-watch"),
        root("just step 7 --memory 32M --pids 20 --cpus 0.5 $CTR_DEMO_IMAGE sleep 30 2>/dev/null &"),
        "lesson=$!\n".into(),
        wait_for("sleep"),
        root(&format!("ls -d {pids}/[0-9]*")),
        root(&format!("cat {pids}/[0-9]*/cgroup.procs")),
        root(&limits),
        root("grep step-07 /proc/$(pgrep -x sleep)/cgroup"),
        root("kill -KILL $(pgrep -x sleep); wait $lesson"),
        root(&format!("ls {pids}")),
        part("step-07-bomb"),
        root(
            "sleep 30 | just step 7 --pids 20 $CTR_DEMO_IMAGE sh -c '[ -e /dev/null ] || mknod -m 666 /dev/null c 1 3; b() { b | b & }; b; read x' 2>/tmp/bomb.err &",
        ),
        "lesson=$!\n".into(),
        wait_until(format!("{pids}/[0-9]*/pids.events"), "^max [1-9]"),
        root(&format!("cat {pids}/[0-9]*/pids.current {pids}/[0-9]*/pids.events")),
        root("wait $lesson; grep -m 1 \"can't fork\" /tmp/bomb.err"),
        part("step-07-oom"),
        root(&format!(
            "(sleep 30; echo) | just step 7 --memory 32M $CTR_DEMO_IMAGE sh -c 'for i in 1 2 3; do {fill}; echo \"child $i: $?\"; done; echo \"read it now\"; read x' 2>/dev/null &"
        )),
        "lesson=$!\n".into(),
        wait_until(format!("{memory}/[0-9]*/{oom_file}"), "^oom_kill 3"),
        "sleep 0.5\n".into(),
        root(&format!("grep -w oom_kill {memory}/[0-9]*/{oom_file}")),
        "wait $lesson\n".into(),
        part("step-07-throttle"),
        root(
            "just step 7 --cpus 0.5 $CTR_DEMO_IMAGE sh -c 'timeout 5 sh -c \"while :; do :; done\"; true' 2>/dev/null &",
        ),
        "lesson=$!\n".into(),
        wait_for("timeout"),
        root(&format!("sleep 1; G=$(echo {cpu}/[0-9]*)")),
        root(&format!("{cpu_stat}; sleep 2; {cpu_stat}")),
        "wait $lesson\n".into(),
    ]
    .concat();
    let parts = session("chapter-7", &network_prelude(), &script);
    let suffix = if v2 { "" } else { "-v1" };
    let named = |name: &str| format!("{name}{suffix}");
    // The session's parts are named without the suffix: rename them.
    let parts: BTreeMap<String, String> = parts
        .into_iter()
        .map(|(name, text)| (named(&name), text))
        .collect();
    // Host PIDs name the container's cgroup and fill cgroup.procs (a
    // sandbox's PIDs have four digits at most); v1's hierarchy IDs depend on
    // the order the trees were mounted in.
    let cgroups: &[(&str, &str)] = &[
        (r"step-07/\d+", "step-07/<pid>"),
        (r"(?m)^\d+:(\w|:)", "<id>:$1"),
        (r"(?m)^\d{1,4}$", "<pid>"),
    ];
    check_all(
        &parts,
        &[&named("step-07-watch"), &named("step-07-oom")],
        cgroups,
    );
    // How many processes the bomb has at a moment (20 at most: the filter
    // is the check), and how many forks were refused, vary with timing.
    let bomb: &[(&str, &str)] = &[
        (r"(?m)^([0-9]|1[0-9]|20)$", "<20 at most>"),
        (r"(?m)^max \d+$", "max <n>"),
        // Shells that fail at once write their messages into each other,
        // even mid-line: the line says a fork was refused, however mixed.
        (
            r"(?m)^(sh: )+can't fork: Resource temporarily unavailable.*$",
            "sh: can't fork: Resource temporarily unavailable",
        ),
    ];
    check_all(&parts, &[&named("step-07-bomb")], bomb);
    // CPU time and periods vary with the machine's load.
    let counts: &[(&str, &str)] = &[(r"(?m)^([\w.]+ )?\d+$", "${1}<n>")];
    check_all(&parts, &[&named("step-07-throttle")], counts);
}

/// Chapter 8: each attack, made in a container of lesson 7, then of lesson
/// 8. `2>/dev/null` leaves out what the lessons say; `exec 2>&1`, inside,
/// sends what the container's programs say on stderr to its output. (The
/// VM tier leaves this out: the attacks' tests run there.)
#[test]
fn chapter_8_sessions() {
    let attacks = [
        ("step-08-caps", "grep Cap /proc/self/status"),
        (
            "step-08-mount",
            "exec 2>&1; mount -t tmpfs none /tmp && echo mounted",
        ),
        (
            "step-08-net",
            "exec 2>&1; ip addr add 10.9.9.9/32 dev lo && ip -o -4 addr show lo",
        ),
        (
            "step-08-kmsg",
            "exec 2>&1; mknod /tmp/kmsg c 1 11 && head -n 1 /tmp/kmsg | cut -d \";\" -f 1; \
             true 3>> /tmp/kmsg && echo opened for writing; rm /tmp/kmsg",
        ),
        (
            "step-08-masked",
            "exec 2>&1; head -n 1 /proc/timer_list; wc -c < /proc/timer_list",
        ),
        (
            "step-08-proc-sys",
            "exec 2>&1; echo pwned > /proc/sys/kernel/hostname; hostname",
        ),
        (
            "step-08-seccomp",
            "exec 2>&1; grep -E \"^(NoNewPrivs|Seccomp):\" /proc/self/status; dmesg | wc -l",
        ),
    ];
    let mut script = String::new();
    for (name, attack) in attacks {
        script.push_str(&part(name));
        for n in [7, 8] {
            script.push_str(&root(&format!(
                "just step {n} $CTR_DEMO_IMAGE sh -c {} 2>/dev/null",
                quote(attack)
            )));
        }
    }
    let parts = session("chapter-8", &network_prelude(), &script);
    let names: Vec<&str> = attacks.iter().map(|(name, _)| *name).collect();
    // What the host's kernel says varies: its log (the transcripts show a
    // record's header, and a count of lines, not what the host logged),
    // its timers.
    let varies: &[(&str, &str)] = &[
        (r"(?m)^\d+,\d+,\d+,[-c+]$", "<priority>,<sequence>,<time>,-"),
        (r"(?m)^[1-9]\d*$", "<n>"),
        (r"Timer List Version: .*", "Timer List Version: <v>"),
    ];
    check_all(&parts, &names, varies);
}
