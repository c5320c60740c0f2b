//! Lesson 1, from the outside.
mod support;

use support::checks::Lesson;

fn lesson() -> Lesson {
    Lesson::get(1)
}

recheck!(
    hostname_is_isolated,
    exit_status_is_the_containers,
    signals_reach_the_container,
    sigterm_without_a_handler,
    signals_start_as_default,
    command_is_pid_1,
    command_errors,
    refuses_non_root,
);
