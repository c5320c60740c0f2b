//! Lesson 8, from the outside: each attack that root in a container of
//! lesson 7 can make, made again in lesson 8, where it is refused with the
//! error a learner sees; what images need still works; the device rules
//! seen from the sandbox, which plays the host; with the properties of
//! lessons 1–7.
//!
//! Each attack runs in one sandbox, first with lesson 7, then with lesson
//! 8, on the same image (lessons 4 to 8 share their store), as the
//! container's command: `sh -c 'exec 2>&1; ATTACK'`, so that what the
//! container's programs say on stderr comes out with the rest, and the
//! lessons' own messages are left out.
mod support;

use support::checks::{Lesson, CGROUPS_LEFT};
use support::{quote, Outcome};

fn lesson() -> Lesson {
    Lesson::get(8)
}

/// What an attack printed in each lesson, and its exit status last
/// (`status=N`).
struct Attack {
    in_7: String,
    in_8: String,
    out: Outcome,
}

/// Runs ATTACK, shell lines, as the command of a container of lesson 7,
/// then of lesson 8.
fn attack(script: &str) -> Attack {
    let command = quote(&format!("exec 2>&1\n{script}"));
    let image = lesson().image.unwrap();
    let runs: Vec<String> = [Lesson::get(7).bin, lesson().bin]
        .iter()
        .map(|bin| {
            format!(
                "{} run {image} sh -c {command} 2>/dev/null; echo status=$?; echo -----\n",
                quote(&bin.display().to_string())
            )
        })
        .collect();
    let out = lesson().sandbox(&runs.concat());
    assert_eq!(out.status, 0, "{}", out.both());
    let parts: Vec<&str> = out.stdout.split("-----\n").collect();
    assert_eq!(parts.len(), 3, "{}", out.both());
    Attack {
        in_7: parts[0].to_string(),
        in_8: parts[1].to_string(),
        out,
    }
}

impl Attack {
    /// Fails unless lesson 7 printed each of SUCCEEDED and lesson 8 each of
    /// REFUSED.
    fn expect(&self, succeeded: &[&str], refused: &[&str]) {
        for said in succeeded {
            assert!(
                self.in_7.contains(said),
                "lesson 7 should have printed {said:?}: {}",
                self.out.both()
            );
        }
        for said in refused {
            assert!(
                self.in_8.contains(said),
                "lesson 8 should have printed {said:?}: {}",
                self.out.both()
            );
        }
    }
}

/// A capability set of /proc/self/status, as a number.
fn set(text: &str, name: &str) -> u64 {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:\t")))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    u64::from_str_radix(line, 16).expect("a hexadecimal capability set")
}

const CAP_SYS_ADMIN: u64 = 1 << 21;

// --- the attacks: each succeeds in lesson 7, and is refused in lesson 8 ----

#[test]
fn capabilities_are_cut_to_dockers_14_in_all_five_sets() {
    let run = attack("grep '^Cap' /proc/self/status");
    // Lesson 7's root has all that the host's root has.
    assert_ne!(
        set(&run.in_7, "CapEff") & CAP_SYS_ADMIN,
        0,
        "{}",
        run.out.both()
    );
    assert_ne!(
        set(&run.in_7, "CapBnd") & CAP_SYS_ADMIN,
        0,
        "{}",
        run.out.both()
    );
    // Lesson 8's: what docker's containers show, and nothing to hand on.
    assert_eq!(
        run.in_8,
        "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n\
         CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nstatus=0\n",
        "{}",
        run.out.both()
    );
}

#[test]
fn mounting_is_refused_without_cap_sys_admin() {
    let run = attack("mount -t tmpfs none /tmp && echo mounted");
    run.expect(
        &["mounted\nstatus=0\n"],
        &["mount: permission denied (are you root?)\nstatus=1\n"],
    );
}

#[test]
fn changing_the_network_is_refused_without_cap_net_admin() {
    let run = attack("ip addr add 10.9.9.9/32 dev lo && ip -o -4 addr show lo");
    run.expect(
        &["inet 10.9.9.9/32 scope global lo"],
        &["ip: RTNETLINK answers: Operation not permitted\nstatus=2\n"],
    );
}

#[test]
fn a_device_node_made_with_mknod_cannot_be_opened() {
    // c 1 11 is the host's kernel log, /dev/kmsg. Reading it needs
    // CAP_SYSLOG as well (kernel.dmesg_restrict=1 on Debian); opening it
    // for writing, which would let the container forge lines of the
    // host's log, needs nothing but the device: only the device rules
    // refuse it. (Nothing is written: `true` writes nothing.) CAP_MKNOD is
    // docker's, so mknod itself succeeds in both.
    let run = attack(
        "mknod /tmp/kmsg c 1 11 && echo made
        head -n 1 /tmp/kmsg
        true 3>> /tmp/kmsg && echo 'opened for writing'
        rm /tmp/kmsg",
    );
    // A record of /dev/kmsg: "priority,sequence,time,flags;message".
    let record = regex::Regex::new(r"(?m)^made\n\d+,\d+,\d+,[-c+];").unwrap();
    assert!(record.is_match(&run.in_7), "{}", run.out.both());
    run.expect(
        &["opened for writing\nstatus=0\n"],
        &["made\nhead: /tmp/kmsg: Operation not permitted\n\
             sh: can't create /tmp/kmsg: Operation not permitted\nstatus=0\n"],
    );
}

#[test]
fn what_proc_tells_of_the_whole_machine_is_masked() {
    // /proc/timer_list: the host's timers, on every CPU, with the names of
    // the host's processes that set them. (Docker's list has /proc/kcore
    // too, which this kernel lacks: the lesson skips what is not there.)
    let run = attack("head -n 1 /proc/timer_list; wc -c < /proc/timer_list");
    run.expect(&["Timer List Version: "], &["0\nstatus=0\n"]);
    assert_eq!(run.in_8, "0\nstatus=0\n", "{}", run.out.both());
}

#[test]
fn proc_sys_is_read_only() {
    // kernel/hostname is the UTS namespace's own: harmless to write in a
    // test. kernel/core_pattern, which names a program the host's kernel
    // runs as root when any process dumps core, is a file of the same
    // kind, and the host's own: only the read-only mount keeps root from
    // writing either (no capability guards them).
    let run = attack("echo pwned > /proc/sys/kernel/hostname; hostname");
    run.expect(
        &["pwned\nstatus=0\n"],
        &["sh: can't create /proc/sys/kernel/hostname: Read-only file system\ncontainer\n"],
    );
}

#[test]
fn the_kernel_log_is_refused_by_the_seccomp_filter() {
    // syslog(2), which dmesg calls, reads the host's kernel log: no
    // namespace holds it. The filter refuses it whatever the host's
    // kernel.dmesg_restrict (with 1, CAP_SYSLOG is needed as well, and
    // lesson 8 has dropped it).
    let run = attack("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; dmesg | head -n 1");
    run.expect(
        &["NoNewPrivs:\t0\nSeccomp:\t0\n"],
        &["NoNewPrivs:\t1\nSeccomp:\t2\ndmesg: klogctl: Operation not permitted\nstatus=0\n"],
    );
    let log_line = run.in_7.lines().nth(2).unwrap_or_default();
    assert!(
        log_line.starts_with('[') && !log_line.starts_with("status="),
        "lesson 7 should have printed a line of the kernel log: {}",
        run.out.both()
    );
}

// --- what lesson 8 leaves, and how it is made ---------------------------------

#[test]
fn dev_holds_the_harmless_devices_and_the_rules_allow_only_them() {
    // The sandbox reads the rules while the container runs: v1's
    // devices.list of its cgroup; v2 has no file to read (the program
    // attached is tested by the attack above, and in the VM tier).
    let out = lesson().sandbox(&format!(
        "{} 2>/dev/null &\n\
         for i in $(seq 200); do pgrep -x sleep >/dev/null && break; sleep 0.05; done\n\
         if [ -d /sys/fs/cgroup/devices ]; then echo v1; cat /sys/fs/cgroup/devices/step-08/*/devices.list; else echo v2; fi\n\
         pkill -KILL -x sleep; wait",
        lesson().command(
            &[],
            &[
                "sh",
                "-c",
                "ls /dev | tr '\\n' ' '; echo; echo x > /dev/null && head -c 4 /dev/urandom | wc -c; sleep 5",
            ],
        )
    ));
    let mut expected = "fd full null random stderr stdin stdout tty urandom zero \n4\n".to_string();
    if out.stdout.contains("\nv1\n") {
        expected.push_str(
            "v1\nc *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\n",
        );
    } else {
        expected.push_str("v2\n");
    }
    assert_eq!(out.stdout, expected, "{}", out.both());
}

#[test]
fn what_images_need_still_works() {
    // Docker's 14 are what images use: chown (CAP_CHOWN), binding port 80
    // (CAP_NET_BIND_SERVICE), ping (CAP_NET_RAW), another user
    // (su: CAP_SETUID, CAP_SETGID), /dev/null for background jobs.
    let script =
        "touch /tmp/f; chown 65534:65534 /tmp/f && ls -n /tmp/f | awk '{ print $3 \":\" $4 }'
        nc -l -p 80 & sleep 0.3; netstat -ltn | grep -c ':80 '; kill $!
        ping -c 1 -W 2 10.200.0.1 >/dev/null && echo pinged
        su -s /bin/sh nobody -c 'id -u'";
    let out = lesson().run(&["sh", "-c", script]);
    assert_eq!(
        out.stdout,
        "65534:65534\n1\npinged\n65534\n",
        "{}",
        out.both()
    );
}

#[test]
fn no_cgroup_is_left_after_any_ending() {
    // As lesson 7's: a failure after the cgroup was made (a bridge0 that is
    // not the lessons'), exit 0, a command not found, the OOM killer; and a
    // device refused.
    let bin = quote(&lesson().bin.display().to_string());
    let image = lesson().image.unwrap();
    let out = lesson().sandbox(&format!(
        r#"B={bin} IMAGE={image}
        [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] && echo v2 || echo v1
        find /sys/fs/cgroup -type d | sort > /run/before
        ip link add bridge0 type bridge; $B run --pids 20 $IMAGE true 2>/run/err; echo $?; ip link del bridge0
        grep -c 'rmdir /sys/fs/cgroup/.*step-08/[0-9]' /run/err
        $B run --memory 32M --pids 20 --cpus 0.5 $IMAGE true 2>/dev/null; echo $?
        $B run $IMAGE no-such-command 2>/dev/null; echo $?
        $B run --memory 32M $IMAGE awk 'BEGIN {{ x = sprintf("%200000000s", "") }}' 2>/dev/null; echo $?
        $B run $IMAGE sh -c 'mknod /tmp/k c 1 11; cat /tmp/k; s=$?; rm /tmp/k; exit $s' 2>/dev/null; echo $?
        {CGROUPS_LEFT}
        find /sys/fs/cgroup -type d | sort > /run/after; diff /run/before /run/after && echo unchanged"#
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    // The container's cgroup, once per tree: v1's five, v2's one.
    let removed = if out.stdout.starts_with("v2\n") { 1 } else { 5 };
    assert_eq!(
        out.stdout.lines().skip(1).collect::<Vec<_>>(),
        [
            "125",
            &removed.to_string(),
            "0",
            "127",
            "137",
            "1",
            "unchanged"
        ],
        "{}",
        out.both()
    );
}

// --- what lessons 1–7 did still holds ----------------------------------------

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
    memory_is_limited,
);

// --- the chapter's transcript and the demo -----------------------------------

/// What `just step 8` with a shell prints, as the chapter shows it (on
/// the machine's cgroup version); then the demo, `just step 8` alone.
#[test]
fn transcript_of_a_run_and_the_demo() {
    use support::registry::{self, Auth};
    let image = lesson().image.unwrap();
    let run = format!(
        "just step 8 {image} sh <<'EOF'\n\
         grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status\n\
         ls /dev\n\
         mount -t tmpfs none /tmp; echo \"mount: status $?\"\n\
         EOF"
    );
    let script = format!(
        "step-08-lockdown pull {image} >/dev/null 2>&1\n{{\n{run}\n}} 2>&1\necho ----\n\
         CTR_DEMO_IMAGE={image} just step 8 2>&1\n{CGROUPS_LEFT}"
    );
    let out =
        support::transcript::as_a_reader("step-08-lockdown", &registry::start(Auth::None), &script);
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(!out.stderr.contains("cgroups left"), "{}", out.both());
    let (ran, demo) = out.stdout.split_once("----\n").expect("the separator");
    for said in [
        "CapEff:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n",
        "mount: permission denied (are you root?)\n",
    ] {
        assert!(ran.contains(said), "{said}: {}", out.both());
    }
    for said in [
        "CapEff:\t00000000a80425fb\n",
        "inside: mount was refused\n",
        "inside: /proc/sys is read-only\n",
        "inside: made /tmp/kmsg, but opening it was refused\n",
        "exited with status 0\n",
    ] {
        assert!(demo.contains(said), "{said}: {}", out.both());
    }
    let name = if ran.contains("/sys/fs/cgroup is cgroup v2") {
        "step-08-run.txt"
    } else {
        "step-08-run-v1.txt"
    };
    support::transcript::check(name, &run, ran, &REDACTIONS);
}

/// Host PIDs vary from run to run: they name the container's cgroup (the
/// lesson's), the veth ends, and what is written into cgroup.procs.
const REDACTIONS: [(&str, &str); 6] = [
    (r"PID \d+ on the host", "PID <pid> on the host"),
    (r"([vc]eth)\d+", "${1}<pid>"),
    (r"(/proc/|netns )\d+", "${1}<pid>"),
    (r"step-08/\d+", "step-08/<pid>"),
    (r"echo \d+ > ", "echo <pid> > "),
    (r"(?m)^\d+: ", "<index>: "),
];
