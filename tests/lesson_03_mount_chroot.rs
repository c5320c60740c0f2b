//! Lesson 3, from the outside, with the properties of the lessons before it.
mod support;

use support::checks::{self, Lesson};

fn lesson() -> Lesson {
    Lesson::get(3)
}

#[test]
fn hostname_is_isolated() {
    checks::hostname_is_isolated(&lesson());
}

#[test]
fn exit_status_is_the_containers() {
    checks::exit_status_is_the_containers(&lesson());
}

#[test]
fn signals_reach_the_container() {
    checks::signals_reach_the_container(&lesson());
}

#[test]
fn sigterm_without_a_handler() {
    checks::sigterm_without_a_handler(&lesson());
}

#[test]
fn signals_start_as_default() {
    checks::signals_start_as_default(&lesson());
}

#[test]
fn command_is_pid_1() {
    checks::command_is_pid_1(&lesson());
}

#[test]
fn command_errors() {
    checks::command_errors(&lesson());
}

#[test]
fn refuses_non_root() {
    checks::refuses_non_root(&lesson());
}

#[test]
fn proc_lists_only_the_container() {
    checks::proc_lists_only_the_container(&lesson());
}

#[test]
fn host_paths_are_invisible() {
    checks::host_paths_are_invisible(&lesson());
}

#[test]
fn host_mounts_are_unchanged() {
    checks::host_mounts_are_unchanged(&lesson());
}

#[test]
fn rootfs_errors() {
    checks::rootfs_errors(&lesson());
}
