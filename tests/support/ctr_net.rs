//! What the runtime's network and lifecycle tests share: a sandbox with the
//! outside host (network.rs), a fresh store holding busybox and, on request,
//! the fixture registry (support/registry.rs) as the docker.io mirror, from
//! which `redis` is pulled as from Docker Hub; and shell helpers that
//! snapshot what a container could leave behind.

use super::ctr::in_sandbox;
use super::network::{outside_script, snapshot_command};
use super::registry::{self, Auth, ADDRESS};
use super::Outcome;

/// Shell lines that start the fixture registry (which holds
/// library/redis:latest, made by tests/support/mkredis) and make it the
/// mirror of docker.io, as dockerd's registry-mirrors: `redis` is pulled
/// from it.
pub fn mirror() -> String {
    format!(
        "{}export CTR_REGISTRY_MIRROR=http://{ADDRESS}\n",
        registry::start(Auth::None)
    )
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
/// store with busybox (and, when `redis` is true, the fixture registry as
/// docker.io's mirror: see [`mirror`]), and the function `leftovers FILE`
/// (see [`leftovers_command`]).
pub fn run(redis: bool, body: &str) -> Outcome {
    let mut script = outside_script();
    script.push_str(&format!(
        "leftovers() {{ {}; }}\n",
        leftovers_command("\"$1\"")
    ));
    if redis {
        script.push_str(&mirror());
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
