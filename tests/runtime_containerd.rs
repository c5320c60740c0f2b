//! containerd driving ctr-runtime through its runc shim
//! (`io.containerd.runc.v2`, with ctr-runtime as the runc binary), against
//! the same shim driving runc, in one throwaway sandbox: containerd's root,
//! state and socket on the sandbox's /run, its image pulled from the test
//! registry on 127.0.0.1 inside it. Both runtimes are reached as
//! tests/support/engines.rs says.
//!
//! containerd's client is also named `ctr`: it is called by its full path,
//! /usr/bin/ctr, never to be confused with this project's.
mod support;

use support::ctr::scratch;
use support::docker_cases::Said;
use support::registry::{self, Auth};
use support::transcript::{self, SHOW};
use support::{engines, quote, sandbox};

/// containerd's client, by its full path (see above).
const CONTAINERD_CTR: &str = "/usr/bin/ctr";

/// Shell lines that start containerd in the sandbox with a configuration,
/// root, state and socket of its own, pull busybox from the test registry
/// into it, and define `$CD` (its client on that socket) and `$IMG`. Exits
/// 90 when containerd is missing, 91 when it does not start.
fn setup() -> String {
    format!(
        r#"command -v containerd >/dev/null && [ -x {CONTAINERD_CTR} ] ||
    {{ echo "containerd is not installed: apt-get install containerd (scripts/setup does)" >&2; exit 90; }}
# The sandbox's cgroup trees, its own (scripts/sandbox), where the shim's
# runtime makes the container's cgroup; on a hybrid host, v1's alone (its v2
# tree holds no controller). The shim's runc root is /run/containerd/runc,
# on the sandbox's /run; /var/lib is a tmpfs, should anything write there.
{{ ! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified; }} && mount -t tmpfs cd-var-lib /var/lib || exit 91
{registry}
mkdir -p /run/cd
cat > /run/cd/config.toml <<'CONF'
version = 2
root = "/run/cd/root"
state = "/run/cd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "/run/cd/containerd.sock"
CONF
containerd --config /run/cd/config.toml > /run/cd/log 2>&1 &
for _ in $(seq 250); do [ -S /run/cd/containerd.sock ] && break; sleep 0.02; done
CD="{CONTAINERD_CTR} --address /run/cd/containerd.sock"
IMG={address}/library/busybox:latest
$CD images pull --plain-http $IMG >/dev/null ||
    {{ echo "containerd does not start or pull here:" >&2; cat /run/cd/log >&2; exit 91; }}
"#,
        registry = registry::start(Auth::None),
        address = registry::ADDRESS,
    )
}

/// What containerd does with a runtime, each line with what it must print;
/// `$RT` is the runtime's path (`--runc-binary`), `$N` a container name of
/// the runtime's own.
const LIFE: &[(&str, &str, &str)] = &[
    (
        "run --rm: output and exit status",
        "$CD run --rm --runc-binary $RT $IMG $N-a sh -c 'echo hello; exit 3'; echo \"status=$?\"",
        "hello\nstatus=3\n",
    ),
    (
        "run -d, exec, ps, kill, delete",
        "$CD run -d --runc-binary $RT $IMG $N-b sleep 300
         $CD task exec --exec-id e1 $N-b sh -c 'echo in exec; exit 4'; echo \"exec=$?\"
         $CD task ps $N-b | tail -n +2 | wc -l
         $RT --root /run/containerd/runc/default state $N-b | jq -r .status
         $CD task kill -s SIGKILL $N-b; echo \"kill=$?\"
         for _ in $(seq 250); do $CD task ls | grep -q \"^$N-b .*STOPPED\" && break; sleep 0.02; done
         $CD task ls | awk -v n=$N-b '$1 == n {print $3}'
         $CD task delete $N-b 2>/dev/null; echo \"task delete=$?\"
         $CD container delete $N-b; echo \"container delete=$?\"",
        "in exec\nexec=4\n1\nrunning\nkill=0\nSTOPPED\ntask delete=0\ncontainer delete=0\n",
    ),
    (
        "kill --all: every process of the container",
        "$CD run -d --runc-binary $RT $IMG $N-c sh -c 'sleep 300 & sleep 300 & wait'
         for _ in $(seq 250); do [ $($CD task ps $N-c | tail -n +2 | wc -l) = 3 ] && break; sleep 0.02; done
         $CD task ps $N-c | tail -n +2 | wc -l
         $CD task kill -a -s SIGKILL $N-c; echo \"kill -a=$?\"
         for _ in $(seq 250); do $CD task ls | grep -q \"^$N-c .*STOPPED\" && break; sleep 0.02; done
         $CD task delete $N-c 2>/dev/null; $CD container delete $N-c; echo deleted",
        "3\nkill -a=0\ndeleted\n",
    ),
    (
        "a terminal through the shim's console socket",
        "script -qec \"$CD run -t --rm --runc-binary $RT $IMG $N-d sh -c 'tty; exit 5'\" /dev/null \
         > /run/tty.out; echo \"run -t=$?\"; tr -d '\\r' < /run/tty.out | sed 's/\\^@//g'",
        "run -t=5\n/dev/pts/0\n",
    ),
    (
        "a command not in the image fails the task's create",
        "$CD run --rm --runc-binary $RT $IMG $N-e nope 2>/dev/null; echo \"status=$?\"
         $CD container ls -q | grep -c \"^$N-e$\" || true",
        "status=1\n0\n",
    ),
];

#[test]
fn containerd_runs_execs_into_and_kills_through_ctr_runtime() {
    support::require_root();
    let dir = scratch("runtime-containerd");
    let mut script = setup();
    script.push_str(&engines::wrappers());
    script.push_str(&format!("O={}\n", quote(&dir.display().to_string())));
    for (i, (_, line, _)) in LIFE.iter().enumerate() {
        for rt in ["runc", "ctr-runtime"] {
            script.push_str(&format!(
                "RT=/run/rt/{rt}/{rt} N={rt}-{i}; ( {line} ) >$O/{i}.{rt}.out 2>$O/{i}.{rt}.err; \
                 echo $? >$O/{i}.{rt}.rc\n"
            ));
        }
    }
    // containerd's config.json as it wrote it, fed to ctr-runtime; then a
    // session for the book.
    script.push_str(&engines::refused("/run/rt/ctr-runtime.config.json"));
    script.push_str(&format!(
        "{SHOW}echo ---\n\
         : > /run/rt/calls\n\
         show export CONTAINERD_ADDRESS=/run/cd/containerd.sock\n\
         show IMG={address}/library/busybox:latest RT=/run/rt/ctr-runtime/ctr-runtime\n\
         show {CONTAINERD_CTR} images pull --plain-http '$IMG' '>/dev/null'\n\
         show {CONTAINERD_CTR} run -d --runc-binary '$RT' '$IMG' web sleep 300\n\
         show {CONTAINERD_CTR} task exec --exec-id hi web echo hello from exec\n\
         show {CONTAINERD_CTR} task kill -s SIGKILL web\n\
         for _ in $(seq 250); do $CD task ls | grep -q '^web .*STOPPED' && break; sleep 0.02; done\n\
         show {CONTAINERD_CTR} task delete web\n\
         show {CONTAINERD_CTR} container delete web\n\
         show cat /run/rt/calls\n\
         true\n",
        address = registry::ADDRESS,
    ));
    let out = sandbox(&script);
    match out.status {
        90 => panic!(
            "containerd is not installed, so ctr-runtime cannot be tried under it (this \
             test does not pass without it):\n{}",
            out.both()
        ),
        91 => panic!("containerd does not run in the sandbox:\n{}", out.both()),
        _ => assert_eq!(out.status, 0, "{}", out.both()),
    }

    let mut table = String::from("| case | runc | ctr-runtime |\n|---|---|---|\n");
    let mut wrong = Vec::new();
    for (i, (what, _, want)) in LIFE.iter().enumerate() {
        let runc = Said::read(&dir, &format!("{i}.runc"));
        let ours = Said::read(&dir, &format!("{i}.ctr-runtime"));
        table.push_str(&format!("| {what} | {runc} | {ours} |\n"));
        let want = Said {
            stdout: want.to_string(),
            status: 0,
        };
        for (rt, said) in [("runc", &runc), ("ctr-runtime", &ours)] {
            if *said != want {
                let err =
                    std::fs::read_to_string(dir.join(format!("{i}.{rt}.err"))).unwrap_or_default();
                wrong.push(format!(
                    "{what}: {rt} said {said}, wanted {want}; its stderr: {}",
                    err.trim()
                ));
            }
        }
    }
    println!("{table}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        wrong.is_empty(),
        "containerd on runc and on ctr-runtime:\n\n{}\n\n{table}\n{}",
        wrong.join("\n"),
        out.stderr
    );

    let (refused, session) = out
        .stdout
        .split_once("---\n")
        .unwrap_or_else(|| panic!("no session: {}", out.both()));
    engines::check_not_yet("containerd", refused);
    let session = regex::Regex::new(r"/run/cd/state/io\.containerd\.runtime\.v2\.task/default/web")
        .unwrap()
        .replace_all(session, "<bundle>");
    let session = regex::Regex::new(r"/tmp/runc-process\d+")
        .unwrap()
        .replace_all(&session, "/tmp/runc-process<random>");
    transcript::check_session(
        "containerd-ctr-runtime.txt",
        &session,
        &[(r#"time="[^"]*""#, "time=<time>")],
    );
}
