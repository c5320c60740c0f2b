//! What the runtime's network and lifecycle tests share: a sandbox with the
//! outside host (network.rs), a fresh store holding busybox and, on request,
//! the redis image (tests/support/mkredis), and shell helpers that snapshot
//! what a container could leave behind.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::ctr::in_sandbox;
use super::network::{outside_script, snapshot_command};
use super::{quote, repo, target_dir, Outcome};

/// The redis OCI layout, made once under target/ by tests/support/mkredis.
pub fn redis_layout() -> PathBuf {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    MADE.get_or_init(|| {
        let dest = target_dir().join("test-images/redis-oci");
        if !dest.join("index.json").exists() {
            let out = Command::new(repo().join("tests/support/mkredis"))
                .arg(&dest)
                .output()
                .expect("running tests/support/mkredis");
            // Another test binary may have made it meanwhile: that is fine.
            assert!(
                out.status.success() || dest.join("index.json").exists(),
                "tests/support/mkredis failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dest
    })
    .clone()
}

/// Shell lines that record, in FILE, everything of the sandbox a container
/// may leave behind: links, addresses, routes, iptables rules, mounts, and
/// the containers, leases and temporary files of the store.
pub fn leftovers_command(file: &str) -> String {
    format!(
        "{}\n{{ grep -v ' /run/ctr/containers/' /proc/self/mountinfo | cut -d' ' -f5; \
         ls -A /run/ctr/containers /run/ctr/tmp; ls -A /run/ctr/net/leases 2>/dev/null; }} >> {file}",
        snapshot_command(file)
    )
}

/// Runs `body` in a sandbox with the outside host up, `$C` ctr and a fresh
/// store with busybox (and `redis` when `redis` is true), and the function
/// `leftovers FILE` (see [`leftovers_command`]).
pub fn run(redis: bool, body: &str) -> Outcome {
    let mut script = outside_script();
    script.push_str(&format!(
        "leftovers() {{ {}; }}\n",
        leftovers_command("\"$1\"")
    ));
    if redis {
        script.push_str(&format!(
            "$C import {} redis >/dev/null || exit 98\n",
            quote(&redis_layout().display().to_string())
        ));
    }
    script.push_str(body);
    in_sandbox(true, &script)
}

/// `run`, asserting that the script exited 0.
pub fn ok(redis: bool, body: &str) -> Outcome {
    let out = run(redis, body);
    assert_eq!(out.status, 0, "{}", out.both());
    out
}
