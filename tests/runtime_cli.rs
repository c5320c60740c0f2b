//! `ctr-runtime`, fed bundles directly, as podman and containerd feed runc:
//! the runtime-spec's states and the transitions it forbids, the fields of
//! config.json it implements (each seen from inside the container), those
//! it does not (refused by name), hooks, a console socket, exec and run.
//! Each test runs in a throwaway sandbox; its bundles are copies of the
//! busybox rootfs on the sandbox's /run, edited with jq.
mod support;

use support::{binary, quote, rootfs, sandbox, Outcome};

/// `bundle NAME` makes /run/b/NAME from `ctr-runtime spec` (terminal off);
/// `edit NAME JQ-FILTER` edits its config.json.
fn run(body: &str) -> Outcome {
    let script = format!(
        r#"R={rt}; ROOTFS={rootfs}
bundle() {{ b=/run/b/$1; mkdir -p $b && cp -a "$ROOTFS" $b/rootfs && (cd $b && $R spec) \
  && edit $1 '.process.terminal=false'; }}
edit() {{ f=/run/b/$1/config.json; shift; jq "$@" $f > $f.new && mv $f.new $f; }}
{body}"#,
        rt = quote(&binary("ctr-runtime").display().to_string()),
        rootfs = quote(&rootfs().display().to_string()),
    );
    sandbox(&script)
}

fn ok(body: &str) -> Outcome {
    let out = run(body);
    assert_eq!(out.status, 0, "{}", out.both());
    out
}

#[test]
fn created_holds_the_program_back_until_start() {
    let out = ok(r#"
        bundle c
        edit c '.process.args=["sh","-c","echo ran > /ran; sleep 30"]'
        $R create --bundle /run/b/c c; echo "create=$?"
        $R state c | jq -r '.status, (.pid > 0)'
        test -e /run/b/c/rootfs/ran && echo "ran early" || echo "not yet"
        $R start c; echo "start=$?"
        for i in $(seq 100); do test -e /run/b/c/rootfs/ran && break; sleep 0.02; done
        test -e /run/b/c/rootfs/ran && echo "ran"
        $R state c | jq -r .status
        $R kill c KILL; sleep 0.2
        $R state c | jq -r '.status, .pid'
        $R delete c; echo "delete=$?"
        ls /run/ctr-runtime
    "#);
    assert_eq!(
        out.stdout,
        "create=0\ncreated\ntrue\nnot yet\nstart=0\nran\nrunning\nstopped\n0\ndelete=0\n",
        "{}",
        out.both()
    );
}

#[test]
fn transitions_the_spec_forbids_are_errors_that_change_nothing() {
    let out = ok(r#"
        bundle c; edit c '.process.args=["sleep","30"]'
        $R create --bundle /run/b/c c
        $R create --bundle /run/b/c c 2>&1; echo "create twice=$?"
        $R start c; $R start c 2>&1; echo "start twice=$?"
        $R delete c 2>&1; echo "delete running=$?"
        $R state c | jq -r .status
        $R kill c KILL; sleep 0.2
        $R kill c TERM 2>&1; echo "kill stopped=$?"
        $R kill --all c TERM; echo "kill --all stopped=$?"
        $R start c 2>&1; echo "start stopped=$?"
        $R delete c; $R state c 2>&1; echo "state gone=$?"
        $R delete c 2>&1; echo "delete gone=$?"
        $R delete --force c; echo "delete --force gone=$?"
        $R start no/such 2>&1; echo "bad id=$?"
    "#);
    let s = &out.stdout;
    for want in [
        "ctr-runtime: container c already exists: delete it first, or choose another ID\ncreate twice=1",
        "ctr-runtime: container c is running: only a created container can be started\nstart twice=1",
        "ctr-runtime: container c is running: stop it first, or delete it with --force\ndelete running=1\nrunning\n",
        "ctr-runtime: cannot signal c: container not running\nkill stopped=1",
        "kill --all stopped=0",
        "ctr-runtime: container c is stopped: only a created container can be started\nstart stopped=1",
        "state gone=1",
        "delete gone=1",
        "delete --force gone=0",
        "invalid container ID \"no/such\"",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{}", out.both());
    }
}

#[test]
fn state_has_the_shape_of_runtime_specs_schema() {
    // runtime-spec's schema/state-schema.json: ociVersion, id, status and
    // bundle required; status one of its four; pid an integer, required on
    // Linux while created or running; annotations a map of strings.
    let out = ok(r#"
        bundle c; edit c '.process.args=["sleep","30"] | .annotations={"org.example/k":"v"}'
        $R create --bundle /run/b/c c
        check() { $R state c | jq -e '
            (.ociVersion|type)=="string" and .id=="c"
            and (.status|IN("creating","created","running","stopped"))
            and (.bundle|startswith("/")) and (.pid|type)=="number" and .pid>=0
            and (.annotations|to_entries|all(.value|type=="string"))
            and (if .status=="created" or .status=="running" then .pid>0 else .pid==0 end)' >/dev/null && echo valid; }
        check; $R start c; check; $R kill c KILL; sleep 0.2; check
        $R state c | jq -c '[.status, .annotations, .bundle]'
        $R delete c
    "#);
    assert_eq!(
        out.stdout,
        "valid\nvalid\nvalid\n[\"stopped\",{\"org.example/k\":\"v\"},\"/run/b/c\"]\n",
        "{}",
        out.both()
    );
}

#[test]
fn a_field_it_does_not_implement_is_refused_by_name() {
    let out = run(r#"
        bundle c
        edit c '.linux.seccomp={"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/agent.sock"} | .process.apparmorProfile="docker-default"'
        $R --log /run/log.json --log-format json create --bundle /run/b/c c; echo "create=$?"
        ls -A /run/ctr-runtime | wc -l
        jq -r '.level' /run/log.json; jq -r '.time|test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")' /run/log.json
    "#);
    assert!(
        out.stdout.starts_with("create=1\n0\nerror\ntrue\n"),
        "{}",
        out.both()
    );
    assert!(
        out.stderr.contains(
            "config.json asks for what ctr-runtime does not implement: \
             linux.seccomp.listenerPath, process.apparmorProfile; remove them or use another runtime"
        ),
        "{}",
        out.both()
    );
}

#[test]
fn what_config_json_asks_is_what_the_container_gets() {
    let out = ok(r#"
        bundle c
        mkdir -p /run/shared && echo host-file > /run/shared/f
        edit c '.hostname="box"
          | .root.readonly=true
          | .process.args=["sh","-c","hostname; cat /proc/sys/net/ipv4/ip_forward; grep -E \"^(CapEff|CapBnd|NoNewPrivs)\" /proc/self/status; ulimit -n; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 0 > /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo sys-ro; touch /x 2>/dev/null || echo root-ro; cat /data/f; echo w > /data/f 2>/dev/null || echo data-ro; echo t > /scratch/t && cat /scratch/t; ls -l /dev/kmsg | cut -c1-10; umask"]
          | .process.capabilities={"bounding":["CAP_KILL","CAP_NET_BIND_SERVICE"],"effective":["CAP_KILL","CAP_NET_BIND_SERVICE"],"permitted":["CAP_KILL","CAP_NET_BIND_SERVICE"]}
          | .process.noNewPrivileges=true
          | .process.rlimits=[{"type":"RLIMIT_NOFILE","soft":100,"hard":200}]
          | .process.user.umask=18
          | .linux.namespaces += [{"type":"network"}]
          | .linux.sysctl={"net.ipv4.ip_forward":"1"}
          | .linux.maskedPaths=["/proc/timer_list","/sys/firmware"]
          | .linux.readonlyPaths=["/proc/sys"]
          | .linux.devices=[{"path":"/dev/kmsg","type":"c","major":1,"minor":11,"fileMode":384}]
          | .mounts += [{"destination":"/scratch","type":"tmpfs","source":"tmpfs","options":["nosuid","size=1m"]},
                        {"destination":"/data","type":"bind","source":"/run/shared","options":["rbind","ro"]}]'
        $R run --bundle /run/b/c c; echo "status=$?"
    "#);
    assert_eq!(
        out.stdout,
        "box\n1\nCapEff:\t0000000000000420\nCapBnd:\t0000000000000420\nNoNewPrivs:\t1\n100\n0\n0\n\
         sys-ro\nroot-ro\nhost-file\ndata-ro\nt\ncrw-------\n0022\nstatus=0\n",
        "{}",
        out.both()
    );
}

/// A profile that allows everything but what it names: mkdir with EACCES
/// (13) instead of the default EPERM, chroot with the default EPERM, and
/// unshare only of a UTS namespace (SCMP_CMP_MASKED_EQ: the argument
/// masked with CLONE_NEWUTS, 0x04000000, equals it). It binds the
/// container's process, before and after no_new_privs, and exec'd ones.
#[test]
fn a_seccomp_profile_is_config_jsons() {
    let out = ok(r#"
        bundle c
        edit c '.process.args=["sh","-c","grep -E \"^(Seccomp|Seccomp_filters|NoNewPrivs):\" /proc/self/status; mkdir /x; chroot / true; unshare -u true; unshare -i true && echo ipc-ok; touch /tmp/said; sleep 30"]
          | .linux.seccomp={"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[
              {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
              {"names":["chroot"],"action":"SCMP_ACT_ERRNO"},
              {"names":["unshare"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":67108864,"valueTwo":67108864,"op":"SCMP_CMP_MASKED_EQ"}]},
              {"names":["no_such_call"],"action":"SCMP_ACT_KILL"}]}'
        $R run -d --bundle /run/b/c c 2>&1
        # Until the container has said all (its lines and exec's share stdout).
        for i in $(seq 300); do $R exec c test -e /tmp/said 2>/dev/null && break; sleep 0.05; done
        $R exec c sh -c 'grep ^Seccomp: /proc/self/status; mkdir /y' 2>&1; echo "exec=$?"
        $R kill c KILL; sleep 0.2; $R delete c
        edit c '.process.noNewPrivileges=true | .process.args=["sh","-c","grep -E \"^(Seccomp|NoNewPrivs):\" /proc/self/status; mkdir /x"]'
        $R run --bundle /run/b/c c 2>&1; echo "nnp=$?"
        # Compiled once: the second container's profile is the first's.
        ls /run/ctr-runtime/seccomp:cache | grep -c '\.bpf$'
    "#);
    let s = &out.stdout;
    assert!(
        s.starts_with(
            "NoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n\
             mkdir: can't create directory '/x': Permission denied\n\
             chroot: can't change root directory to '/': Operation not permitted\n\
             unshare: unshare(0x4000000): Operation not permitted\nipc-ok\n"
        ),
        "{}",
        out.both()
    );
    assert!(
        s.ends_with(
            "Seccomp:\t2\nmkdir: can't create directory '/y': Permission denied\nexec=1\n\
             NoNewPrivs:\t1\nSeccomp:\t2\nmkdir: can't create directory '/x': Permission denied\n\
             nnp=1\n1\n"
        ),
        "{}",
        out.both()
    );
}

#[test]
fn the_user_and_groups_are_config_jsons() {
    let out = ok(r#"
        bundle c
        edit c '.process.user={"uid":1000,"gid":1000,"additionalGids":[5,1000]} | .process.args=["sh","-c","id; grep CapEff /proc/self/status; pwd"] | .process.cwd="/tmp"'
        $R run --bundle /run/b/c c
    "#);
    assert_eq!(
        out.stdout,
        "uid=1000 gid=1000 groups=5,1000\nCapEff:\t0000000000000000\n/tmp\n",
        "{}",
        out.both()
    );
}

#[test]
fn hooks_run_at_their_points_with_the_state_on_stdin() {
    let out = ok(r#"
        bundle c
        hook() { echo "{\"path\":\"/bin/sh\",\"args\":[\"sh\",\"-c\",\"cat > /run/hook-$1\"]}"; }
        edit c ".process.args=[\"true\"] | .hooks={\"createRuntime\":[$(hook create)],\"poststart\":[$(hook start)],\"poststop\":[$(hook stop)]}"
        $R create --bundle /run/b/c c
        jq -r '"create: \(.id) \(.pid > 0)"' /run/hook-create
        test -e /run/hook-start || echo "no poststart yet"
        $R start c; sleep 0.2
        jq -r '"start: \(.id) \(.status)"' /run/hook-start
        $R delete c
        jq -r '"stop: \(.id) \(.status)"' /run/hook-stop
        edit c '.hooks={"createRuntime":[{"path":"/bin/false"}]}'
        $R create --bundle /run/b/c d 2>&1; echo "failing hook=$?"
        ls -A /run/ctr-runtime | wc -l
    "#);
    assert!(
        out.stdout
            .starts_with("create: c true\nno poststart yet\nstart: c running\nstop: c stopped\n"),
        "{}",
        out.both()
    );
    assert!(
        out.stdout
            .ends_with("createRuntime hooks: hook /bin/false: it failed with exit status: 1\nfailing hook=1\n0\n"),
        "{}",
        out.both()
    );
}

#[test]
fn a_network_namespace_is_joined_by_path() {
    let out = ok(r#"
        ip netns add n1
        ip link add v0 type veth peer name v1 netns n1
        ip -n n1 addr add 192.0.2.9/24 dev v1
        bundle c
        edit c '.process.args=["sh","-c","ip addr show v1 | grep -o \"inet [0-9./]*\""] | .linux.namespaces += [{"type":"network","path":"/run/netns/n1"}]'
        $R run --bundle /run/b/c c
    "#);
    assert_eq!(out.stdout, "inet 192.0.2.9/24\n", "{}", out.both());
}

#[test]
fn a_terminal_goes_over_the_console_socket() {
    let receiver = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
name, fds, _, _ = socket.recv_fds(c, 4096, 1)
print("name:", name.decode())
m = fds[0]
os.write(m, b"tty; echo typed-$((6*7)); exit 3\n")
out = b""
while True:
    try:
        d = os.read(m, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
print(out.decode().replace("\r", ""))
"#;
    let out = ok(&format!(
        r#"
        cat > /run/recv.py <<'PY'
{receiver}
PY
        bundle c; edit c '.process.terminal=true | .process.args=["sh"]'
        python3 /run/recv.py /run/console.sock > /run/seen & py=$!
        for i in $(seq 100); do test -S /run/console.sock && break; sleep 0.02; done
        $R create --bundle /run/b/c --console-socket /run/console.sock c
        $R start c; wait $py
        cat /run/seen
        sleep 0.2; $R state c | jq -r .status; $R delete c
        $R create --bundle /run/b/c d 2>&1; echo "no socket=$?"
    "#
    ));
    let s = &out.stdout;
    assert!(s.starts_with("name: /dev/pts/0\n"), "{}", out.both());
    assert!(s.contains("/dev/pts/0\n"), "{}", out.both());
    assert!(s.contains("typed-42"), "{}", out.both());
    assert!(s.contains("stopped\n"), "{}", out.both());
    assert!(
        s.contains("process.terminal is true but no console socket was given"),
        "{}",
        out.both()
    );
}

#[test]
fn exec_joins_a_running_container() {
    let out = ok(r#"
        bundle c; edit c '.process.args=["sleep","30"] | .hostname="inside"'
        $R run -d --bundle /run/b/c c
        $R exec c sh -c 'echo "$(hostname) pid1=$(cat /proc/1/comm)"; exit 4'; echo "exec=$?"
        $R exec --detach --pid-file /run/p c sleep 7; echo "detached=$?"
        tr '\0' ' ' < /proc/$(cat /run/p)/cmdline; echo
        echo '{"args":["sh","-c","echo from-process-json $FOO"],"env":["FOO=bar","PATH=/bin"],"cwd":"/","user":{"uid":0,"gid":0}}' > /run/proc.json
        $R exec --process /run/proc.json c
        $R ps --format json c | jq 'length'
        $R ps c | awk 'NR == 1 { print $2 } NR > 1 { print $NF }' | tr '\n' ' '; echo
        $R ps c -o pid,comm | tail -n +2 | awk '{ print $2 }' | tr '\n' ' '; echo
        $R kill c KILL; sleep 0.2
        $R exec c true 2>&1; echo "stopped=$?"
        $R delete c
    "#);
    let s = &out.stdout;
    assert!(
        s.starts_with(
            "inside pid1=sleep\nexec=4\ndetached=0\nsleep 7 \nfrom-process-json bar\n2\n\
             PID 30 7 \nsleep sleep \n"
        ),
        "{}",
        out.both()
    );
    assert!(
        s.contains("cannot exec in c: container not running\nstopped=1"),
        "{}",
        out.both()
    );
}

#[test]
fn run_returns_the_status_and_cleans_up() {
    let out = ok(r#"
        bundle c; edit c '.process.args=["sh","-c","exit 7"]'
        $R run --bundle /run/b/c c; echo "status=$?"
        $R state c 2>/dev/null || echo "deleted"
        edit c '.process.args=["nope"]'
        $R run --bundle /run/b/c c 2>&1; echo "status=$?"
        $R features | jq -r '.ociVersionMin, (.hooks|join(",")), .linux.seccomp.enabled, (.linux.seccomp.archs|index("SCMP_ARCH_X86_64") > 0)'
    "#);
    assert_eq!(
        out.stdout,
        "status=7\ndeleted\nctr-runtime: exec: nope: command not found in the image's PATH \
         (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)\nstatus=127\n\
         1.0.0\ncreateRuntime,poststart,poststop\ntrue\ntrue\n",
        "{}",
        out.both()
    );
}

#[test]
fn a_failed_create_leaves_nothing() {
    let out = run(r#"
        bundle c
        edit c '.root.path="nowhere"'
        $R create --bundle /run/b/c c 2>&1; echo "no rootfs=$?"
        edit c '.root.path="rootfs" | .mounts += [{"destination":"/x","type":"bind","source":"/no/such/dir","options":["bind"]}]'
        $R create --bundle /run/b/c c 2>&1; echo "bad mount=$?"
        ls -A /run/ctr-runtime | wc -l
        ps -e -o comm= | grep -c ctr-runtime || true
    "#);
    let s = &out.stdout;
    assert!(
        s.contains("the root filesystem /run/b/c/nowhere is not a directory"),
        "{}",
        out.both()
    );
    assert!(s.contains("no rootfs=1"), "{}", out.both());
    assert!(
        s.contains("mounting /x (bind): binding /no/such/dir"),
        "{}",
        out.both()
    );
    assert!(s.ends_with("bad mount=1\n0\n0\n"), "{}", out.both());
}

#[test]
fn a_missing_command_fails_create_and_detached_exec_as_runcs_does() {
    // podman and containerd return before the program runs: they learn of
    // a missing command from create (or exec --detach) failing, in runc's
    // words ("executable file not found in $PATH": podman's 127).
    let out = run(r#"
        bundle c; edit c '.process.args=["nope"]'
        $R create --bundle /run/b/c c 2>&1; echo "create nope=$?"
        ls -A /run/ctr-runtime | wc -l
        edit c '.process.args=["/etc/passwd"]'
        $R create --bundle /run/b/c c 2>&1; echo "create passwd=$?"
        edit c '.process.args=["sleep","30"]'
        $R create --bundle /run/b/c c && $R start c
        $R exec --detach c /no/such 2>&1; echo "exec --detach=$?"
        $R exec c nope 2>&1; echo "exec=$?"
        $R delete --force c
    "#);
    assert_eq!(
        out.stdout,
        "ctr-runtime: nope: executable file not found in $PATH \
         (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin) of the image\n\
         create nope=1\n0\n\
         ctr-runtime: /etc/passwd: permission denied: it is not an executable file for this user\n\
         create passwd=1\n\
         ctr-runtime: starting a process in container c: /no/such: no such file or directory in the image\n\
         exec --detach=1\n\
         ctr-runtime: exec: nope: command not found in the image's PATH \
         (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)\nexec=127\n",
        "{}",
        out.both()
    );
}

#[test]
fn home_is_the_users_when_config_json_has_none() {
    // As runc and crun: podman leaves HOME out for a uid the image's passwd
    // does not have.
    let out = ok(r#"
        bundle c
        edit c '.process.env=["PATH=/bin"] | .process.args=["sh","-c","echo $HOME"]'
        $R run --bundle /run/b/c c
        edit c '.process.user.uid=1234'
        $R run --bundle /run/b/c c
        edit c '.process.env=["PATH=/bin","HOME=/given"]'
        $R run --bundle /run/b/c c
        edit c '.process.env=["PATH=/bin"] | .process.user.uid=0 | .process.args=["sleep","30"]'
        $R create --bundle /run/b/c c && $R start c
        $R exec --user 65534 c sh -c 'echo $HOME'
        $R delete --force c
    "#);
    assert_eq!(
        out.stdout,
        "/root\n/\n/given\n/nonexistent\n",
        "{}",
        out.both()
    );
}

/// The book's session: ctr-runtime driven by hand, through runtime-spec's
/// states, on a busybox root made by scripts/mkrootfs.
#[test]
fn the_books_session_by_hand() {
    let out = support::transcript::as_a_reader(
        "ctr-runtime",
        "",
        &format!(
            "{}\
             show mkdir /run/demo\n\
             show scripts/mkrootfs /run/demo/rootfs\n\
             show cd /run/demo\n\
             show ctr-runtime spec\n\
             show 'jq \".process.args=[\\\"sleep\\\",\\\"600\\\"] | .process.terminal=false\" config.json > c && mv c config.json'\n\
             show ctr-runtime create --bundle . demo\n\
             show ctr-runtime state demo\n\
             show 'ls /run/ctr-runtime/demo; ps -o pid,stat,args -p $(ctr-runtime state demo | jq .pid)'\n\
             show ctr-runtime start demo\n\
             show 'ctr-runtime state demo | jq -r .status; ls /run/ctr-runtime/demo'\n\
             show ctr-runtime start demo\n\
             show ctr-runtime delete demo\n\
             show ctr-runtime kill demo KILL\n\
             show 'sleep 0.1; ctr-runtime state demo | jq -c \"{{status, pid}}\"'\n\
             show ctr-runtime delete demo\n\
             show ctr-runtime state demo\n\
             true\n",
            support::transcript::SHOW
        ),
    );
    assert_eq!(out.status, 0, "{}", out.both());
    support::transcript::check_session(
        "ctr-runtime-by-hand.txt",
        &out.stdout,
        &[
            (r#""pid": \d+"#, r#""pid": <pid>"#),
            (r"(?m)^ *\d+ S", "<pid> S"),
            (r#""created": "[^"]*""#, r#""created": "<time>""#),
        ],
    );
}
