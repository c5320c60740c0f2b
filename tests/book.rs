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

#[test]
fn heading_ids_are_mdbooks() {
    assert_eq!(heading_id(" What can go wrong?"), "what-can-go-wrong");
    assert_eq!(heading_id("chroot(2) and `/proc`"), "chroot2-and-proc");
}
