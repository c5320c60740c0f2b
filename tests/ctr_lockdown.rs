//! `ctr run` confines its process as docker does, and `--privileged` lifts
//! it: each escape that a container without confinement has (mounting,
//! reading the host's kernel files in /proc, opening a device node it made,
//! changing the host's network, every capability, no seccomp filter) is
//! tried with no flags (refused) and with `--privileged` (it works), in a
//! throwaway sandbox. The capability sets and seccomp mode are compared
//! with podman's for the flags that change them; the flags that add
//! confinement (`--read-only`, `--security-opt`) and give devices back
//! (`--device`) each have a case.
mod support;

use support::ctr::{in_sandbox, ok};
use support::ctr_podman;

/// Each probe prints `NAME=ok` when the container could, `NAME=refused`
/// when it could not:
/// - mount: a tmpfs mounted (needs CAP_SYS_ADMIN, and seccomp allows mount
///   only with it);
/// - masked: /proc/timer_list (the host's timers, one of docker's masked
///   paths; /proc/kcore is another, which this kernel lacks) has content;
/// - procsys: /proc/sys written (read-only but with --privileged), through
///   the container's own hostname, so that the probe changes nothing else;
/// - kmsg: a node made with `mknod c 1 11` (the kernel log) read;
/// - fuse: a node made with `mknod c 10 229` opened, which only the device
///   rules forbid (docker denies fuse by name; opening it needs no
///   capability);
/// - ip: an address added to an interface of the host's network
///   (`--network host`; the sandbox's own loopback stands for the host's).
const PROBES: &str = r#"
probe() { if "$@" >/dev/null 2>&1; then echo "$name=ok"; else echo "$name=refused"; fi; }
name=mount probe sh -c 'mkdir -p /tmp/m && mount -t tmpfs t /tmp/m'
name=masked probe sh -c 'test "$(head -c 10 /proc/timer_list | wc -c)" -gt 0'
name=procsys probe sh -c 'echo probed > /proc/sys/kernel/hostname'
name=kmsg probe sh -c 'mknod /tmp/kmsg c 1 11 && head -c 1 /tmp/kmsg'
name=fuse probe sh -c 'mknod /tmp/fuse c 10 229 && exec 3</tmp/fuse'
name=ip probe ip addr add 10.99.0.1/32 dev lo
grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status | tr -d '\t'
"#;

fn probes(flags: &str) -> String {
    format!(
        "$C run --rm --network host {flags} busybox sh -c {}\n",
        support::quote(PROBES)
    )
}

/// The sandbox's own bounding set, which `--privileged` passes on whole.
fn sandbox_caps() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    line.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn every_probe_is_refused_by_default() {
    support::require_root();
    let out = ok(&probes(""));
    assert_eq!(
        out.stdout,
        "mount=refused\nmasked=refused\nprocsys=refused\nkmsg=refused\nfuse=refused\n\
         ip=refused\nCapEff:00000000a80425fb\nCapBnd:00000000a80425fb\nSeccomp:2\n",
        "{}",
        out.both()
    );
}

/// The same on cgroup v2, which has no devices controller: the device
/// rules are a BPF program attached to the container's cgroup. (On a v1
/// or hybrid machine the sandbox mounts its own v2 tree there, as on a
/// distribution of the unified layout.)
#[test]
fn every_probe_is_refused_on_cgroup_v2_too() {
    support::require_root();
    let out = ok(&format!(
        "[ \"$(stat -f -c %T /sys/fs/cgroup)\" = cgroup2fs ] || \
         mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 98\n{}\
         $C run --rm --network none --device /dev/fuse busybox sh -c 'exec 3</dev/fuse && echo opened'\n\
         $C run --rm --network none --privileged busybox sh -c \
             'mknod /tmp/fuse c 10 229 && exec 3</tmp/fuse && echo privileged'\n\
         ls /sys/fs/cgroup/ctr | wc -l\n",
        probes("")
    ));
    assert_eq!(
        out.stdout,
        "mount=refused\nmasked=refused\nprocsys=refused\nkmsg=refused\nfuse=refused\n\
         ip=refused\nCapEff:00000000a80425fb\nCapBnd:00000000a80425fb\nSeccomp:2\n\
         opened\nprivileged\n0\n",
        "{}",
        out.both()
    );
}

#[test]
fn every_probe_works_with_privileged() {
    support::require_root();
    let out = ok(&probes("--privileged"));
    let caps = sandbox_caps();
    assert_eq!(
        out.stdout,
        format!(
            "mount=ok\nmasked=ok\nprocsys=ok\nkmsg=ok\nfuse=ok\nip=ok\n\
             CapEff:{caps}\nCapBnd:{caps}\nSeccomp:0\n"
        ),
        "{}",
        out.both()
    );
}

/// `ctr exec` runs its process with the container's confinement (the
/// process of its config.json): the same sets, the same filter.
#[test]
fn exec_is_confined_as_run() {
    support::require_root();
    let out = ok(r#"
        S='grep -E "^(CapEff|CapBnd|Seccomp):" /proc/self/status | tr -d "\t"'
        $C run -d --name c --network none --cap-drop ALL --cap-add KILL busybox sleep 30 >/dev/null
        $C exec c sh -c "$S"
        $C exec c mount -t tmpfs t /tmp 2>/dev/null || echo "mount refused"
        $C rm -f c >/dev/null
    "#);
    assert_eq!(
        out.stdout,
        "CapEff:0000000000000020\nCapBnd:0000000000000020\nSeccomp:2\nmount refused\n",
        "{}",
        out.both()
    );
}

#[test]
fn capabilities_and_seccomp_match_podman() {
    support::require_root();
    let flags = ["", "--cap-drop ALL", "--cap-add NET_ADMIN", "--privileged"];
    let mut script = String::from(ctr_podman::SETUP);
    let status = "grep -E \"^(CapPrm|CapEff|CapBnd|Seccomp):\" /proc/self/status";
    for f in flags {
        for (name, run) in [
            ("ctr", "$C run --rm --network none"),
            ("podman", "$PODMAN_RUN"),
        ] {
            script.push_str(&format!(
                "echo \"{name} {f}\"; {run} {f} busybox sh -c '{status}'\n"
            ));
        }
    }
    let out = in_sandbox(true, &script);
    if let Some(why) = ctr_podman::failure(out.status) {
        panic!(
            "{why}, so ctr cannot be compared with it (this test does not pass without \
             podman):\n{}",
            out.both()
        );
    }
    assert_eq!(out.status, 0, "{}", out.both());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), flags.len() * 2 * 5, "{}", out.both());
    for (i, f) in flags.iter().enumerate() {
        let ctr = &lines[i * 10 + 1..i * 10 + 5];
        let podman = &lines[i * 10 + 6..i * 10 + 10];
        assert_eq!(ctr, podman, "flags {f:?}: {}", out.both());
    }
    // And the figures themselves, as measured with podman 4.3 here.
    assert_eq!(lines[2], "CapEff:\t00000000a80425fb", "{}", out.both());
    assert_eq!(lines[12], "CapEff:\t0000000000000000", "{}", out.both());
    assert_eq!(lines[22], "CapEff:\t00000000a80435fb", "{}", out.both());
    assert_eq!(lines[34], "Seccomp:\t0", "{}", out.both());
}

#[test]
fn read_only_refuses_writes_to_the_root() {
    support::require_root();
    let out = ok(r#"
        $C run --rm --network none --read-only busybox sh -c 'echo x > /file; echo "root: $?"; echo x > /dev/shm/file; echo "shm: $?"' 2>&1
        $C run --rm --network none busybox sh -c 'echo x > /file; echo "default: $?"'
    "#);
    assert!(
        out.stdout.contains("Read-only file system\nroot: 1\n"),
        "{}",
        out.both()
    );
    assert!(out.stdout.contains("shm: 0\n"), "{}", out.both());
    assert!(out.stdout.contains("default: 0\n"), "{}", out.both());
}

#[test]
fn a_seccomp_profile_in_dockers_format() {
    support::require_root();
    // mkdir answers EACCES (13); everything else is allowed.
    let out = in_sandbox(
        true,
        r#"
        cat > /run/no-mkdir.json <<'JSON'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
  ]
}
JSON
        $C run --rm --network none --security-opt seccomp=/run/no-mkdir.json busybox \
            sh -c 'mkdir /made; echo "mkdir: $?"; grep Seccomp: /proc/self/status' 2>&1
        $C run --rm --network none --security-opt seccomp=unconfined \
            --security-opt no-new-privileges busybox \
            grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
        echo '{"defaultAction": "SCMP_ACT_ALLOW", "sycalls": []}' > /run/typo.json
        $C run --rm --network none --security-opt seccomp=/run/typo.json busybox true
        echo "typo: $?"
        $C ps -a -q | wc -l
    "#,
    );
    assert_eq!(out.status, 0, "{}", out.both());
    let expected = "mkdir: can't create directory '/made': Permission denied\nmkdir: 1\n\
                    Seccomp:\t2\nNoNewPrivs:\t1\nSeccomp:\t0\ntypo: 125\n0\n";
    assert_eq!(out.stdout, expected, "{}", out.both());
    assert!(
        out.stderr
            .contains("--security-opt seccomp=/run/typo.json: reading it as a seccomp profile"),
        "{}",
        out.both()
    );
    assert!(out.stderr.contains("sycalls"), "{}", out.both());
}

#[test]
fn device_gives_one_node_back() {
    support::require_root();
    let out = ok(r#"
        $C run --rm --network none --device /dev/fuse busybox \
            sh -c 'ls -l /dev/fuse | cut -c1; exec 3</dev/fuse && echo opened'
        $C run --rm --network none --device /dev/fuse:/dev/f:r busybox \
            sh -c 'exec 3</dev/f && echo read; (exec 4>/dev/f) || echo "no write"' 2>/dev/null
        $C run --rm --network none --device /dev/nothing busybox true; echo "missing: $?"
    "#);
    assert!(
        out.stderr
            .contains("--device /dev/nothing: reading /dev/nothing"),
        "{}",
        out.both()
    );
    assert_eq!(
        out.stdout,
        "c\nopened\nread\nno write\nmissing: 125\n",
        "{}",
        out.both()
    );
}

/// CVE-2019-5736: a container's process that can open `/proc/PID/exe` of
/// the runtime while the runtime is inside the container (an `exec`
/// joining it, `--init`'s PID 1) can reach, and once no process runs it,
/// overwrite the host's binary. The runtime's processes in a container
/// are not dumpable, so without CAP_SYS_PTRACE their `exe` is closed: a
/// watcher inside the container sees no process but busybox through 30
/// `exec`s, `--init`'s PID 1 cannot be read or written, and `run`'s PID 1
/// is the program itself. With `--privileged` (CAP_SYS_PTRACE) the binary
/// is still not writable while it runs ("Text file busy"); SECURITY.md says
/// what is left.
#[test]
fn the_runtime_binary_is_out_of_reach() {
    support::require_root();
    let out = ok(r#"
        before=$(sha256sum < "$C")
        $C run -d --name w --network none busybox sh -c 'while :; do for p in /proc/[0-9]*; do
            t=$(readlink $p/exe) && [ "$t" != /bin/busybox ] && echo "$p $t" >> /tmp/seen; done; done' >/dev/null
        for i in $(seq 30); do $C exec w true || echo "exec failed"; done
        $C exec w sh -c 'echo "seen: $(cat /tmp/seen 2>/dev/null)"'
        $C rm -f w >/dev/null
        $C run --rm --network none busybox readlink /proc/1/exe
        $C run --rm --init --network none busybox sh -c 'readlink /proc/1/exe || echo "readlink refused";
            cat /proc/1/exe >/dev/null || echo "read refused"; (echo x >> /proc/1/exe) || echo "write refused"'
        $C run --rm --init --privileged --network none busybox sh -c '(echo x >> /proc/1/exe) || echo "write refused"'
        [ "$(sha256sum < "$C")" = "$before" ] && echo "binary unchanged"
    "#);
    assert_eq!(
        out.stdout,
        "seen: \n/bin/busybox\nreadlink refused\nread refused\nwrite refused\nwrite refused\n\
         binary unchanged\n",
        "{}",
        out.both()
    );
    assert!(out.stderr.contains("Text file busy"), "{}", out.both());
}
