//! What the integration tests share: the root check, the lesson binaries, a
//! root filesystem, the throwaway sandbox that plays the host, and a snapshot
//! of the real host to prove that a test left it as it was.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod checks;
pub mod ctr;
pub mod ctr_net;
pub mod ctr_podman;
pub mod ctr_pull;
pub mod docker_cases;
pub mod engines;
pub mod fixtures;
pub mod hostile;
pub mod network;
pub mod registry;
pub mod transcript;
pub mod vm;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's top directory.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory cargo builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// Fails the test, saying why, unless we are root: these tests create
/// namespaces. They never pass by skipping.
pub fn require_root() {
    if !nix::unistd::Uid::effective().is_root() {
        panic!(
            "this test needs root (it creates namespaces, inside a throwaway sandbox): \
             run `sudo just test`, or `sudo -E cargo test`"
        );
    }
}

/// Builds every lesson once per test binary (cargo test builds only the test
/// targets of this package) and returns the path of lesson `crate_name`.
/// With `CTR_TESTS_PREBUILT=1` (set by the VM tier, support/vm.rs, which
/// built them on the host before booting the guest) it takes them as built.
pub fn binary(crate_name: &str) -> PathBuf {
    // Every test that runs a binary needs root: say so before anything fails.
    require_root();
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("CTR_TESTS_PREBUILT").is_some_and(|v| v == "1") {
            return;
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--workspace", "--bins"])
            .current_dir(repo())
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build --workspace --bins failed");
    });
    let path = target_dir().join("debug").join(crate_name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A busybox root filesystem made by `scripts/mkrootfs`, once, under target/.
pub fn rootfs() -> PathBuf {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    MADE.get_or_init(|| {
        let dest = target_dir().join("test-rootfs");
        if !dest.join("bin/busybox").exists() {
            let out = Command::new(repo().join("scripts/mkrootfs"))
                .arg(&dest)
                .output()
                .expect("running scripts/mkrootfs");
            // Another test binary may have made it meanwhile: that is fine.
            assert!(
                out.status.success() || dest.join("bin/busybox").exists(),
                "scripts/mkrootfs failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dest
    })
    .clone()
}

/// What a command run in the sandbox did.
#[derive(Debug)]
pub struct Outcome {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// stdout, then stderr: for messages in assertions.
    pub fn both(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs a shell script in a new throwaway sandbox (`scripts/sandbox`): its own
/// UTS, IPC, network, mount, PID and cgroup namespaces, hostname "sandbox", /
/// shared within it as on a systemd host, a cgroup tree rooted at cgroups
/// made for it. Everything it makes dies with it, or is removed. The real
/// host's hostname and mount table are checked to be unchanged afterwards.
pub fn sandbox(script: &str) -> Outcome {
    let sandbox = repo().join("scripts/sandbox");
    in_sandbox(120, &[sandbox.to_str().unwrap(), "sh", "-c", script])
}

/// Like [`sandbox`], for a script in a file (a path relative to the
/// repository), in a sandbox started as a reader starts it, from the
/// repository: `ps` and `lsns` show its PID 1 as `bash scripts/sandbox sh
/// FILE`, not as this test's whole script. A session of several lessons
/// may take a few minutes on a busy machine.
pub fn sandbox_file(file: &str) -> Outcome {
    in_sandbox(300, &["scripts/sandbox", "sh", file])
}

fn in_sandbox(seconds: u32, command: &[&str]) -> Outcome {
    require_root();
    let host = Host::snapshot();
    // `seconds`, unless CTR_SANDBOX_TIMEOUT says (the VM tier: emulation
    // runs everything several times slower).
    let timeout = std::env::var("CTR_SANDBOX_TIMEOUT").unwrap_or_else(|_| seconds.to_string());
    let out = Command::new("timeout")
        .args(["--kill-after=5", &timeout])
        .args(command)
        .current_dir(repo())
        .output()
        .expect("running scripts/sandbox");
    host.assert_unchanged();
    Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Shell: `wait_for CMD...` polls CMD until it succeeds, for up to 15 s,
/// so that a test that goes wrong fails in bounded time instead of hanging.
/// The bound is generous: on a loaded CI machine a container can take
/// seconds to do what takes milliseconds on an idle one.
pub const WAIT_FOR: &str =
    "wait_for() { for _ in $(seq 750); do \"$@\" && return 0; sleep 0.02; done; \
     echo \"timed out: $*\" >&2; return 1; }\n";

/// Quotes a word for sh.
pub fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./=:,+@%-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Quotes words for sh and joins them.
pub fn quote_all<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The real host's state that no test may change.
#[derive(Debug, PartialEq)]
pub struct Host {
    hostname: String,
    mounts: Vec<String>,
    /// Links, addresses, routes and firewall rules of the host's network namespace.
    network: String,
    /// What is in the host's directories that container tools write to when
    /// they run as root (skopeo's and podman's caches and configuration).
    state_dirs: Vec<String>,
}

impl Host {
    pub fn snapshot() -> Host {
        let hostname = nix::unistd::gethostname()
            .expect("gethostname")
            .to_string_lossy()
            .into_owned();
        // Mount ID, parent, device, root, mount point, options: the whole table.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .expect("reading /proc/self/mountinfo")
            .lines()
            .map(str::to_string)
            .collect();
        let network = Command::new("sh")
            .args([
                "-c",
                "ip -br link; ip -br addr; ip route; ip -6 route; \
                 iptables-save 2>/dev/null | grep -v '^#'",
            ])
            .output()
            .expect("reading the host's network state");
        let network = String::from_utf8_lossy(&network.stdout).into_owned();
        let state_dirs = ["/var/lib", "/etc/containers"]
            .iter()
            .flat_map(|dir| {
                std::fs::read_dir(dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(move |e| format!("{dir}/{}", e.file_name().to_string_lossy()))
            })
            .collect();
        Host {
            hostname,
            mounts,
            network,
            state_dirs,
        }
    }

    pub fn assert_unchanged(&self) {
        let now = Host::snapshot();
        assert_eq!(self.hostname, now.hostname, "the host's hostname changed");
        let added: Vec<_> = now
            .mounts
            .iter()
            .filter(|m| !self.mounts.contains(m))
            .collect();
        let removed: Vec<_> = self
            .mounts
            .iter()
            .filter(|m| !now.mounts.contains(m))
            .collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "the host's mount table changed:\nadded: {added:#?}\nremoved: {removed:#?}"
        );
        assert_eq!(
            self.network, now.network,
            "the host's links, addresses, routes or rules changed"
        );
        let mut before = self.state_dirs.clone();
        let mut after = now.state_dirs;
        before.sort();
        after.sort();
        assert_eq!(
            before, after,
            "a test wrote to /var/lib or /etc/containers on the host"
        );
    }
}
