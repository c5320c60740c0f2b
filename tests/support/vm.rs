//! The VM tier: tests that need a stock machine, the kind learners and users
//! have (a distribution kernel that loads its modules on demand, cgroup v2
//! only), run inside the `just vm` machine (`scripts/vm`): Debian 12 under
//! qemu, booted afresh for each call.
//!
//! A test file says in one line which test binary, or which of its tests
//! (a filter, as `cargo test` takes), runs inside:
//!
//! ```ignore
//! mod support;
//!
//! support::vm_tests! {
//!     lesson_06_nat: "lesson_06_nat",
//!     ctr_memory_limit: "ctr_cgroups" "memory_",
//!     ctr_network_quick: "ctr_network" "--skip twenty_cycles",
//! }
//! ```
//!
//! or, from a test of its own, `support::vm::run_test("lesson_06_nat",
//! "publishes")`; and `support::vm::run(script)` runs a shell script there
//! and returns what it did, for checks of the machine itself.
//!
//! How a test binary gets there: on the host, cargo builds it and the
//! workspace's binaries, and the support code makes the fixtures the tests
//! use (root filesystem, images, registry storage) under target/. The guest
//! sees the repository at the same path, so the paths built into the binary
//! hold there; it runs the binary as root with `CTR_TESTS_PREBUILT=1`, so
//! that [`super::binary`] takes the binaries as built instead of running
//! cargo (slow under emulation). What the tests write lands in the guest's
//! overlay and is gone at power-off. A test that cannot start the machine
//! fails, with scripts/vm's reason.

use super::{quote_all, repo, Host, Outcome};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Seconds a boot may take, command included, unless CTR_VM_TIMEOUT says.
const TIMEOUT: &str = "1800";
/// Seconds a sandbox may take inside (support::sandbox), instead of 120:
/// emulation runs everything several times slower.
const SANDBOX_TIMEOUT: &str = "600";

/// Declares the test `vm_tier`, which boots the VM once and runs there,
/// one after the other, each entry `NAME: "TEST_BINARY"` or `NAME:
/// "TEST_BINARY" "FILTER"` (that test binary, or the tests FILTER
/// selects): see [`run_tests`]. One boot for all, since a boot costs half
/// a minute under emulation.
#[macro_export]
macro_rules! vm_tests {
    ($($name:ident: $binary:literal $($filter:literal)?),* $(,)?) => {
        #[test]
        fn vm_tier() {
            support::vm::run_tests(&[
                $((stringify!($name), $binary, concat!("" $(, $filter)?)),)*
            ]);
        }
    };
}

/// Runs each (name, test binary, filter) in one boot of the VM, in order,
/// and fails naming every entry that failed or ran no test.
pub fn run_tests(entries: &[(&str, &str, &str)]) {
    let mut script = String::from("set +e\n");
    for (name, test, filter) in entries {
        let exe = build_test(test);
        script.push_str(&format!(
            "echo '=== {name}'; env CTR_TESTS_PREBUILT=1 RUST_BACKTRACE=1 \
             CTR_SANDBOX_TIMEOUT={SANDBOX_TIMEOUT} {} {filter} 2>&1; echo \"=== {name} status $?\"\n",
            quote_all(&[exe])
        ));
    }
    prepare_fixtures();
    let out = run_command(&["sh".to_string(), "-c".to_string(), script]);
    let mut failed = Vec::new();
    for (name, _, _) in entries {
        let start = format!("=== {name}\n");
        let end = format!("=== {name} status ");
        let section = out
            .stdout
            .split_once(&start)
            .and_then(|(_, rest)| rest.split_once(&end))
            .map(|(inside, status)| (inside, status.starts_with("0\n")));
        match section {
            Some((inside, true)) if passed(inside) > 0 => {}
            Some((_, true)) => failed.push(format!("{name}: ran no test")),
            Some((_, false)) => failed.push(format!("{name}: failed")),
            None => failed.push(format!("{name}: did not run (the VM stopped first?)")),
        }
    }
    assert!(
        failed.is_empty(),
        "in the VM: {}\n{}",
        failed.join("; "),
        out.both()
    );
}

/// The tests a test binary said passed ("test result: ok. N passed; ...").
fn passed(output: &str) -> u32 {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<u32>().ok())
        .sum()
}

/// Runs test binary `test` (tests/TEST.rs) in the VM with the arguments in
/// `filter`, split at spaces: names (a test runs if its name contains one)
/// and `--skip NAME`, as `cargo test` takes them; all tests when empty.
/// Fails unless tests ran and passed.
pub fn run_test(test: &str, filter: &str) {
    let exe = build_test(test);
    prepare_fixtures();
    let mut command = vec![
        "env".to_string(),
        "CTR_TESTS_PREBUILT=1".to_string(),
        "RUST_BACKTRACE=1".to_string(),
        format!("CTR_SANDBOX_TIMEOUT={SANDBOX_TIMEOUT}"),
        exe,
    ];
    command.extend(filter.split_whitespace().map(str::to_string));
    let out = run_command(&command);
    assert_eq!(out.status, 0, "{test} {filter} in the VM: {}", out.both());
    // "test result: ok. N passed; ...": a filter that matched nothing would
    // pass without testing anything.
    let passed = out
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<u32>().ok())
        .sum::<u32>();
    assert!(
        passed > 0,
        "{test} {filter} in the VM ran no test: {}",
        out.both()
    );
}

/// Runs SCRIPT with sh in the VM, from the repository's root, as root.
pub fn run(script: &str) -> Outcome {
    run_command(&["sh".to_string(), "-c".to_string(), script.to_string()])
}

/// Boots the VM on COMMAND, one boot at a time: two guests emulated at once
/// on a small machine would each run too slowly for the tests' timeouts.
fn run_command(command: &[String]) -> Outcome {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    super::require_root();
    let host = Host::snapshot();
    let started = std::time::Instant::now();
    let timeout = std::env::var("CTR_VM_TIMEOUT").unwrap_or_else(|_| TIMEOUT.to_string());
    let out = Command::new(repo().join("scripts/vm"))
        .args(command)
        .env("CTR_VM_TIMEOUT", timeout)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running scripts/vm {}: {e}", quote_all(command)));
    // What the tier costs, for `cargo test --test vm_stock -- --nocapture`.
    eprintln!(
        "vm: {:.0} s, boot included: {}",
        started.elapsed().as_secs_f64(),
        quote_all(command)
    );
    host.assert_unchanged();
    Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Builds test binary TEST with cargo, on the host, and returns its path.
/// The whole workspace's, as `just test` builds them, so that cargo finds
/// them built already (a build of the root package alone would unify
/// features differently and build the dependencies again).
fn build_test(test: &str) -> String {
    static BUILT: OnceLock<HashMap<String, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args([
                "test",
                "--workspace",
                "--no-run",
                "--quiet",
                "--message-format=json",
            ])
            .current_dir(repo())
            .stderr(Stdio::inherit())
            .output()
            .expect("running cargo test --no-run");
        assert!(
            out.status.success(),
            "cargo test --workspace --no-run failed"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            // Integration tests (tests/*.rs) only: the crates' unit tests
            // have names of their own (ctr, step-01-uts...).
            .filter(|msg| {
                msg["reason"] == "compiler-artifact" && msg["target"]["kind"][0] == "test"
            })
            .filter_map(|msg| {
                let name = msg["target"]["name"].as_str()?.to_string();
                Some((name, msg["executable"].as_str()?.to_string()))
            })
            .collect()
    });
    built
        .get(test)
        .unwrap_or_else(|| panic!("cargo built no test binary named {test}"))
        .clone()
}

/// Builds, on the host, what the tests inside take from target/ as made:
/// the workspace's binaries, the busybox rootfs and OCI layout, and the
/// fixture registry's storage. Each is made once; then this costs nothing.
fn prepare_fixtures() {
    super::binary("ctr");
    super::rootfs();
    super::ctr::layout();
    super::fixtures::fixtures();
}
