//! The book's own checks, which mdBook does not make (it exits 0 on a missing
//! include and renders an unknown anchor as nothing): every include names a
//! file and anchor that exist, every Rust listing is included from code that
//! compiles, every link and picture leads somewhere, every page is listed.
//! Needs no root.
mod support;

use regex::Regex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn book_src() -> PathBuf {
    support::repo().join("book/src")
}

/// Every markdown page of the book, with its text.
fn pages() -> Vec<(PathBuf, String)> {
    let mut pages = Vec::new();
    let mut dirs = vec![book_src()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let text = std::fs::read_to_string(&path).unwrap();
                pages.push((path, text));
            }
        }
    }
    pages.sort();
    assert!(!pages.is_empty(), "no pages in {}", book_src().display());
    pages
}

fn shown(path: &Path) -> String {
    path.strip_prefix(support::repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The part of a page outside fenced code blocks (links there are not links).
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The anchor mdBook gives a heading: lower case, spaces to dashes, and only
/// letters, digits, `-` and `_` kept.
fn heading_id(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn heading_ids(text: &str) -> BTreeSet<String> {
    prose(text)
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| heading_id(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn includes_name_files_and_anchors_that_exist() {
    let include =
        Regex::new(r"\{\{#(?:include|rustdoc_include) ([^}:\s]+)(?::([^}\s]+))?\s*\}\}").unwrap();
    let mut problems = Vec::new();
    let mut count = 0;
    for (page, text) in pages() {
        for cap in include.captures_iter(&text) {
            count += 1;
            let target = page.parent().unwrap().join(&cap[1]);
            let Ok(source) = std::fs::read_to_string(&target) else {
                problems.push(format!("{}: no file {}", shown(&page), &cap[1]));
                continue;
            };
            let Some(anchor) = cap.get(2).map(|m| m.as_str()) else {
                continue;
            };
            // Line ranges (`:3`, `:3:9`, `:3:`) need no anchor.
            if anchor.chars().all(|c| c.is_ascii_digit() || c == ':') {
                continue;
            }
            let start = Regex::new(&format!(r"ANCHOR:\s*{}\b", regex::escape(anchor))).unwrap();
            let end = Regex::new(&format!(r"ANCHOR_END:\s*{}\b", regex::escape(anchor))).unwrap();
            if !start.is_match(&source) || !end.is_match(&source) {
                problems.push(format!(
                    "{}: {} has no ANCHOR/ANCHOR_END {anchor}",
                    shown(&page),
                    &cap[1]
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken includes:\n{}",
        problems.join("\n")
    );
    assert!(
        count > 0,
        "the book includes nothing: listings must come from the code"
    );
}

#[test]
fn rust_listings_are_included_from_the_code() {
    let mut problems = Vec::new();
    for (page, text) in pages() {
        let mut in_rust = false;
        for (n, line) in text.lines().enumerate() {
            let fence = line.trim_start();
            if let Some(info) = fence.strip_prefix("```") {
                in_rust = !in_rust && info.trim_start().starts_with("rust");
                continue;
            }
            let line = line.trim();
            if in_rust && !line.is_empty() && !line.starts_with("{{#") {
                problems.push(format!("{}:{}: {line}", shown(&page), n + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "Rust pasted into the book instead of included with {{{{#include file:anchor}}}}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn links_and_pictures_lead_somewhere() {
    let link = Regex::new(r#"\]\(([^)\s]+)\)|src="([^"]+)""#).unwrap();
    let all = pages();
    let mut problems = Vec::new();
    for (page, text) in &all {
        for cap in link.captures_iter(&prose(text)) {
            let target = cap.get(1).or(cap.get(2)).unwrap().as_str();
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target, None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !path.exists() {
                problems.push(format!("{}: {target}: no such file", shown(page)));
                continue;
            }
            if let (Some(fragment), true) = (fragment, path.extension().is_some_and(|e| e == "md"))
            {
                let text = std::fs::read_to_string(&path).unwrap();
                if !heading_ids(&text).contains(fragment) {
                    problems.push(format!("{}: {target}: no such heading", shown(page)));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_page_is_in_the_summary() {
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<PathBuf> = Regex::new(r"\]\(([^)]+\.md)\)")
        .unwrap()
        .captures_iter(&summary)
        .map(|c| book_src().join(&c[1]))
        .collect();
    let orphans: Vec<_> = pages()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !p.ends_with("SUMMARY.md") && !listed.contains(p))
        .map(|p| shown(&p))
        .collect();
    assert!(orphans.is_empty(), "pages not in SUMMARY.md: {orphans:?}");
}

/// The fenced blocks of a page: (line of the fence, info string, lines).
fn blocks(text: &str) -> Vec<(usize, String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, Vec<String>)> = None;
    for (n, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            match open.take() {
                Some(block) => blocks.push(block),
                None => open = Some((n + 1, info.trim().to_string(), Vec::new())),
            }
        } else if let Some((_, _, lines)) = open.as_mut() {
            lines.push(line.trim().to_string());
        }
    }
    blocks
}

/// Block languages that show a terminal or a shell: their text must come
/// from a test or be commands only.
const TERMINAL: &[&str] = &[
    "",
    "console",
    "sh",
    "bash",
    "shell",
    "text",
    "output",
    "terminal",
    "shell-session",
];

/// A console block is either a transcript that a test wrote
/// (`{{#include transcripts/NAME.txt}}`) or commands without their output
/// (every line after a prompt, `$ ` or `# `, or continuing one that ends in
/// `\`). Output typed by hand drifts from what the programs print; a test
/// notices when a transcript does. Blocks in other terminal-ish languages
/// (sh, bash, text...) may only include files (a script's listing).
#[test]
fn every_console_block_is_a_tested_transcript_or_commands_only() {
    let transcript = Regex::new(r"^\{\{#include transcripts/[^}\s]+\.txt\}\}$").unwrap();
    let include = Regex::new(r"^\{\{#include [^}]+\}\}$").unwrap();
    let mut problems = Vec::new();
    let mut count = 0;
    for (page, text) in pages() {
        for (line, info, body) in blocks(&text) {
            let language = info.split([',', ' ']).next().unwrap_or_default();
            if !TERMINAL.contains(&language) {
                continue;
            }
            count += 1;
            let mut continued = false;
            for got in &body {
                let ok = if language == "console" {
                    got.is_empty()
                        || continued
                        || transcript.is_match(got)
                        || got.starts_with("$ ")
                        || got.starts_with("# ")
                } else {
                    include.is_match(got)
                };
                if !ok {
                    problems.push(format!(
                        "{}:{line}: ```{info} block: {got:?} is neither a command nor a \
                         transcript written by a test",
                        shown(&page)
                    ));
                    break;
                }
                continued = got.ends_with('\\');
            }
        }
    }
    assert!(
        problems.is_empty(),
        "console blocks typed by hand (record them with a test into book/src/transcripts/, \
         see tests/support/transcript.rs, or keep only the commands, each after its prompt):\n{}",
        problems.join("\n")
    );
    assert!(count > 0, "no console block found: is the check looking?");
}

/// Every transcript the book includes was asserted by a test: it has its
/// insta snapshot; and every transcript and snapshot is used.
#[test]
fn transcripts_have_snapshots_and_are_included() {
    let names = |dir: &Path, ext: &str| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(ext).map(String::from))
            .collect()
    };
    let texts = names(&book_src().join("transcripts"), ".txt");
    let snapshots = names(
        &support::repo().join("tests/snapshots/transcripts"),
        ".snap",
    );
    let include = Regex::new(r"\{\{#include transcripts/([^}\s:]+)\.txt").unwrap();
    let included: BTreeSet<String> = pages()
        .iter()
        .flat_map(|(_, text)| {
            include
                .captures_iter(text)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<_> = texts.difference(&snapshots).collect();
    let orphans: Vec<_> = snapshots.difference(&texts).collect();
    let unused: Vec<_> = texts.difference(&included).collect();
    assert!(
        missing.is_empty(),
        "transcripts with no snapshot, so no test asserts them: {missing:?}"
    );
    assert!(
        orphans.is_empty(),
        "snapshots whose transcript is gone: {orphans:?}"
    );
    assert!(
        unused.is_empty(),
        "transcripts no page includes: {unused:?}"
    );
}

/// mdBook numbers chapters by their position in SUMMARY.md, so "chapter 10"
/// goes wrong as soon as a chapter is added before it. A chapter is named by
/// a link; a number, if any, only in a link's text, and then the one mdBook
/// gives the target.
#[test]
fn chapters_are_named_by_links_whose_numbers_are_right() {
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    let numbered = Regex::new(r"^- \[[^\]]*\]\(([^)]+\.md)\)").unwrap();
    let number: std::collections::BTreeMap<String, usize> = summary
        .lines()
        .filter_map(|l| numbered.captures(l).map(|c| c[1].to_string()))
        .enumerate()
        .map(|(i, file)| (file, i + 1))
        .collect();
    let link = Regex::new(r"\[([^\]]*)\]\(([^)#\s]*)[^)]*\)").unwrap();
    let mention = Regex::new(r"(?i)\bchapters?\s+(\d+)").unwrap();
    let code = Regex::new(r"`[^`]*`").unwrap();
    let mut problems = Vec::new();
    for (page, text) in pages() {
        let prose = code.replace_all(&prose(&text), "").into_owned();
        for cap in link.captures_iter(&prose) {
            for m in mention.captures_iter(&cap[1]) {
                let said: usize = m[1].parse().unwrap();
                let target = if cap[2].is_empty() {
                    page.file_name().unwrap().to_string_lossy().into_owned()
                } else {
                    cap[2].to_string()
                };
                if number.get(&target) != Some(&said) {
                    problems.push(format!(
                        "{}: [{}]({}): mdBook numbers {target} {:?}",
                        shown(&page),
                        &cap[1],
                        &cap[2],
                        number.get(&target)
                    ));
                }
            }
        }
        let outside = link.replace_all(&prose, "");
        for m in mention.find_iter(&outside) {
            problems.push(format!(
                "{}: {:?} names a chapter by number, not by a link",
                shown(&page),
                m.as_str()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "chapter references that break when chapters move:\n{}",
        problems.join("\n")
    );
}

/// Each lesson's chapter (NN-*.md with a steps/NN-* beside it) ends with
/// coding challenges; each chapter of the runtime has exercises; the book
/// has a glossary.
#[test]
fn lessons_have_challenges_and_runtime_chapters_exercises() {
    let lessons: BTreeSet<String> = std::fs::read_dir(support::repo().join("steps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy()[..2].to_string())
        .collect();
    let chapter = Regex::new(r"^(\d\d)-.*\.md$").unwrap();
    let mut problems = Vec::new();
    for (page, text) in pages() {
        let file = page.file_name().unwrap().to_string_lossy().into_owned();
        let Some(cap) = chapter.captures(&file) else {
            continue;
        };
        let headings = heading_ids(&text);
        let want = if lessons.contains(&cap[1]) {
            "challenges"
        } else {
            "exercises"
        };
        if !headings.contains(want) {
            problems.push(format!("{}: no \"## {want}\" section", shown(&page)));
        }
    }
    if !book_src().join("glossary.md").exists() {
        problems.push("book/src/glossary.md: no glossary".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn heading_ids_are_mdbooks() {
    assert_eq!(heading_id(" What can go wrong?"), "what-can-go-wrong");
    assert_eq!(heading_id("chroot(2) and `/proc`"), "chroot2-and-proc");
}
