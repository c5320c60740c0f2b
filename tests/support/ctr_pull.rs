//! What `ctr pull`'s tests share: a sandbox with a fresh store and the
//! fixture registry, and a proxy in front of it (ctr_pull_proxy.py) that logs,
//! slows and fails requests.

use super::ctr::ctr;
use super::{quote, repo, sandbox, Outcome};

/// Runs `body` in a new sandbox after `prelude` (which starts registries):
/// `$C` is ctr, CTR_ROOT a fresh store on the sandbox's /run, `$R` the
/// fixture registry's address, `wait_for CMD...` polls CMD (see [`super::WAIT_FOR`]).
/// Afterwards it prints what the store holds, as a last line:
/// `store: images=N layers=N tmp=N`.
pub fn run(prelude: &str, body: &str) -> Outcome {
    sandbox(&format!(
        "export CTR_ROOT=/run/ctr\nC={}\nR={}\n{}\
         {prelude}\n{body}\n\
         echo \"store: images=$(ls /run/ctr/images 2>/dev/null | wc -l) \
         layers=$(ls /run/ctr/layers 2>/dev/null | wc -l) tmp=$(ls -A /run/ctr/tmp 2>/dev/null | wc -l)\"",
        quote(&ctr().display().to_string()),
        super::registry::ADDRESS,
        super::WAIT_FOR,
    ))
}

/// Shell lines that start the proxy on LISTEN in front of UPSTREAM, logging
/// to LOG, with the proxy's OPTIONS (see ctr_pull_proxy.py), and wait for it.
pub fn proxy(listen: &str, upstream: &str, log: &str, options: &str) -> String {
    let script = repo().join("tests/support/ctr_pull_proxy.py");
    format!(
        "python3 {} {listen} {upstream} {log} {options} &\n{}\n: > {log}\n",
        quote(&script.display().to_string()),
        super::registry::wait_http(listen, "/v2/"),
    )
}

/// The last line of a `run`'s output: what the store holds.
pub fn store_left(out: &Outcome) -> &str {
    out.stdout.lines().last().unwrap_or_default()
}
