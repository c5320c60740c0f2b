//! The properties of the lessons, as checks a later lesson re-runs: lesson 3
//! must still isolate the hostname as lesson 1 did. Each check runs the lesson
//! in a fresh sandbox and looks at it from the outside, as a user would.

use super::network::{outside_script, whoami_command, UPLINK};
use super::registry::{self, Auth};
use super::{binary, quote, quote_all, rootfs, sandbox, Outcome};
use std::path::PathBuf;

/// Declares one `#[test]` per check named, each running it on the test
/// file's `lesson()`: how a lesson's tests re-run the earlier lessons'.
#[macro_export]
macro_rules! recheck {
    ($($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                support::checks::$check(&lesson());
            }
        )*
    };
}

/// A lesson, and how to run a command with it.
pub struct Lesson {
    pub number: u8,
    pub name: &'static str,
    pub bin: PathBuf,
    /// The ROOTFS argument of lesson 3; from lesson 4, the files the
    /// image's rootfs has (the same busybox rootfs).
    pub rootfs: Option<PathBuf>,
    /// The IMAGE argument, from lesson 4 on.
    pub image: Option<String>,
    /// Shell lines each sandbox runs first (from lesson 4: the registry).
    pub prelude: String,
    /// Where the container's / is, as a shell glob in the sandbox.
    pub root_in_sandbox: Option<String>,
}

impl Lesson {
    pub fn get(number: u8) -> Lesson {
        let name = match number {
            1 => "step-01-uts",
            2 => "step-02-pid",
            3 => "step-03-mount-chroot",
            4 => "step-04-pull",
            5 => "step-05-bridge-veth",
            6 => "step-06-nat",
            7 => "step-07-cgroups",
            8 => "step-08-lockdown",
            9 => "step-09-userns",
            _ => panic!("no lesson {number} yet"),
        };
        let rootfs = (number >= 3).then(rootfs);
        let mut lesson = Lesson {
            number,
            name,
            bin: binary(name),
            root_in_sandbox: rootfs.as_ref().map(|r| quote(&r.display().to_string())),
            rootfs,
            image: None,
            prelude: String::new(),
        };
        if number >= 4 {
            // The image comes from the fixture registry, started in each
            // sandbox, into a store on the sandbox's own /run (lessons 5
            // and 6 keep images where lesson 4 does).
            // Pulled first: checks that time the container (a signal 0.5 s
            // after the start) must not time the pull, which takes that long
            // on a busy machine.
            let image = format!("{}/library/busybox:latest", registry::ADDRESS);
            lesson.prelude = format!(
                "export CTR_ROOT=/run/ctr\n{}{} pull {image} > /dev/null 2>&1\n",
                registry::start(Auth::None),
                quote(&lesson.bin.display().to_string()),
            );
            lesson.image = Some(image);
            lesson.root_in_sandbox = Some("/run/ctr/lessons/04/images/sha256/*/rootfs".into());
        }
        lesson
    }

    /// The shell command that runs CMD in this lesson, with OPTIONS before
    /// the positional arguments.
    pub fn command(&self, options: &[&str], cmd: &[&str]) -> String {
        let mut words = vec![self.bin.display().to_string(), "run".to_string()];
        words.extend(options.iter().map(|o| o.to_string()));
        if let Some(image) = &self.image {
            words.push(image.clone());
        } else if let Some(rootfs) = &self.rootfs {
            words.push(rootfs.display().to_string());
        }
        words.extend(cmd.iter().map(|c| c.to_string()));
        quote_all(&words)
    }

    /// Runs CMD in this lesson, in a fresh sandbox.
    pub fn run(&self, cmd: &[&str]) -> Outcome {
        self.sandbox(&self.command(&[], cmd))
    }

    /// Runs SCRIPT in a fresh sandbox, after the lesson's prelude. From
    /// lesson 7, however the run ended, no cgroup of the lesson may be left
    /// in the sandbox's tree.
    pub fn sandbox(&self, script: &str) -> Outcome {
        if self.number < 7 {
            return sandbox(&format!("{}{script}", self.prelude));
        }
        let out = sandbox(&format!(
            "{}( {script}\n)\nstatus=$?\n{}\nexit $status",
            self.prelude, CGROUPS_LEFT
        ));
        assert!(
            !out.stderr.contains("cgroups left:"),
            "the lesson left cgroups behind: {}",
            out.both()
        );
        out
    }

    pub fn has_pid_namespace(&self) -> bool {
        self.number >= 2
    }
}

/// A shell line that says on stderr which cgroups of lessons 7 to 9
/// (`step-07`, `step-08`, `step-09` and below, in any tree) are in the sandbox's
/// cgroup tree, if any.
pub const CGROUPS_LEFT: &str = "left=$(find /sys/fs/cgroup -path '*/step-0[789]*' -type d); \
     [ -z \"$left\" ] || echo \"cgroups left: $left\" >&2";

/// Lesson 1: the container has its own hostname; the host keeps its own.
pub fn hostname_is_isolated(lesson: &Lesson) {
    let inside = lesson.command(
        &["--hostname", "box"],
        &["sh", "-c", "hostname; hostname renamed"],
    );
    let script = format!("{inside}; echo \"after: $(hostname)\"");
    let out = lesson.sandbox(&script);
    assert_eq!(out.status, 0, "{}", out.both());
    assert_eq!(out.stdout, "box\nafter: sandbox\n", "{}", out.both());
    assert!(out.stderr.contains("\"sandbox\""), "{}", out.both());

    let out = lesson.run(&["hostname"]);
    assert_eq!(
        out.stdout,
        "container\n",
        "the default hostname: {}",
        out.both()
    );
}

/// All lessons: the container's exit status becomes the program's.
pub fn exit_status_is_the_containers(lesson: &Lesson) {
    for code in [0, 1, 7, 255] {
        let out = lesson.run(&["sh", "-c", &format!("exit {code}")]);
        assert_eq!(out.status, code, "{}", out.both());
    }
    // Killed by signal N: 128+N, as a shell reports it. SIGKILL comes from
    // the sandbox, since not even SIGKILL reaches a PID 1 from inside.
    let run = lesson.command(&[], &["sleep", "30"]);
    let out = lesson.sandbox(&format!(
        "{run} & {}; pkill -KILL -x sleep; wait $!; echo status=$?",
        wait_for_sleep()
    ));
    assert_eq!(out.stdout, "status=137\n", "{}", out.both());
}

/// All lessons: SIGTERM and SIGINT sent to the program reach the container,
/// whose handler runs and whose exit status comes back.
pub fn signals_reach_the_container(lesson: &Lesson) {
    for (signal, code) in [("TERM", 3), ("INT", 4)] {
        let trap = format!(
            "trap 'echo got {signal}; exit {code}' {signal}; echo ready > /run/ready-{signal}; \
             while :; do sleep 0.1; done"
        );
        let run = lesson.command(&[], &["sh", "-c", &trap]);
        let script = format!(
            "rm -f {ready}; {run} & pid=$!
             for i in $(seq 100); do [ -e {ready} ] && break; sleep 0.05; done
             kill -{signal} $pid; wait $pid; echo status=$?",
            ready = ready_file(lesson, signal),
        );
        let out = lesson.sandbox(&script);
        assert_eq!(
            out.stdout,
            format!("got {signal}\nstatus={code}\n"),
            "{}",
            out.both()
        );
    }
}

/// Where the container's "ready" file appears, seen from the sandbox.
fn ready_file(lesson: &Lesson, signal: &str) -> String {
    match &lesson.root_in_sandbox {
        Some(root) => format!("{root}/run/ready-{signal}"),
        None => format!("/run/ready-{signal}"),
    }
}

/// A shell line that waits (up to 10 s) until the container's `sleep` runs:
/// from lesson 4 on, a run pulls its image first, which can take a while
/// on a busy machine.
fn wait_for_sleep() -> &'static str {
    "for i in $(seq 200); do pgrep -x sleep >/dev/null && break; sleep 0.05; done"
}

/// Lesson 1 has no PID namespace: a signal with no handler kills the command.
/// From lesson 2 the command is PID 1, which the kernel shields from every
/// signal it has no handler for, SIGTERM included: only SIGKILL ends it.
pub fn sigterm_without_a_handler(lesson: &Lesson) {
    let run = lesson.command(&[], &["sleep", "30"]);
    let script = format!(
        "{run} & pid=$!; {}; kill -TERM $pid; sleep 0.5
         if kill -0 $pid 2>/dev/null; then echo alive; kill -KILL $(pgrep -x sleep); fi
         wait $pid; echo status=$?",
        wait_for_sleep()
    );
    let out = lesson.sandbox(&script);
    let expected = if lesson.has_pid_namespace() {
        "alive\nstatus=137\n"
    } else {
        "status=143\n"
    };
    assert_eq!(out.stdout, expected, "{}", out.both());
}

/// From lesson 2: the command is PID 1 of its own namespace (in lesson 1,
/// an ordinary process of the host's).
pub fn command_is_pid_1(lesson: &Lesson) {
    let out = lesson.run(&["sh", "-c", "echo $$"]);
    assert_eq!(out.status, 0, "{}", out.both());
    let is_pid_1 = out.stdout == "1\n";
    assert_eq!(is_pid_1, lesson.has_pid_namespace(), "{}", out.both());
}

/// All lessons: the command starts with default signal dispositions, though
/// Rust ignores SIGPIPE in the lesson itself: `yes | head -1` ends quietly.
pub fn signals_start_as_default(lesson: &Lesson) {
    let script = "yes | head -n 1; grep SigIgn /proc/self/status";
    let out = lesson.run(&["sh", "-c", script]);
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(out.stdout.starts_with("y\n"), "{}", out.both());
    assert!(!out.stderr.contains("Broken pipe"), "{}", out.both());
    // The mask of ignored signals, in hex: bit N-1 for signal N.
    let ignored = out
        .stdout
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(1));
    let ignored = u64::from_str_radix(ignored.unwrap_or("?"), 16).expect("a SigIgn mask");
    assert_eq!(
        ignored & (1 << (13 - 1)),
        0,
        "SIGPIPE is ignored: {}",
        out.both()
    );
}

/// All lessons: an unknown command exits 127 and is named; a file that is
/// not executable exits 126.
pub fn command_errors(lesson: &Lesson) {
    let out = lesson.run(&["no-such-command", "arg"]);
    assert_eq!(out.status, 127, "{}", out.both());
    assert!(
        out.stderr.contains("no-such-command: command not found"),
        "{}",
        out.both()
    );

    let out = lesson.run(&["/etc/passwd"]);
    assert_eq!(out.status, 126, "{}", out.both());
    assert!(
        out.stderr.contains("/etc/passwd: cannot run"),
        "{}",
        out.both()
    );
}

/// All lessons: run without root, the lesson says to use sudo and exits 125.
pub fn refuses_non_root(lesson: &Lesson) {
    let run = lesson.command(&[], &["true"]);
    let out = lesson.sandbox(&format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups {run}"
    ));
    assert_eq!(out.status, 125, "{}", out.both());
    assert!(out.stderr.contains("needs root"), "{}", out.both());
    assert!(out.stderr.contains("sudo"), "{}", out.both());
}

/// Lesson 2 only: /proc is still the host's, so `ps` in the container lists
/// the host's processes (the sandbox's PID 1 among them). Lesson 3 fixes it.
pub fn ps_still_shows_the_host(lesson: &Lesson) {
    let out = lesson.run(&["ps", "-e", "-o", "pid=,comm="]);
    assert_eq!(out.status, 0, "{}", out.both());
    let rows: Vec<_> = out.stdout.lines().map(str::trim).collect();
    assert!(
        rows.contains(&"1 bash"),
        "the sandbox's PID 1: {}",
        out.both()
    );
    assert!(
        rows.iter().any(|r| r.ends_with(lesson.name)),
        "{}",
        out.both()
    );
}

/// From lesson 3: /proc is the container's own, so it lists only the
/// container's processes, numbered from 1.
pub fn proc_lists_only_the_container(lesson: &Lesson) {
    let out = lesson.run(&["sh", "-c", "ps -o pid,comm; ls -d /proc/[0-9]*"]);
    assert_eq!(out.status, 0, "{}", out.both());
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("PID   COMMAND"), "{}", out.both());
    assert_eq!(lines.next().map(str::trim), Some("1 sh"), "{}", out.both());
    assert_eq!(lines.next().map(str::trim), Some("2 ps"), "{}", out.both());
    // sh expands the glob itself, after ps has exited: only sh is left.
    let rest: Vec<_> = lines.collect();
    assert_eq!(rest, ["/proc/1"], "{}", out.both());
}

/// From lesson 3: the container sees the rootfs as /, and nothing of the
/// host's files: not even a file the host made a moment before.
pub fn host_paths_are_invisible(lesson: &Lesson) {
    let rootfs = lesson.rootfs.as_ref().expect("lesson 3 or later");
    let run = lesson.command(
        &[],
        &[
            "sh",
            "-c",
            "ls /; cat /etc/os-release; test -e /run/host-only && echo visible; true",
        ],
    );
    let out = lesson.sandbox(&format!(
        "echo secret > /run/host-only; {run}; cat /run/host-only"
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    let mut expected: Vec<_> = std::fs::read_dir(rootfs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    let listed: Vec<_> = out.stdout.lines().take(expected.len()).collect();
    assert_eq!(listed, expected, "{}", out.both());
    assert!(out.stdout.contains("ctr busybox rootfs"), "{}", out.both());
    assert!(!out.stdout.contains("visible"), "{}", out.both());
    assert!(out.stdout.ends_with("secret\n"), "{}", out.both());
}

/// From lesson 3: the host's mount table is the same after the run, though
/// the container mounted /proc and a tmpfs, on a host whose / is shared.
pub fn host_mounts_are_unchanged(lesson: &Lesson) {
    let run = lesson.command(
        &[],
        &[
            "sh",
            "-c",
            "mount -t tmpfs scratch /tmp; grep -c . /proc/mounts",
        ],
    );
    let out = lesson.sandbox(&format!(
        "cat /proc/self/mountinfo > /run/before; {run}; \
         cat /proc/self/mountinfo > /run/after; diff /run/before /run/after && echo same"
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(out.stdout.ends_with("same\n"), "{}", out.both());

    // The control: the same mount made without making / private first leaks
    // into the sandbox. So the check above can see a leak when there is one.
    let out = lesson.sandbox(
        "cat /proc/self/mountinfo > /run/before; \
         unshare --mount --propagation unchanged mount -t tmpfs leaked /mnt; \
         cat /proc/self/mountinfo > /run/after; diff /run/before /run/after | grep -c leaked",
    );
    assert_eq!(out.stdout, "1\n", "the leak was not seen: {}", out.both());
}

/// From lesson 3: no descriptor of the lesson's caller reaches the
/// container. The caller holds the sandbox's /etc open as fd 7 (a shell's
/// `exec 7</etc`); through it, `/proc/self/fd/7/..` would be the sandbox's
/// `/`, whatever the root (runc's CVE-2024-21626 was such a descriptor).
pub fn host_descriptors_do_not_reach_the_container(lesson: &Lesson) {
    let probe = "ls /proc/self/fd | tr '\\n' ' '; \
                 test -e /proc/self/fd/7 && cat /proc/self/fd/7/hostname; true";
    let run = lesson.command(&[], &["sh", "-c", probe]);
    let out = lesson.sandbox(&format!("exec 7</etc\n{run}"));
    assert_eq!(out.status, 0, "{}", out.both());
    // 3 is the listing's own directory.
    assert_eq!(out.stdout, "0 1 2 3 ", "{}", out.both());
}

/// From lesson 3: a ROOTFS that is missing or not a directory is refused
/// with a message that says what to do.
pub fn rootfs_errors(lesson: &Lesson) {
    let bin = quote(&lesson.bin.display().to_string());
    let out = sandbox(&format!("{bin} run /no/such/rootfs sh"));
    assert_eq!(out.status, 125, "{}", out.both());
    assert!(
        out.stderr
            .contains("rootfs /no/such/rootfs does not exist: make one with `just rootfs`"),
        "{}",
        out.both()
    );
    let out = sandbox(&format!("{bin} run /etc/hostname sh"));
    assert_eq!(out.status, 125, "{}", out.both());
    assert!(
        out.stderr
            .contains("rootfs /etc/hostname is not a directory"),
        "{}",
        out.both()
    );
}

/// From lesson 4: the container runs the image's files with the image's
/// configuration: its Env (and none of the host's), its WorkingDir, its
/// Entrypoint and Cmd.
pub fn image_config_is_applied(lesson: &Lesson) {
    let image = lesson.image.as_deref().expect("lesson 4 or later");
    let run = lesson.command(
        &[],
        &["sh", "-c", "echo $GREETING; pwd; echo ${HOST_ONLY:-unset}"],
    );
    let entrypoint = image.replace(":latest", ":entrypoint");
    let bin = quote(&lesson.bin.display().to_string());
    let out = lesson.sandbox(&format!(
        "HOST_ONLY=1 {run}; {bin} run {entrypoint}; {bin} run {entrypoint} given args"
    ));
    assert_eq!(out.status, 0, "{}", out.both());
    assert_eq!(
        out.stdout,
        "hello from the image\n/\nunset\nentry: default\nentry: given args\n",
        "{}",
        out.both()
    );
}

/// From lesson 5: the container has eth0 with an address on bridge0's
/// subnet, a default route through the host, and reaches the host.
pub fn eth0_is_on_the_bridge(lesson: &Lesson) {
    let out = lesson.run(&[
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip route; ping -c 1 -W 2 10.200.0.1 >/dev/null && echo gateway reached",
    ]);
    assert_eq!(out.status, 0, "{}", out.both());
    assert!(
        out.stdout.contains("eth0    inet 10.200.0.2/24"),
        "{}",
        out.both()
    );
    assert!(
        out.stdout.contains("default via 10.200.0.1 dev eth0"),
        "{}",
        out.both()
    );
    assert!(out.stdout.ends_with("gateway reached\n"), "{}", out.both());
}

/// From lesson 7: the container is held to its memory limit. awk makes a
/// string of 200,000,000 spaces in 32 MiB: the OOM killer ends it, and
/// with it the container, 128 + 9.
pub fn memory_is_limited(lesson: &Lesson) {
    let fill = "BEGIN { x = sprintf(\"%200000000s\", \"\"); print length(x) }";
    let run = lesson.command(&["--memory", "32M"], &["awk", fill]);
    let out = lesson.sandbox(&format!("{run}; echo status=$?"));
    assert_eq!(out.stdout, "status=137\n", "{}", out.both());
}

/// From lesson 6: the container reaches the outside, which sees the
/// request come from the host's address, not the container's.
pub fn the_outside_sees_the_host(lesson: &Lesson) {
    let run = lesson.command(&[], &["sh", "-c", &whoami_command()]);
    let out = lesson.sandbox(&format!("{}{run}", outside_script()));
    assert_eq!(out.status, 0, "{}", out.both());
    assert_eq!(out.stdout, format!("{UPLINK}\n"), "{}", out.both());
}
