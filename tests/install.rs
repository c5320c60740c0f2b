//! `just install`'s tree, staged with DESTDIR: the binaries, completions
//! that shells accept and that know every command, and a man page per
//! command. Needs no root.
mod support;

use std::process::Command;

#[test]
fn install_stages_binaries_completions_and_man_pages() {
    let bin_dir = support::ctr::ctr().parent().unwrap().to_path_buf();
    let dest = support::ctr::scratch("install");
    let out = Command::new("scripts/install")
        .env("DESTDIR", &dest)
        .env("PREFIX", "/usr")
        .env("CTR_BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dest.join("usr");
    for file in [
        "bin/ctr",
        "bin/ctr-runtime",
        "share/zsh/site-functions/_ctr",
        "share/fish/vendor_completions.d/ctr.fish",
    ] {
        assert!(root.join(file).is_file(), "{file} missing");
    }
    let bash = root.join("share/bash-completion/completions/ctr");
    let check = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let script = std::fs::read_to_string(&bash).unwrap();
    for command in [
        "run",
        "inspect",
        "start",
        "restart",
        "wait",
        "logs",
        "completion",
    ] {
        assert!(script.contains(command), "bash completion lacks {command}");
    }
    assert!(script.contains("--restart") && script.contains("--timestamps"));
    let man = root.join("share/man/man1");
    for page in ["ctr.1", "ctr-run.1", "ctr-inspect.1", "ctr-system-reset.1"] {
        let text =
            std::fs::read_to_string(man.join(page)).unwrap_or_else(|_| panic!("{page} missing"));
        assert!(
            text.starts_with(".ie \\n(.g .ds Aq") || text.contains(".TH"),
            "{page}: {text:.200}"
        );
    }
    let run = std::fs::read_to_string(man.join("ctr-run.1")).unwrap();
    assert!(
        run.contains("\\-\\-restart") && run.contains("on\\-failure"),
        "{run:.2000}"
    );
    assert!(
        !man.join("ctr-man.1").exists(),
        "the hidden command has no page"
    );
    std::fs::remove_dir_all(&dest).unwrap();
}
