//! Lesson 2, from the outside, with the properties of the lessons before it.
mod support;

use support::checks::{self, Lesson};

fn lesson() -> Lesson {
    Lesson::get(2)
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
fn ps_still_shows_the_host() {
    checks::ps_still_shows_the_host(&lesson());
}
