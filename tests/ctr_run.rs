//! `ctr run`, from the outside: each test runs ctr in a throwaway sandbox
//! with a fresh store (CTR_ROOT on the sandbox's /run) holding the busybox
//! image of scripts/mkimage, and checks what a user would see.
mod support;

use support::ctr::{in_sandbox, ok};

#[test]
fn a_container_has_its_own_namespaces_and_root() {
    let out = ok(r#"
        $C run --rm --hostname box busybox sh -c '
            echo "hostname=$(hostname) pid=$$"
            echo "procs=$(ps -o pid= | wc -l)"
            test -e /work && echo "host path visible"
            grep " / " /proc/self/mountinfo | grep -q " - overlay " && echo "root=overlay"
            touch /proc/sys/x 2>/dev/null || echo "proc/sys read-only"
            touch /sys/x 2>/dev/null || echo "sys read-only"
            for d in null zero full random urandom tty ptmx pts shm; do test -e /dev/$d || echo "no /dev/$d"; done
            echo hi > /dev/null && head -c 3 /dev/zero | wc -c
            ls /
        '
        echo "sandbox=$(hostname)"
    "#);
    let s = &out.stdout;
    for want in [
        "hostname=box pid=1",
        "root=overlay",
        "proc/sys read-only",
        "sys read-only",
        "sandbox=sandbox",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
    assert!(
        !s.contains("host path visible") && !s.contains("no /dev/"),
        "{}",
        out.both()
    );
    // sh, ps, wc and the $(...) subshell: nothing of the sandbox.
    let procs: u32 = s
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(procs <= 4, "{}", out.both());
    // The old root is detached: no mount of the host's is left in sight.
    assert!(s.lines().any(|l| l.trim() == "3"), "{}", out.both());
}

#[test]
fn the_default_hostname_is_the_short_id() {
    let out = ok("$C run busybox hostname\nls /run/ctr/containers");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.both());
    assert_eq!(lines[0].len(), 12);
    assert!(lines[1].starts_with(lines[0]), "{}", out.both());
}

#[test]
fn exit_statuses_are_dockers() {
    let out = ok(r#"
        $C run busybox true; echo "true=$?"
        $C run busybox sh -c 'exit 1'; echo "exit1=$?"
        $C run busybox sh -c 'exit 42'; echo "exit42=$?"
        $C run busybox nope 2>/run/e127; echo "nope=$?"
        $C run busybox /etc/passwd 2>/run/e126; echo "passwd=$?"
        $C run nosuchimage 2>/run/e125; echo "unknown=$?"
        $C run busybox:bare 2>/run/e125b; echo "nocmd=$?"
        $C run --network overlay busybox true 2>/run/e125c; echo "network=$?"
        $C run busybox sleep 31 & pid=$!
        wait_for pgrep -f '^sleep 31$' >/dev/null
        kill -KILL $(pgrep -f '^sleep 31$'); wait $pid; echo "killed=$?"
        echo "---"; cat /run/e127 /run/e126 /run/e125 /run/e125b /run/e125c
    "#);
    let s = &out.stdout;
    for want in [
        "true=0",
        "exit1=1",
        "exit42=42",
        "nope=127",
        "passwd=126",
        "unknown=125",
        "nocmd=125",
        "network=125",
        "killed=137",
    ] {
        assert!(
            s.lines().any(|l| l == want),
            "{want} missing:\n{}",
            out.both()
        );
    }
    for want in [
        "ctr: running busybox: nope: command not found in the image's PATH",
        "ctr: running busybox: /etc/passwd: permission denied",
        "ctr: running nosuchimage: unable to find image \"nosuchimage:latest\" locally: load it with `ctr import FILE`",
        "ctr: running busybox:bare: no command specified",
        "ctr: running busybox: --network overlay: unknown network; use bridge, host, none or pasta",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
}

/// The combinations of docker's reference (run: ENTRYPOINT, CMD, ENV,
/// WORKDIR, USER), on the `entry` image: Entrypoint ["echo", "entry:"],
/// Cmd ["default", "args"], Env FOO=image PATH=/bin, WorkingDir /srv/app,
/// User nobody.
#[test]
fn entrypoint_cmd_env_workdir_and_user_combine_as_docker() {
    let out = ok(r#"
        r() { echo "== $*"; $C run --rm "$@" 2>&1; }
        r busybox:entry
        r busybox:entry one two
        r --entrypoint pwd busybox:entry
        r --entrypoint id busybox:entry
        r --entrypoint id -u root busybox:entry
        r --entrypoint id -u 1234:5678 busybox:entry
        r --entrypoint id -u nobody:root busybox:entry
        r --entrypoint id -u ghost busybox:entry
        r --entrypoint pwd -w /tmp busybox:entry
        r --entrypoint pwd -w rel busybox:entry
        r --entrypoint "" busybox:entry
        r --entrypoint "" busybox:entry echo reset
        r --entrypoint sh -e FOO=cli -e NEW=1 busybox:entry -c 'echo $FOO $NEW $PATH $HOME'
        FROM_CALLER=caller r --entrypoint sh -e FROM_CALLER -e FOO busybox:entry -c 'echo ${FROM_CALLER}-${FOO-unset}'
        r busybox:bare sh -c 'echo $PATH; echo $HOME'
        r busybox sh -c 'echo $GREETING'
    "#);
    let want = "\
== busybox:entry
entry: default args
== busybox:entry one two
entry: one two
== --entrypoint pwd busybox:entry
/srv/app
== --entrypoint id busybox:entry
uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)
== --entrypoint id -u root busybox:entry
uid=0(root) gid=0(root) groups=0(root)
== --entrypoint id -u 1234:5678 busybox:entry
uid=1234 gid=5678 groups=5678
== --entrypoint id -u nobody:root busybox:entry
uid=65534(nobody) gid=0(root) groups=0(root)
== --entrypoint id -u ghost busybox:entry
ctr: running busybox:entry: user \"ghost\": unable to find user ghost: no matching entries in the image's /etc/passwd
== --entrypoint pwd -w /tmp busybox:entry
/tmp
== --entrypoint pwd -w rel busybox:entry
ctr: running busybox:entry: the working directory \"rel\" is invalid: it needs to be an absolute path
== --entrypoint  busybox:entry
ctr: running busybox:entry: no command specified: --entrypoint \"\" resets the image's Entrypoint and Cmd; give a command after the image's name
== --entrypoint  busybox:entry echo reset
reset
== --entrypoint sh -e FOO=cli -e NEW=1 busybox:entry -c echo $FOO $NEW $PATH $HOME
cli 1 /bin /nonexistent
== --entrypoint sh -e FROM_CALLER -e FOO busybox:entry -c echo ${FROM_CALLER}-${FOO-unset}
caller-unset
== busybox:bare sh -c echo $PATH; echo $HOME
/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
/root
== busybox sh -c echo $GREETING
hello from the image
";
    assert_eq!(out.stdout, want, "{}", out.both());
}

#[test]
fn a_container_writes_to_its_own_layer_only() {
    let out = ok(r#"
        $C run --name first busybox sh -c 'echo mine > /etc/written; rm /etc/os-release; mkdir /newdir'
        echo "first=$?"
        $C run --rm busybox sh -c 'ls /etc/written /etc/os-release /newdir 2>&1 | sort'
        ls /run/ctr/layers/*/etc/written 2>/dev/null || echo "layer untouched"
        test -f /run/ctr/layers/*/etc/os-release && echo "layer keeps os-release"
        upper=$(echo /run/ctr/containers/*/upper)
        cat $upper/etc/written
        stat -c '%F %t:%T' $upper/etc/os-release
    "#);
    let s = &out.stdout;
    assert!(s.contains("first=0"), "{}", out.both());
    assert!(
        s.contains("/etc/written: No such file or directory"),
        "{}",
        out.both()
    );
    assert!(
        s.contains("/newdir: No such file or directory"),
        "{}",
        out.both()
    );
    assert!(s.contains("/etc/os-release\n"), "{}", out.both());
    assert!(
        s.contains("layer untouched\nlayer keeps os-release\nmine\n"),
        "{}",
        out.both()
    );
    // overlayfs records the deletion as a whiteout in the container's upper dir.
    assert!(s.contains("character special file 0:0"), "{}", out.both());
}

#[test]
fn rm_leaves_nothing_and_records_stay_otherwise() {
    let out = ok(r#"
        $C run --rm busybox true
        echo "after rm: $(ls /run/ctr/containers | wc -l)"
        $C run --name kept busybox sh -c 'exit 3'
        ls /run/ctr/containers | wc -l
        cat /run/ctr/containers/*/container.json
        $C run --name kept busybox true; echo "again=$?"
    "#);
    let s = &out.stdout;
    assert!(s.contains("after rm: 0\n1\n"), "{}", out.both());
    assert!(s.contains("\"name\": \"kept\""), "{}", out.both());
    assert!(s.contains("\"code\": 3"), "{}", out.both());
    assert!(s.contains("again=125"), "{}", out.both());
    assert!(
        out.stderr.contains("the name \"kept\" is already in use"),
        "{}",
        out.both()
    );
}

#[test]
fn signals_reach_the_container() {
    let out = ok(r#"
        $C run busybox sh -c 'trap "echo got TERM; exit 7" TERM; echo ready; while :; do sleep 0.05; done' > /run/out &
        pid=$!
        wait_for grep -q ready /run/out
        kill -TERM $pid; wait $pid; echo "status=$?"; cat /run/out
    "#);
    assert!(out.stdout.contains("status=7"), "{}", out.both());
    assert!(out.stdout.contains("got TERM"), "{}", out.both());
}

/// Rust's runtime ignores SIGPIPE and ctr blocks the signals it forwards:
/// neither may reach the container's program through execve(2), in run,
/// `--init`'s child or exec. `yes | head -1` would print "Broken pipe".
#[test]
fn signals_start_at_their_defaults_in_run_init_and_exec() {
    // The program itself reads its status: a shell in between would ignore
    // signals of its own (busybox sh ignores SIGQUIT for what it execs last).
    let out = ok(r#"
        status="grep -E ^Sig(Ign|Blk) /proc/self/status"
        pipe="yes | head -n 1"
        echo "== run"; $C run --rm busybox $status; $C run --rm busybox sh -c "$pipe" 2>&1
        echo "== init"; $C run --rm --init busybox $status; $C run --rm --init busybox sh -c "$pipe" 2>&1
        $C run -d --name s busybox sleep 60 >/dev/null
        echo "== exec"; $C exec s $status; $C exec s sh -c "$pipe" 2>&1
        $C rm -f s >/dev/null
    "#);
    let expected = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\ny\n";
    for mode in ["run", "init", "exec"] {
        let section = out
            .stdout
            .split(&format!("== {mode}\n"))
            .nth(1)
            .and_then(|rest| rest.split("== ").next());
        assert_eq!(section, Some(expected), "{mode}:\n{}", out.both());
    }
}

#[test]
fn init_forwards_sigterm_and_reaps_orphans() {
    let out = ok(r#"
        # An orphan: its parent exits at once, so it is re-parented to PID 1.
        $C run --rm --init busybox sh -c '
            sh -c "sleep 0.1 & exit 0"; sleep 0.5
            echo "pid1=$(cat /proc/1/comm)"
            ps -o stat= | grep -c Z'
        # Without --init, `sleep` as PID 1 has no handler: SIGTERM from the
        # parent namespace does not arrive. With it, init passes it on.
        $C run --init busybox sleep 30 & pid=$!
        wait_for pgrep -f '^sleep 30$' >/dev/null
        kill -TERM $pid; wait $pid; echo "status=$?"
    "#);
    let s = &out.stdout;
    assert!(
        s.contains("pid1=ctr\n0\n"),
        "a zombie was left, or PID 1 is not ctr's init:\n{}",
        out.both()
    );
    assert!(s.contains("status=143"), "{}", out.both());
}

#[test]
fn a_tty_gives_a_usable_shell() {
    let out = ok(r#"
        # The shell flushes what was typed before it started: type later.
        (sleep 0.5; printf 'echo typed-$((6*7))\nstty size\nexit 5\n') |
            script -qec "stty cols 100 rows 30; $C run --rm -it busybox sh" /dev/null
        echo "status=$?"
        script -qec "$C run --rm -t busybox sh -c 'test -t 0 && test -t 1 && echo both-ttys; echo TERM=\$TERM'" /dev/null
    "#);
    let s = &out.stdout;
    assert!(s.contains("typed-42"), "{}", out.both());
    assert!(
        s.contains("30 100"),
        "the pty has the terminal's size:\n{}",
        out.both()
    );
    assert!(s.contains("status=5"), "{}", out.both());
    assert!(
        s.contains("both-ttys") && s.contains("TERM=xterm"),
        "{}",
        out.both()
    );
}

#[test]
fn stdin_is_passed_with_i_only() {
    let out = ok(r#"
        echo from-stdin | $C run --rm -i busybox cat
        echo from-stdin | $C run --rm busybox cat; echo "without -i: $?"
    "#);
    assert_eq!(out.stdout, "from-stdin\nwithout -i: 0\n", "{}", out.both());
}

#[test]
fn a_user_without_a_home_is_refused_saying_why() {
    // Without root, ctr is rootless (tests/ctr_rootless.rs): its store is
    // the user's. A user with no HOME has none, and nothing is made.
    let out = in_sandbox(
        false,
        r#"env -i setpriv --reuid=65534 --regid=65534 --clear-groups "$C" run busybox true
        echo "status=$?"
        ls -A /tmp | grep ctr-run || echo "nothing made"
        "#,
    );
    assert!(out.stdout.contains("status=125"), "{}", out.both());
    assert!(out.stdout.contains("nothing made"), "{}", out.both());
    assert!(
        out.stderr
            .contains("ctr: running ctr without root: no home for the user's images: set HOME"),
        "{}",
        out.both()
    );
}

#[test]
fn an_unwritable_root_is_refused_saying_why() {
    let out = in_sandbox(
        false,
        r#"
        mkdir -p /run/ro && mount -t tmpfs -o ro tmpfs /run/ro
        $C --root /run/ro/store run busybox true; echo "status=$?"
    "#,
    );
    assert!(out.stdout.contains("status=125"), "{}", out.both());
    assert!(
        out.stderr
            .contains("cannot write the store at /run/ro/store")
            && out.stderr.contains("--root or CTR_ROOT"),
        "{}",
        out.both()
    );
}
