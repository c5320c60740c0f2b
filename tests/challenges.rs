//! Checks for the book's coding challenges: `just check-challenge N.M` runs
//! the check of challenge M of chapter N against your changed lesson, from
//! the outside, as the lesson's own tests do. They are `#[ignore]`d: the
//! lessons in the repository leave the challenges to you.
//!
//! One test that is not ignored, `the_lessons_leave_every_challenge_open`,
//! runs every check against the lessons as they are and requires each to
//! fail: a check that passed on an unsolved lesson would check nothing. (If
//! you solved one in your copy, that test fails there: it is the sign that
//! your solution works.)
mod support;

use regex::Regex;
use support::checks::Lesson;
use support::network::{outside_script, OUTSIDE, UPLINK};
use support::{quote, rootfs, Outcome};

/// What a check found: `Err` says what is missing, in the challenge's terms.
type Check = Result<(), String>;

/// A challenge's number, as `just check-challenge` takes it, and its check.
type Challenge = (&'static str, fn() -> Check);

/// Turns a condition on what ran into a check's result.
fn expect(ok: bool, what: &str, out: &Outcome) -> Check {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}\n{}", out.both()))
    }
}

/// Runs CMD in LESSON with OPTIONS before its positional arguments.
fn run_with(lesson: &Lesson, options: &[&str], cmd: &[&str]) -> Outcome {
    lesson.sandbox(&lesson.command(options, cmd))
}

/// Lesson 3's command with OPTIONS, on a copy of the test rootfs under the
/// sandbox's /run (so that a half-done solution cannot change the rootfs
/// the other tests share): shell lines that make the copy, then the command.
fn lesson_3(options: &[&str], cmd: &str) -> String {
    let lesson = Lesson::get(3);
    format!(
        "cp -a {} /run/rootfs\n{} run {} /run/rootfs {cmd}",
        quote(&rootfs().display().to_string()),
        quote(&lesson.bin.display().to_string()),
        options.join(" ")
    )
}

// --- the hostname ----------------------------------------------------------

/// 1.1: `--domainname NAME` sets the container's NIS domain name, and only
/// its own.
fn challenge_1_1() -> Check {
    let lesson = Lesson::get(1);
    let run = lesson.command(
        &["--domainname", "example.org"],
        &["cat", "/proc/sys/kernel/domainname"],
    );
    let out = lesson.sandbox(&format!(
        "before=$(cat /proc/sys/kernel/domainname); {run}; \
         [ \"$(cat /proc/sys/kernel/domainname)\" = \"$before\" ] && echo host-unchanged"
    ));
    expect(
        out.status == 0 && out.stdout == "example.org\nhost-unchanged\n",
        "`run --domainname example.org cat /proc/sys/kernel/domainname` should print \
         example.org and leave the host's domain name as it was",
        &out,
    )
}

/// 1.2: the last line says how long the container ran.
fn challenge_1_2() -> Check {
    let out = Lesson::get(1).run(&["sleep", "1"]);
    let after = Regex::new(r"after (\d+(?:\.\d+)?) ?s\b").unwrap();
    let seconds: Option<f64> = after.captures(&out.stderr).and_then(|c| c[1].parse().ok());
    expect(
        out.status == 0 && seconds.is_some_and(|s| (1.0..5.0).contains(&s)),
        "after `run sleep 1`, the lesson's last lines should say `after 1.0 s` (or so)",
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 1.1`"]
fn challenge_1_1_a_domain_name_too() {
    challenge_1_1().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 1.2`"]
fn challenge_1_2_how_long_it_ran() {
    challenge_1_2().unwrap();
}

// --- PID 1 -----------------------------------------------------------------

/// 2.1: `--init` keeps a small init as PID 1, which runs the command as its
/// child and forwards signals to it.
fn challenge_2_1() -> Check {
    let lesson = Lesson::get(2);
    let out = lesson.run(&["--init", "sh", "-c", "echo $$"]);
    expect(
        out.status == 0 && out.stdout == "2\n",
        "`run --init sh -c 'echo $$'` should print 2: the command is the init's child",
        &out,
    )?;
    let run = lesson.command(&["--init"], &["sleep", "60"]);
    let out = lesson.sandbox(&format!(
        "{run} & sleep 0.5; pkill -TERM -x step-02-pid; sleep 1; \
         if pgrep -x sleep >/dev/null; then echo still-running; pkill -KILL -x sleep; fi; \
         wait $!; echo status=$?"
    ));
    expect(
        out.stdout == "status=143\n",
        "with --init, SIGTERM sent to the lesson should end `sleep` (status 143)",
        &out,
    )
}

/// 2.2: a second SIGTERM within two seconds of the first ends the container
/// with SIGKILL, as `docker stop` does after its grace period.
fn challenge_2_2() -> Check {
    let lesson = Lesson::get(2);
    let run = lesson.command(&[], &["sleep", "60"]);
    let out = lesson.sandbox(&format!(
        "{run} & sleep 0.5; pkill -TERM -x step-02-pid; sleep 0.3; pkill -TERM -x step-02-pid; \
         sleep 1; if pgrep -x sleep >/dev/null; then echo still-running; pkill -KILL -x sleep; fi; \
         wait $!; echo status=$?"
    ));
    expect(
        out.stdout == "status=137\n",
        "two SIGTERMs sent to the lesson should end `sleep`, which has no handler, with \
         SIGKILL (status 137)",
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 2.1`"]
fn challenge_2_1_an_init_of_your_own() {
    challenge_2_1().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 2.2`"]
fn challenge_2_2_the_last_word() {
    challenge_2_2().unwrap();
}

// --- mounts ------------------------------------------------------------------

/// 3.1: pivot_root instead of chroot: the container's mount namespace holds
/// its own mounts only.
fn challenge_3_1() -> Check {
    let out = Lesson::get(3).sandbox(&format!(
        "{} & sleep 0.5; pid=$(pgrep -x sleep); \
         nsenter --target $pid --mount cat /proc/self/mountinfo | wc -l; \
         kill -KILL $pid; wait",
        lesson_3(&[], "sleep 30")
    ));
    let lines: usize = out.stdout.trim().parse().unwrap_or(usize::MAX);
    expect(
        lines <= 3,
        "the container's mount namespace, seen with `nsenter --mount`, should hold its root \
         and its /proc, not the host's mounts",
        &out,
    )
}

/// 3.2: a /dev of its own: a tmpfs with the usual devices.
fn challenge_3_2() -> Check {
    let script =
        "for d in null zero random urandom tty; do [ -c /dev/$d ] || echo no /dev/$d; done; \
                  [ -c /dev/null ] && echo x > /dev/null && head -c 4 /dev/urandom | wc -c; \
                  grep -c ' /dev tmpfs ' /proc/mounts";
    let out = Lesson::get(3).sandbox(&lesson_3(&[], &format!("sh -c {}", quote(script))));
    expect(
        out.status == 0 && out.stdout == "4\n1\n",
        "/dev should be a tmpfs holding the character devices null, zero, random, urandom \
         and tty",
        &out,
    )
}

/// 3.3: `--read-only` keeps the container from changing its root
/// filesystem; /proc still works.
fn challenge_3_3() -> Check {
    let script = "touch /x; echo status=$?; [ -d /proc/1 ] && echo proc";
    let out = Lesson::get(3).sandbox(&lesson_3(
        &["--read-only"],
        &format!("sh -c {}", quote(script)),
    ));
    expect(
        out.status == 0
            && out.stdout == "status=1\nproc\n"
            && out.stderr.contains("Read-only file system"),
        "with --read-only, `touch /x` should fail with \"Read-only file system\", and /proc \
         still be there",
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 3.1`"]
fn challenge_3_1_pivot_root() {
    challenge_3_1().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 3.2`"]
fn challenge_3_2_a_dev_of_its_own() {
    challenge_3_2().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 3.3`"]
fn challenge_3_3_a_read_only_root() {
    challenge_3_3().unwrap();
}

// --- pulling -------------------------------------------------------------------

/// 4.1: `images` lists what was pulled: reference and short digest.
fn challenge_4_1() -> Check {
    let lesson = Lesson::get(4);
    let image = lesson.image.clone().unwrap();
    let bin = quote(&lesson.bin.display().to_string());
    let out = lesson.sandbox(&format!("{bin} pull {image} 2>&1 && {bin} images"));
    let digest = Regex::new(r"pulled sha256:([0-9a-f]{12})")
        .unwrap()
        .captures(&out.stdout)
        .map(|c| c[1].to_string());
    let listed = digest.is_some_and(|short| {
        out.stdout
            .lines()
            .any(|l| l.contains(image.as_str()) && l.contains(&short))
    });
    expect(
        out.status == 0 && listed,
        "after a pull, `images` should print a line with the image's reference and the \
         first 12 hex digits of the digest that `pull` printed",
        &out,
    )
}

/// 4.2: `--platform` chooses the manifest of an index.
fn challenge_4_2() -> Check {
    let lesson = Lesson::get(4);
    let bin = quote(&lesson.bin.display().to_string());
    let multi = lesson.image.clone().unwrap().replace(":latest", ":multi");
    let out = lesson.sandbox(&format!(
        "{bin} pull --platform linux/arm64 {multi} && {bin} run {multi} cat /etc/arch"
    ));
    expect(
        out.status == 0 && out.stdout == "arm64\n",
        "`pull --platform linux/arm64` of the index `multi` should store its arm64 image, \
         whose /etc/arch says arm64",
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 4.1`"]
fn challenge_4_1_images() {
    challenge_4_1().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 4.2`"]
fn challenge_4_2_a_platform_of_your_choice() {
    challenge_4_2().unwrap();
}

// --- the bridge ----------------------------------------------------------------

/// 5.1: docker's MAC addresses, 02:42 and the four bytes of the address.
fn challenge_5_1() -> Check {
    let out = Lesson::get(5).run(&["ip", "link", "show", "eth0"]);
    expect(
        out.status == 0 && out.stdout.contains("link/ether 02:42:0a:c8:00:02 "),
        "the container at 10.200.0.2 should have the MAC address 02:42:0a:c8:00:02",
        &out,
    )
}

/// 5.2: `--ip ADDRESS` chooses the address, and refuses one off the subnet.
fn challenge_5_2() -> Check {
    let lesson = Lesson::get(5);
    let out = run_with(
        &lesson,
        &["--ip", "10.200.0.77"],
        &["ip", "-4", "-o", "addr", "show", "eth0"],
    );
    expect(
        out.status == 0 && out.stdout.contains("inet 10.200.0.77/24"),
        "`run --ip 10.200.0.77 IMAGE ...` should give eth0 the address 10.200.0.77/24",
        &out,
    )?;
    let out = run_with(&lesson, &["--ip", "10.9.9.9"], &["true"]);
    expect(
        out.status == 125 && out.stderr.contains("10.9.9.9"),
        "`run --ip 10.9.9.9` should be refused, with status 125 and a message that names it",
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 5.1`"]
fn challenge_5_1_dockers_mac_addresses() {
    challenge_5_1().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 5.2`"]
fn challenge_5_2_an_address_of_your_choice() {
    challenge_5_2().unwrap();
}

// --- the way out ---------------------------------------------------------------

/// 6.1: `-p HOST:CONTAINER` publishes a port to the outside, and the rule
/// goes with the container.
fn challenge_6_1() -> Check {
    let lesson = Lesson::get(6);
    let run = lesson.command(
        &["-p", "8080:80"],
        &["httpd", "-f", "-p", "80", "-h", "/etc"],
    );
    let out = lesson.sandbox(&format!(
        "{}{run} 2>/dev/null & \
         for i in $(seq 50); do \
           ip netns exec outside busybox wget -q -O - http://{UPLINK}:8080/os-release \
             2>/dev/null && break; sleep 0.1; done; \
         pkill -KILL -x httpd; wait $!; sleep 0.2; \
         echo dnat-rules=$(iptables -t nat -S | grep -c DNAT)",
        outside_script()
    ));
    expect(
        out.stdout.contains("ctr busybox rootfs") && out.stdout.contains("dnat-rules=0"),
        &format!(
            "from the outside host ({OUTSIDE}), http://{UPLINK}:8080/ should reach the \
             container's httpd on port 80, and no DNAT rule should be left after it"
        ),
        &out,
    )
}

/// 6.2: `net-down` puts ip_forward back as lesson 6 found it.
fn challenge_6_2() -> Check {
    let lesson = Lesson::get(6);
    let bin = quote(&lesson.bin.display().to_string());
    let run = lesson.command(&[], &["true"]);
    let out = lesson.sandbox(&format!(
        "for before in 0 1; do echo $before > /proc/sys/net/ipv4/ip_forward; \
         {run} 2>/dev/null; {bin} net-down 2>/dev/null; \
         echo $before-$(cat /proc/sys/net/ipv4/ip_forward); done"
    ));
    expect(
        out.stdout == "0-0\n1-1\n",
        "after `net-down`, ip_forward should be what it was before lesson 6 turned it on \
         (0 stays 0, 1 stays 1)",
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 6.1`"]
fn challenge_6_1_publish_a_port() {
    challenge_6_1().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 6.2`"]
fn challenge_6_2_put_ip_forward_back() {
    challenge_6_2().unwrap();
}

// --- cgroups ------------------------------------------------------------------

/// The container's cgroup as the sandbox sees it, for a check to read its
/// files while CMD (given to the lesson, in the background) runs: `$V` the
/// version, `$D` the container's cgroup in the memory tree (v2: the one
/// tree).
fn lesson_7_cgroup(run: &str) -> String {
    format!(
        r#"if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then V=2; T=/sys/fs/cgroup/step-07
        else V=1; T=/sys/fs/cgroup/memory/step-07; fi
        {run} &
        for i in $(seq 200); do
            D=$(ls -d $T/[0-9]* 2>/dev/null | head -n 1)
            [ -n "$D" ] && [ -n "$(cat $D/cgroup.procs 2>/dev/null)" ] && break; sleep 0.05
        done
        "#
    )
}

/// 7.1: a cgroup namespace: the container sees its own cgroup as `/`.
fn challenge_7_1() -> Check {
    let out = Lesson::get(7).run(&["cat", "/proc/self/cgroup"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    expect(
        out.status == 0 && !lines.is_empty() && lines.iter().all(|l| l.ends_with(":/")),
        "inside, /proc/self/cgroup should show the container's cgroup as the root: `0::/` \
         with cgroup v2, each line ending in `:/` with v1",
        &out,
    )
}

/// 7.2: the lesson says what the container used, and whether the OOM
/// killer struck.
fn challenge_7_2() -> Check {
    let lesson = Lesson::get(7);
    let out = run_with(
        &lesson,
        &["--memory", "32M"],
        &[
            "sh",
            "-c",
            r#"awk "BEGIN { x = sprintf(\"%200000000s\", \"\") }"; true"#,
        ],
    );
    let used = Regex::new(r"used \d+(\.\d+)? s of CPU and \d+(\.\d+)? MiB at most").unwrap();
    expect(
        out.status == 0
            && used.is_match(&out.stderr)
            && out
                .stderr
                .contains("the OOM killer killed 1 of its processes"),
        "after a container whose child took 200 MB under --memory 32M, the lesson should \
         say `the container used N s of CPU and N MiB at most; the OOM killer killed 1 of \
         its processes`",
        &out,
    )
}

/// 7.3: docker's `--memory-swap`: the total of memory and swap.
fn challenge_7_3() -> Check {
    let lesson = Lesson::get(7);
    let run = lesson.command(
        &["--memory", "32M", "--memory-swap", "64M"],
        &["sleep", "2"],
    );
    let refused = lesson.command(&["--memory", "32M", "--memory-swap", "16M"], &["true"]);
    let out = lesson.sandbox(&format!(
        "{}if [ $V = 2 ]; then cat $D/memory.max $D/memory.swap.max; \
         else cat $D/memory.limit_in_bytes $D/memory.memsw.limit_in_bytes; fi\n\
         wait; echo v$V\n{refused} 2>/dev/null; echo status=$?",
        lesson_7_cgroup(&format!("{run} 2>/dev/null"))
    ));
    let want = if out.stdout.contains("v2\n") {
        "33554432\n33554432\nv2\n"
    } else {
        "33554432\n67108864\nv1\n"
    };
    expect(
        out.stdout.starts_with(want)
            && out.stdout.contains("status=")
            && !out.stdout.ends_with("status=0\n"),
        "`--memory 32M --memory-swap 64M` should allow 32 MiB of swap (v2: memory.swap.max \
         33554432; v1: memory.memsw.limit_in_bytes 67108864), and `--memory-swap 16M` under \
         `--memory 32M` be refused",
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 7.1`"]
fn challenge_7_1_a_cgroup_namespace() {
    challenge_7_1().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 7.2`"]
fn challenge_7_2_say_what_it_used() {
    challenge_7_2().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 7.3`"]
fn challenge_7_3_memory_swap() {
    challenge_7_3().unwrap();
}

// --- lockdown -----------------------------------------------------------------

/// 8.1: `--cap-add NAME` keeps one more capability: with NET_ADMIN, an
/// address can be added to the loopback.
fn challenge_8_1() -> Check {
    let out = run_with(
        &Lesson::get(8),
        &["--cap-add", "NET_ADMIN"],
        &[
            "sh",
            "-c",
            "ip addr add 10.9.9.9/32 dev lo && grep CapEff /proc/self/status",
        ],
    );
    expect(
        out.status == 0 && out.stdout == "CapEff:\t00000000a80435fb\n",
        "with `--cap-add NET_ADMIN`, `ip addr add 10.9.9.9/32 dev lo` should work and CapEff \
         be docker's 14 and CAP_NET_ADMIN: 00000000a80435fb",
        &out,
    )
}

/// 8.2: the filter refuses mkdir, and only that.
fn challenge_8_2() -> Check {
    let out = Lesson::get(8).run(&[
        "sh",
        "-c",
        "mkdir /tmp/x; echo mkdir=$?; touch /tmp/y && echo touched; rm -f /tmp/y; rmdir /tmp/x 2>/dev/null; true",
    ]);
    expect(
        out.status == 0
            && out.stdout == "mkdir=1\ntouched\n"
            && out
                .stderr
                .contains("mkdir: can't create directory '/tmp/x': Operation not permitted"),
        "in lesson 8, `mkdir /tmp/x` should fail with \"mkdir: can't create directory \
         '/tmp/x': Operation not permitted\", and `touch /tmp/y` still work",
        &out,
    )
}

/// 8.3: the lesson says what the container may do, read from the child's
/// /proc/self/status before execve.
fn challenge_8_3() -> Check {
    let out = Lesson::get(8).run(&["true"]);
    let names = "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID \
                 CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT \
                 CAP_MKNOD CAP_AUDIT_WRITE CAP_SETFCAP (14); no_new_privs 1; seccomp 2";
    expect(
        out.status == 0 && out.stderr.contains(&format!("the container may: {names}")),
        &format!("the lesson should say `the container may: {names}`"),
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 8.1`"]
fn challenge_8_1_cap_add() {
    challenge_8_1().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 8.2`"]
fn challenge_8_2_a_filter_that_blocks_mkdir() {
    challenge_8_2().unwrap();
}

#[test]
#[ignore = "a challenge: `just check-challenge 8.3`"]
fn challenge_8_3_say_what_it_may_do() {
    challenge_8_3().unwrap();
}

// --- user namespaces ----------------------------------------------------------

/// 9.1: run by a user with a range in /etc/subuid and /etc/subgid (written
/// for the check, over a copy of the sandbox's /etc), lesson 9 maps the
/// user and the range, through newuidmap and newgidmap: chown to 1000 works.
fn challenge_9_1() -> Check {
    let lesson = Lesson::get(9);
    let (bin, image) = (
        quote(&lesson.bin.display().to_string()),
        lesson.image.clone().unwrap(),
    );
    let inside = "cat /proc/self/uid_map; touch /tmp/f; chown 1000 /tmp/f && echo chowned";
    let out = lesson.sandbox(&format!(
        "H=/run/user9 && mkdir -p $H && chown 65534:65534 $H
         cp -a /etc /run/etc && printf 'nobody:100000:65536\\n' > /run/etc/subuid
         cp /run/etc/subuid /run/etc/subgid && mount --bind /run/etc /etc
         as_user() {{ setpriv --reuid 65534 --regid 65534 --clear-groups env -u CTR_ROOT HOME=$H \"$@\"; }}
         as_user {bin} pull {image} >/dev/null 2>&1
         as_user {bin} run {image} sh -c {}",
        quote(inside)
    ));
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    expect(
        out.status == 0
            && lines.contains(&vec!["0", "65534", "1"])
            && lines.contains(&vec!["1", "100000", "65536"])
            && lines.contains(&vec!["chowned"]),
        "run by uid 65534 with `nobody:100000:65536` in /etc/subuid and /etc/subgid, the \
         container's uid_map should be `0 65534 1` and `1 100000 65536`, and `chown 1000` work",
        &out,
    )
}

#[test]
#[ignore = "a challenge: `just check-challenge 9.1`"]
fn challenge_9_1_a_range_through_newuidmap() {
    challenge_9_1().unwrap();
}

// --- the checks, checked -------------------------------------------------------

/// Every check fails on the lessons as they are: none passes for nothing.
#[test]
fn the_lessons_leave_every_challenge_open() {
    let checks: [Challenge; 20] = [
        ("1.1", challenge_1_1),
        ("1.2", challenge_1_2),
        ("2.1", challenge_2_1),
        ("2.2", challenge_2_2),
        ("3.1", challenge_3_1),
        ("3.2", challenge_3_2),
        ("3.3", challenge_3_3),
        ("4.1", challenge_4_1),
        ("4.2", challenge_4_2),
        ("5.1", challenge_5_1),
        ("5.2", challenge_5_2),
        ("6.1", challenge_6_1),
        ("6.2", challenge_6_2),
        ("7.1", challenge_7_1),
        ("7.2", challenge_7_2),
        ("7.3", challenge_7_3),
        ("8.1", challenge_8_1),
        ("8.2", challenge_8_2),
        ("8.3", challenge_8_3),
        ("9.1", challenge_9_1),
    ];
    let passed: Vec<&str> = checks
        .iter()
        .filter(|(_, check)| check().is_ok())
        .map(|(id, _)| *id)
        .collect();
    assert!(
        passed.is_empty(),
        "challenges whose check passes on the lessons as they are: {passed:?} (either the \
         check checks nothing, or you solved them in your copy: well done)"
    );
}
