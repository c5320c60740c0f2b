//! `just tags` (scripts/tags), run in a clone of this repository: a tag per
//! lesson, each commit the child of the one before, each tree a crate that
//! builds alone and offline, with its chapter. The tags are made in the
//! clone (of HEAD: what is committed), so the repository's own tags and
//! branches are not touched. Needs no root.
mod support;

use std::path::Path;
use std::process::Command;

use regex::Regex;

/// Runs git in DIR and returns what it printed; fails the test if git fails.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {} in {}: {}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git printed UTF-8")
}

#[test]
fn every_lesson_gets_a_tag_whose_tree_builds_alone() {
    let repo = support::repo();
    let tags_before = git(repo, &["tag", "-l"]);
    let scratch = support::target_dir().join(format!("tags-test-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let clone = scratch.join("clone");
    git(
        &scratch,
        &[
            "clone",
            "--quiet",
            "--no-tags",
            &repo.display().to_string(),
            "clone",
        ],
    );

    let out = Command::new(clone.join("scripts/tags"))
        .current_dir(&clone)
        .output()
        .expect("running scripts/tags");
    assert!(
        out.status.success(),
        "scripts/tags: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One tag per directory of steps/, in order.
    let mut lessons: Vec<String> = std::fs::read_dir(clone.join("steps"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    lessons.sort();
    let tags: Vec<String> = lessons.iter().map(|l| format!("step-{l}")).collect();
    let listed = git(&clone, &["tag", "-l", "step-*"]);
    assert_eq!(listed.lines().collect::<Vec<_>>(), tags);

    let include = Regex::new(r"\{\{#include ([^}:\s]+)").unwrap();
    // Lessons share their dependencies' builds: one target directory for all.
    let target = support::target_dir().join("tags");
    let mut parent: Option<String> = None;
    for (lesson, tag) in lessons.iter().zip(&tags) {
        // Each the child of the one before.
        let commit = git(&clone, &["rev-parse", &format!("{tag}^{{commit}}")]);
        let commit = commit.trim().to_string();
        let parents = git(&clone, &["rev-list", "--parents", "-n", "1", &commit]);
        let parents: Vec<&str> = parents.split_whitespace().skip(1).collect();
        assert_eq!(
            parents,
            parent.iter().map(String::as_str).collect::<Vec<_>>(),
            "{tag}"
        );
        parent = Some(commit);

        // A crate of its own, and its chapter with what the chapter shows.
        let files = git(&clone, &["ls-tree", "-r", "--name-only", tag]);
        let files: Vec<&str> = files.lines().collect();
        let chapter = format!("book/{lesson}.md");
        for file in ["Cargo.toml", "Cargo.lock", "src/main.rs", &chapter] {
            assert!(files.contains(&file), "{tag} has no {file}: {files:?}");
        }
        let manifest = git(&clone, &["show", &format!("{tag}:Cargo.toml")]);
        assert!(!manifest.contains("workspace = true"), "{tag}: {manifest}");
        let text = git(&clone, &["show", &format!("{tag}:{chapter}")]);
        for cap in include.captures_iter(&text) {
            let path = Path::new("book").join(&cap[1]);
            let path = path
                .components()
                .fold(std::path::PathBuf::new(), |p, c| match c {
                    std::path::Component::ParentDir => p.parent().unwrap().to_path_buf(),
                    c => p.join(c),
                });
            let path = path.to_str().unwrap();
            assert!(
                files.contains(&path),
                "{tag}: {chapter} shows {path}, not in the tree"
            );
        }

        // It builds alone, offline, from the versions its Cargo.lock names.
        let dir = scratch.join(tag);
        std::fs::create_dir_all(&dir).unwrap();
        let archive = Command::new("git")
            .args(["archive", tag])
            .current_dir(&clone)
            .output()
            .unwrap();
        assert!(archive.status.success());
        let mut tar = Command::new("tar")
            .args(["-x", "-C"])
            .arg(&dir)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &archive.stdout).unwrap();
        assert!(tar.wait().unwrap().success());
        let built = Command::new(env!("CARGO"))
            .args(["build", "--offline", "--locked", "--quiet"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "cargo build in {tag}: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        assert!(target.join("debug").join(format!("step-{lesson}")).exists());
    }

    // A diff between two lessons is what the later one adds.
    let diff = git(&clone, &["diff", "--stat", &tags[0], &tags[1], "--", "src"]);
    assert!(diff.contains("src/main.rs"), "{diff}");

    // Run again, the same commits: the tags stay where they are.
    let before = git(&clone, &["show-ref", "--tags"]);
    let again = Command::new(clone.join("scripts/tags"))
        .current_dir(&clone)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(git(&clone, &["show-ref", "--tags"]), before);

    // The repository itself has the tags it had.
    assert_eq!(git(repo, &["tag", "-l"]), tags_before);
    std::fs::remove_dir_all(&scratch).unwrap();
}
